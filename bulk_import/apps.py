from django.apps import AppConfig


class BulkImportConfig(AppConfig):
    name = "bulk_import"
    verbose_name = "Bulk hospital import"

    def ready(self) -> None:
        from prometheus_client import REGISTRY

        from bulk_import.directory_sync import DirectoryBreakerCollector

        if not any(isinstance(c, DirectoryBreakerCollector) for c in _collectors(REGISTRY)):
            REGISTRY.register(DirectoryBreakerCollector())


def _collectors(registry: object) -> list[object]:
    return list(getattr(registry, "_collector_to_names", {}))
