from django.urls import path

from bulk_import import api

urlpatterns = [
    path("hospitals/bulk/", api.HospitalBulkImportApi.as_view(), name="hospital-bulk-import"),
]
