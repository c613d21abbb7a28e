from django import template

register = template.Library()


@register.filter
def status_label(value: str) -> str:
    """``in_progress`` → ``In progress``."""
    return str(value).replace("_", " ").capitalize()
