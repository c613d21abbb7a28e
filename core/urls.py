from django.urls import path

from core.api import JobDetailApi, JobDownloadApi

urlpatterns = [
    path("jobs/<uuid:job_id>/", JobDetailApi.as_view(), name="job-detail"),
    path("jobs/<uuid:job_id>/download/", JobDownloadApi.as_view(), name="job-download"),
]
