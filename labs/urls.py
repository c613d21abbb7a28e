from django.urls import path

from labs import api

urlpatterns = [
    path("lab-results/", api.LabResultListCreateApi.as_view(), name="lab-result-list"),
    path(
        "lab-results/<int:lab_result_id>/",
        api.LabResultDetailApi.as_view(),
        name="lab-result-detail",
    ),
]
