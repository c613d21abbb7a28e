from django.urls import include, path

from dashboard.views import (
    agenda,
    auth,
    availability,
    calendar,
    clients,
    consultation,
    reports,
    week,
)

app_name = "dashboard"

appointment_urls = [
    path("consultation/", consultation.appointment_consultation, name="appointment-consultation"),
    path("<slug:action>/", agenda.agenda_action, name="agenda-action"),
]

availability_urls = [
    path("", availability.availability, name="availability"),
    path("rules/", availability.rule_add, name="rule-add"),
    path("slots/", availability.slot_add, name="slot-add"),
    path("slots/<int:slot_id>/withdraw/", availability.slot_remove, name="slot-withdraw"),
]

consultation_urls = [
    path("", consultation.consultation, name="consultation"),
    path("notes/", consultation.consultation_notes, name="consultation-notes"),
    path("addenda/", consultation.consultation_addendum, name="consultation-addendum"),
    path("prescriptions/", consultation.consultation_prescribe, name="consultation-prescribe"),
    path("<slug:action>/", consultation.consultation_move, name="consultation-move"),
]

report_urls = [
    path("", reports.reports, name="reports"),
    path("<uuid:job_id>/", reports.report, name="report"),
    path("<uuid:job_id>/download/", reports.report_download, name="report-download"),
]

calendar_urls = [
    path("", calendar.calendar_feed, name="calendar"),
    path("new-url/", calendar.calendar_feed_new_url, name="calendar-new-url"),
    path("details/", calendar.calendar_feed_details, name="calendar-details"),
    path("revoke/", calendar.calendar_feed_revoke_url, name="calendar-revoke"),
]

urlpatterns = [
    path("", agenda.agenda, name="agenda"),
    path("login/", auth.login_view, name="login"),
    path("logout/", auth.logout_view, name="logout"),
    path("appointments/<int:appointment_id>/", include(appointment_urls)),
    path("week/", week.week, name="week"),
    path("availability/", include(availability_urls)),
    path("clients/", clients.clients, name="clients"),
    path("clients/<int:patient_id>/", clients.client_detail, name="client"),
    path("consultations/<int:consultation_id>/", include(consultation_urls)),
    path("reports/", include(report_urls)),
    path("calendar/", include(calendar_urls)),
]
