from django.urls import path

from scheduling import api

urlpatterns = [
    path("availability/", api.AvailabilityApi.as_view(), name="availability"),
    path(
        "availability/rules/",
        api.AvailabilityRuleCreateApi.as_view(),
        name="availability-rule-create",
    ),
    path(
        "availability/<int:slot_id>/", api.SlotWithdrawApi.as_view(), name="availability-withdraw"
    ),
    path("appointments/", api.AppointmentsApi.as_view(), name="appointments"),
    path(
        "appointments/<int:appointment_id>/",
        api.AppointmentDetailApi.as_view(),
        name="appointment-detail",
    ),
    path(
        "appointments/<int:appointment_id>/cancel/",
        api.AppointmentCancelApi.as_view(),
        name="appointment-cancel",
    ),
    path(
        "appointments/<int:appointment_id>/reschedule/",
        api.AppointmentRescheduleApi.as_view(),
        name="appointment-reschedule",
    ),
    path(
        "appointments/<int:appointment_id>/confirm/",
        api.AppointmentConfirmApi.as_view(),
        name="appointment-confirm",
    ),
    path(
        "tasks/appointments/<int:appointment_id>/",
        api.AppointmentTasksApi.as_view(),
        name="appointment-tasks",
    ),
    path(
        "patients/<int:patient_id>/appointments/",
        api.PatientAppointmentsApi.as_view(),
        name="patient-appointments",
    ),
    path(
        "clinicians/<int:clinician_id>/appointments/",
        api.ClinicianAppointmentsApi.as_view(),
        name="clinician-appointments",
    ),
]
