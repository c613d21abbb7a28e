from django.apps import AppConfig
from django.db.models.signals import post_migrate


class DashboardConfig(AppConfig):
    name = "dashboard"
    verbose_name = "Clinician dashboard"

    def ready(self) -> None:
        from accounts.staff_group import staff_group_sync

        # After auth has created the permissions of every app (dashboard comes later in
        # INSTALLED_APPS, so its receiver runs after auth's).
        post_migrate.connect(staff_group_sync, dispatch_uid="dashboard.staff_group_sync")
