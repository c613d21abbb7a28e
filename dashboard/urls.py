from django.urls import path

from dashboard.views import agenda, auth, availability, clients, consultation, reports, week

app_name = "dashboard"

urlpatterns = [
    path("", agenda.agenda, name="agenda"),
    path("login/", auth.login_view, name="login"),
    path("logout/", auth.logout_view, name="logout"),
    path(
        "appointments/<int:appointment_id>/consultation/",
        consultation.appointment_consultation,
        name="appointment-consultation",
    ),
    path(
        "appointments/<int:appointment_id>/<slug:action>/",
        agenda.agenda_action,
        name="agenda-action",
    ),
    path("week/", week.week, name="week"),
    path("availability/", availability.availability, name="availability"),
    path("availability/rules/", availability.rule_add, name="rule-add"),
    path("availability/slots/", availability.slot_add, name="slot-add"),
    path(
        "availability/slots/<int:slot_id>/withdraw/",
        availability.slot_remove,
        name="slot-withdraw",
    ),
    path("clients/", clients.clients, name="clients"),
    path("clients/<int:patient_id>/", clients.client_detail, name="client"),
    path(
        "consultations/<int:consultation_id>/",
        consultation.consultation,
        name="consultation",
    ),
    path(
        "consultations/<int:consultation_id>/notes/",
        consultation.consultation_notes,
        name="consultation-notes",
    ),
    path(
        "consultations/<int:consultation_id>/addenda/",
        consultation.consultation_addendum,
        name="consultation-addendum",
    ),
    path(
        "consultations/<int:consultation_id>/prescriptions/",
        consultation.consultation_prescribe,
        name="consultation-prescribe",
    ),
    path(
        "consultations/<int:consultation_id>/<slug:action>/",
        consultation.consultation_move,
        name="consultation-move",
    ),
    path("reports/", reports.reports, name="reports"),
    path("reports/<uuid:job_id>/", reports.report, name="report"),
    path("reports/<uuid:job_id>/download/", reports.report_download, name="report-download"),
]
