from django.apps import AppConfig


class BulkImportConfig(AppConfig):
    name = "bulk_import"
    verbose_name = "Bulk hospital import"

    def ready(self) -> None:
        from bulk_import.metrics import DIRECTORY_CIRCUIT_STATE
        from core.metrics import register_scrape_collector

        # Through core.metrics so /metrics shows it under PROMETHEUS_MULTIPROC_DIR too.
        register_scrape_collector(DIRECTORY_CIRCUIT_STATE)
