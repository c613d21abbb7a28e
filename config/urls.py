from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView

from core.health import healthz, readyz
from core.metrics import metrics_view

api_v1 = [
    path("", include("accounts.urls")),
    path("", include("scheduling.urls")),
    path("", include("consultations.urls")),
    path("", include("labs.urls")),
    path("", include("core.urls")),
    path("", include("audit.urls")),
    path("", include("bulk_import.urls")),
    path("", include("reports.urls")),
    path("", include("notifications.urls")),
    path("", include("waitlist.urls")),
    path("", include("calendars.urls")),
]

urlpatterns = [
    path("admin/", admin.site.urls),
    path("healthz", healthz, name="healthz"),
    path("readyz", readyz, name="readyz"),
    path("metrics", metrics_view, name="metrics"),
    path("api/v1/", include(api_v1)),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    # The split view serves its script as a file: the CSP allows no inline script.
    path("api/docs/", SpectacularSwaggerSplitView.as_view(url_name="schema"), name="swagger-ui"),
    path("fhir/R4/", include("fhir.urls")),
    path("calendar/", include("calendars.feed_urls")),
    path("dashboard/", include("dashboard.urls")),
    path("account/", include("accounts.web_urls")),  # the password reset link's page
]

handler400 = "core.errors.handler400"
handler403 = "core.errors.handler403"
handler404 = "core.errors.handler404"
handler500 = "core.errors.handler500"
