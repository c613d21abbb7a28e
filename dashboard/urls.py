from django.urls import path

from dashboard import views

app_name = "dashboard"

urlpatterns = [
    path("", views.agenda, name="agenda"),
    path("login/", views.login_view, name="login"),
    path("logout/", views.logout_view, name="logout"),
    path(
        "appointments/<int:appointment_id>/consultation/",
        views.appointment_consultation,
        name="appointment-consultation",
    ),
    path(
        "appointments/<int:appointment_id>/<slug:action>/",
        views.agenda_action,
        name="agenda-action",
    ),
    path("week/", views.week, name="week"),
    path("availability/", views.availability, name="availability"),
    path("availability/rules/", views.rule_add, name="rule-add"),
    path("availability/slots/", views.slot_add, name="slot-add"),
    path("availability/slots/<int:slot_id>/withdraw/", views.slot_remove, name="slot-withdraw"),
    path("clients/", views.clients, name="clients"),
    path("clients/<int:patient_id>/", views.client_detail, name="client"),
    path("consultations/<int:consultation_id>/", views.consultation, name="consultation"),
    path(
        "consultations/<int:consultation_id>/notes/",
        views.consultation_notes,
        name="consultation-notes",
    ),
    path(
        "consultations/<int:consultation_id>/addenda/",
        views.consultation_addendum,
        name="consultation-addendum",
    ),
    path(
        "consultations/<int:consultation_id>/prescriptions/",
        views.consultation_prescribe,
        name="consultation-prescribe",
    ),
    path(
        "consultations/<int:consultation_id>/<slug:action>/",
        views.consultation_move,
        name="consultation-move",
    ),
    path("reports/", views.reports, name="reports"),
    path("reports/<uuid:job_id>/", views.report, name="report"),
    path("reports/<uuid:job_id>/download/", views.report_download, name="report-download"),
]
