from django.apps import AppConfig


class BulkImportConfig(AppConfig):
    name = "bulk_import"
    verbose_name = "Bulk hospital import"
