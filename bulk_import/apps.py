from django.apps import AppConfig


class BulkImportConfig(AppConfig):
    name = "bulk_import"
    verbose_name = "Bulk hospital import"

    def ready(self) -> None:
        from bulk_import.directory_client import DirectoryBreakerCollector
        from core.metrics import register_scrape_collector, scrape_collectors

        # Through core.metrics so /metrics shows it under PROMETHEUS_MULTIPROC_DIR too.
        if not any(isinstance(c, DirectoryBreakerCollector) for c in scrape_collectors()):
            register_scrape_collector(DirectoryBreakerCollector())
