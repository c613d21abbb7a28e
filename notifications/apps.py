from django.apps import AppConfig


class NotificationsConfig(AppConfig):
    name = "notifications"
    verbose_name = "Notifications and webhooks"
    # Subscribers live in events.py, imported by core.outbox's autodiscovery.

    def ready(self) -> None:
        from core.metrics import register_scrape_collector
        from notifications.metrics import WEBHOOK_CIRCUIT_STATE

        # Through core.metrics so /metrics shows it under PROMETHEUS_MULTIPROC_DIR too.
        register_scrape_collector(WEBHOOK_CIRCUIT_STATE)
