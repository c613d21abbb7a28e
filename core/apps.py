from django.apps import AppConfig
from django.contrib.admin import apps as admin_apps


class CoreConfig(AppConfig):
    default = True  # this module holds two configs: "core" is this one
    name = "core"
    verbose_name = "Core mechanisms"


# Referenced through its module: a class imported here would count as a second default.
class CarebookAdminConfig(admin_apps.AdminConfig):
    """Django's admin app with the project's site as ``admin.site`` (INSTALLED_APPS)."""

    default = False
    default_site = "core.admin_tools.CarebookAdminSite"
