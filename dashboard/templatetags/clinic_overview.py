from typing import Any

from django import template

from dashboard.admin_overview import ClinicOverview, clinic_overview

register = template.Library()


@register.simple_tag(takes_context=True)
def clinic_overview_for(context: Any) -> ClinicOverview | None:
    """The admin index's overview for the signed-in staff member (None for anyone else)."""
    request = context.get("request")
    user = getattr(request, "user", None)
    if user is None or not user.is_authenticated or not user.is_staff:
        return None
    return clinic_overview(user=user)
