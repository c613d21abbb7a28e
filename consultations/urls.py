from django.urls import path

from consultations import api

urlpatterns = [
    path("consultations/", api.ConsultationListApi.as_view(), name="consultation-list"),
    path(
        "consultations/<int:consultation_id>/",
        api.ConsultationDetailApi.as_view(),
        name="consultation-detail",
    ),
    path(
        "consultations/<int:consultation_id>/status/",
        api.ConsultationStatusApi.as_view(),
        name="consultation-status",
    ),
    path(
        "consultations/<int:consultation_id>/addenda/",
        api.ConsultationAddendumCreateApi.as_view(),
        name="consultation-addenda",
    ),
    path("prescriptions/", api.PrescriptionListCreateApi.as_view(), name="prescription-list"),
    path(
        "prescriptions/<int:prescription_id>/",
        api.PrescriptionDetailApi.as_view(),
        name="prescription-detail",
    ),
    path(
        "prescriptions/<int:prescription_id>/cancel/",
        api.PrescriptionCancelApi.as_view(),
        name="prescription-cancel",
    ),
    path(
        "prescriptions/<int:prescription_id>/pdf/",
        api.PrescriptionPdfApi.as_view(),
        name="prescription-pdf",
    ),
]
