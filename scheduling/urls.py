from django.urls import path, register_converter

from scheduling import api
from scheduling.filters import MAX_ID


class IdConverter:
    """A positive bigint id; anything larger is no match (404), never a database error."""

    regex = "[0-9]{1,19}"

    def to_python(self, value: str) -> int:
        number = int(value)
        if not 1 <= number <= MAX_ID:
            raise ValueError(value)
        return number

    def to_url(self, value: int) -> str:
        return str(value)


register_converter(IdConverter, "pk64")

urlpatterns = [
    path("availability/", api.AvailabilityApi.as_view(), name="availability"),
    path(
        "availability/rules/",
        api.AvailabilityRuleCreateApi.as_view(),
        name="availability-rule-create",
    ),
    path(
        "availability/<pk64:slot_id>/", api.SlotWithdrawApi.as_view(), name="availability-withdraw"
    ),
    path("appointments/", api.AppointmentsApi.as_view(), name="appointments"),
    path(
        "appointments/<pk64:appointment_id>/",
        api.AppointmentDetailApi.as_view(),
        name="appointment-detail",
    ),
    path(
        "appointments/<pk64:appointment_id>/cancel/",
        api.AppointmentCancelApi.as_view(),
        name="appointment-cancel",
    ),
    path(
        "appointments/<pk64:appointment_id>/reschedule/",
        api.AppointmentRescheduleApi.as_view(),
        name="appointment-reschedule",
    ),
    path(
        "appointments/<pk64:appointment_id>/confirm/",
        api.AppointmentConfirmApi.as_view(),
        name="appointment-confirm",
    ),
    path("appointment-series/", api.AppointmentSeriesApi.as_view(), name="appointment-series"),
    path(
        "appointment-series/<pk64:series_id>/",
        api.AppointmentSeriesDetailApi.as_view(),
        name="appointment-series-detail",
    ),
    path(
        "appointment-series/<pk64:series_id>/cancel/",
        api.AppointmentSeriesCancelApi.as_view(),
        name="appointment-series-cancel",
    ),
    path(
        "tasks/appointments/<pk64:appointment_id>/",
        api.AppointmentTasksApi.as_view(),
        name="appointment-tasks",
    ),
    path(
        "patients/<pk64:patient_id>/appointments/",
        api.PatientAppointmentsApi.as_view(),
        name="patient-appointments",
    ),
    path(
        "clinicians/<pk64:clinician_id>/appointments/",
        api.ClinicianAppointmentsApi.as_view(),
        name="clinician-appointments",
    ),
]
