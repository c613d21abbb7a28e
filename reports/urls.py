from django.urls import path

from reports import api

urlpatterns = [
    path("reports/", api.ReportRequestApi.as_view(), name="report-request"),
]
