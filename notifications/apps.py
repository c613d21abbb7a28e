from django.apps import AppConfig


class NotificationsConfig(AppConfig):
    name = "notifications"
    verbose_name = "Notifications and webhooks"
    # Subscribers live in events.py, imported by core.outbox's autodiscovery.
