"""Input and output shapes of the scheduling API. No business rules here."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from operator import itemgetter
from typing import Any

from django.utils import timezone
from rest_framework import serializers

from accounts.models import Hospital, Role, User
from core.fields import (
    MAX_ID,
    IdField,
    StrictCharField,
    StrictChoiceField,
    StrictInput,
    StrictIntegerField,
)
from core.serialization import DatetimeWriter, api_datetime, api_datetime_writer
from scheduling.models import (
    MAX_CAPACITY,
    Appointment,
    AppointmentSeries,
    AvailabilityRule,
    Mode,
    Slot,
    seats_left_of,
)
from scheduling.selectors import APPOINTMENT_ROW_COLUMNS, SLOT_ROW_COLUMNS


class AwareDateTimeField(serializers.DateTimeField):
    """ISO 8601 with a UTC offset; a naive time is refused rather than guessed."""

    default_error_messages = {
        **serializers.DateTimeField.default_error_messages,
        "offset_required": "Include a UTC offset, e.g. 2026-03-30T09:00:00+01:00.",
    }

    def enforce_timezone(self, value: datetime) -> datetime:
        if timezone.is_naive(value):
            self.fail("offset_required")
        return super().enforce_timezone(value)


def _id_field(**kwargs: Any) -> serializers.IntegerField:
    # DRF's IntegerField, not core.fields.IdField: this API has always taken "5" for 5.
    return serializers.IntegerField(min_value=1, max_value=MAX_ID, **kwargs)


def _capacity_field() -> StrictIntegerField:
    # A JSON integer only: "8", 8.0 and true are 400s, not coerced to a number of seats.
    return StrictIntegerField(
        default=1,
        min_value=1,
        max_value=MAX_CAPACITY,
        help_text=f"Seats of each slot: 1 (default) for a one-to-one visit, up to "
        f"{MAX_CAPACITY} for a group session.",
    )


# --- availability ----------------------------------------------------------------------


class AvailabilityCreateInput(StrictInput):
    start = AwareDateTimeField()
    end = AwareDateTimeField()
    slot_minutes = serializers.IntegerField(
        required=False, allow_null=True, min_value=5, max_value=480
    )
    mode = serializers.ChoiceField(choices=Mode.choices, default=Mode.IN_PERSON)
    hospital = serializers.PrimaryKeyRelatedField(
        queryset=Hospital.objects.all(), required=False, allow_null=True
    )
    capacity = _capacity_field()


class RuleCreateInput(StrictInput):
    weekday = serializers.IntegerField(min_value=0, max_value=6, help_text="0 = Monday.")
    start_time = serializers.TimeField(help_text="Local wall-clock time.")
    end_time = serializers.TimeField()
    time_zone = serializers.CharField(
        required=False, max_length=64, help_text="IANA name; defaults to the clinician's."
    )
    slot_minutes = serializers.IntegerField(default=30, min_value=5, max_value=480)
    buffer_minutes = serializers.IntegerField(default=0, min_value=0, max_value=240)
    valid_from = serializers.DateField()
    valid_until = serializers.DateField(required=False, allow_null=True)
    mode = serializers.ChoiceField(choices=Mode.choices, default=Mode.IN_PERSON)
    hospital = serializers.PrimaryKeyRelatedField(
        queryset=Hospital.objects.all(), required=False, allow_null=True
    )
    capacity = _capacity_field()


# The output serializers of the list endpoints declare their fields for the OpenAPI
# schema and build their dict by hand: DRF's generic field-by-field rendering cost more
# than the query on the hot list paths. tests/scheduling/test_serializers.py holds each
# hand-built dict equal to DRF's generic rendering of the same declaration.


class SlotOutput(serializers.ModelSerializer[Slot]):
    seats_left = serializers.IntegerField(
        read_only=True,
        min_value=0,
        help_text="Seats not yet taken: `status` is `open` while one is left.",
    )

    class Meta:
        model = Slot
        fields = [
            "id", "clinician", "start", "end", "mode", "hospital", "status", "rule",
            "capacity", "seats_left",
        ]  # fmt: skip
        read_only_fields = fields

    def to_representation(self, instance: Slot) -> dict[str, Any]:
        zone = timezone.get_current_timezone()
        return {
            "id": instance.pk,
            "clinician": instance.clinician_id,
            "start": api_datetime(instance.start, zone),
            "end": api_datetime(instance.end, zone),
            "mode": instance.mode,
            "hospital": instance.hospital_id,
            "status": instance.status,
            "rule": instance.rule_id,
            "capacity": instance.capacity,
            "seats_left": instance.seats_left,
        }


def slot_rows_output(rows: Iterable[Sequence[Any]]) -> list[dict[str, Any]]:
    """SlotOutput's dicts from row tuples of ``selectors.SLOT_ROW_COLUMNS``."""
    when = api_datetime_writer()
    now = timezone.now()  # once per page: whether a hold is live
    return [
        {
            "id": pk,
            "clinician": clinician,
            "start": when(start),
            "end": when(end),
            "mode": mode,
            "hospital": hospital,
            "status": status,
            "rule": rule,
            "capacity": capacity,
            "seats_left": seats_left_of(capacity, seats_taken, held_until, now),
        }
        for (
            pk, clinician, start, end, mode, hospital, status, rule, capacity, seats_taken,
            held_until,
        ) in map(_slot_row, rows)
    ]  # fmt: skip


class AvailabilityCreateOutput(serializers.Serializer):
    slots = SlotOutput(many=True)


class RuleOutput(serializers.ModelSerializer[AvailabilityRule]):
    class Meta:
        model = AvailabilityRule
        fields = [
            "id",
            "clinician",
            "weekday",
            "start_time",
            "end_time",
            "time_zone",
            "slot_minutes",
            "buffer_minutes",
            "valid_from",
            "valid_until",
            "mode",
            "hospital",
            "capacity",
            "is_active",
        ]
        read_only_fields = fields


class RuleConflictOutput(serializers.Serializer):
    start = serializers.DateTimeField()
    end = serializers.DateTimeField()
    conflicting_slot = serializers.IntegerField(allow_null=True)


class RuleCreateOutput(serializers.Serializer):
    rule = RuleOutput()
    created = SlotOutput(many=True)
    already_present = serializers.IntegerField()
    conflicts = RuleConflictOutput(many=True)
    skipped_nonexistent = serializers.ListField(
        child=serializers.CharField(),
        help_text="Local times that do not exist on that day (clocks spring forward).",
    )


# --- appointments ----------------------------------------------------------------------


class AppointmentBookInput(StrictInput):
    slot = _id_field()
    reason = serializers.CharField(required=False, allow_blank=True, max_length=2000, default="")
    patient = _id_field(
        required=False,
        help_text="Staff only (the front desk): the patient to book for. Others may send "
        "only their own id (or leave it out).",
    )


class AppointmentCancelInput(StrictInput):
    reason = serializers.CharField(required=False, allow_blank=True, max_length=2000, default="")


class AppointmentRescheduleInput(StrictInput):
    slot = _id_field()


class AppointmentUpdateInput(StrictInput):
    reason = serializers.CharField(required=False, allow_blank=True, max_length=2000)
    notes = serializers.CharField(required=False, allow_blank=True, max_length=5000)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        attrs = super().validate(attrs)
        if not attrs:
            raise serializers.ValidationError("Send reason and/or notes.")
        return attrs


class PersonOutput(serializers.ModelSerializer[User]):
    name = serializers.CharField(source="full_name")

    class Meta:
        model = User
        fields = ["id", "name", "role"]
        read_only_fields = fields

    def to_representation(self, instance: User) -> dict[str, Any]:
        return person_dict(instance)


def person_dict(user: User) -> dict[str, Any]:
    return {"id": user.pk, "name": user.full_name, "role": user.role}


class AppointmentOutput(serializers.ModelSerializer[Appointment]):
    patient = PersonOutput()
    clinician = PersonOutput()
    mode = serializers.CharField(source="slot.mode")
    hospital = serializers.IntegerField(source="slot.hospital_id", allow_null=True)

    class Meta:
        model = Appointment
        fields = [
            "id",
            "slot",
            "previous_slot",
            "series",
            "patient",
            "clinician",
            "start",
            "end",
            "mode",
            "hospital",
            "status",
            "reason",
            "notes",
            "confirmed_at",
            "cancelled_at",
            "cancelled_by",
            "cancellation_reason",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields

    def to_representation(self, instance: Appointment) -> dict[str, Any]:
        """Clinicians' notes are for clinicians and staff: a patient never sees them."""
        data = self.all_fields(instance)
        viewer = self.context.get("viewer") or getattr(self.context.get("request"), "user", None)
        if getattr(viewer, "role", Role.PATIENT) == Role.PATIENT:
            data.pop("notes", None)
        return data

    @staticmethod
    def all_fields(instance: Appointment) -> dict[str, Any]:
        zone = timezone.get_current_timezone()
        return {
            "id": instance.pk,
            "slot": instance.slot_id,
            "previous_slot": instance.previous_slot_id,
            "series": instance.series_id,
            "patient": person_dict(instance.patient),
            "clinician": person_dict(instance.clinician),
            "start": api_datetime(instance.start, zone),
            "end": api_datetime(instance.end, zone),
            "mode": instance.slot.mode,
            "hospital": instance.slot.hospital_id,
            "status": instance.status,
            "reason": instance.reason,
            "notes": instance.notes,
            "confirmed_at": api_datetime(instance.confirmed_at, zone),
            "cancelled_at": api_datetime(instance.cancelled_at, zone),
            "cancelled_by": instance.cancelled_by_id,
            "cancellation_reason": instance.cancellation_reason,
            "created_at": api_datetime(instance.created_at, zone),
            "updated_at": api_datetime(instance.updated_at, zone),
        }


# --- recurring series -------------------------------------------------------------------


class SeriesBookInput(StrictInput):
    slot = IdField(help_text="The first occurrence's slot.")
    interval = StrictIntegerField(
        default=1, min_value=1, max_value=4, help_text="Weeks between occurrences (1-4)."
    )
    count = StrictIntegerField(min_value=2, max_value=26, help_text="Occurrences (2-26).")
    reason = StrictCharField(required=False, allow_blank=True, max_length=2000, default="")
    on_conflict = StrictChoiceField(
        choices=AppointmentSeries.OnConflict.choices,
        default=AppointmentSeries.OnConflict.FAIL,
        help_text="fail: one unbookable occurrence books nothing (409 `series_conflict`); "
        "skip: the others are booked and the unbookable ones listed in `skipped`.",
    )
    patient = IdField(
        required=False,
        help_text="Staff only (the front desk): the patient to book the series for. Others "
        "may send only their own id (or leave it out).",
    )


class SeriesCancelInput(StrictInput):
    reason = StrictCharField(required=False, allow_blank=True, max_length=2000, default="")


# ``from`` is a Python keyword: declared here so the body's key is exactly ``from``.
SeriesCancelInput._declared_fields["from"] = IdField(
    required=False,
    allow_null=True,
    help_text="Cancel this occurrence (an appointment of the series) and every later one; "
    "absent: all of them.",
)


class SeriesConflictOutput(serializers.Serializer):
    index = serializers.IntegerField(help_text="0-based position in the series.")
    start = serializers.DateTimeField()
    code = serializers.CharField(
        help_text="no_slot, slot_unavailable, slot_full, patient_overlap, "
        "booking_notice_too_short, booking_beyond_horizon."
    )


class SeriesOutput(serializers.ModelSerializer[AppointmentSeries]):
    patient = PersonOutput()
    clinician = PersonOutput()
    interval = serializers.IntegerField(source="interval_weeks")
    # A plain string in the schema: an enum here would collide with the other "status"
    # enums' component name.
    status = serializers.CharField(help_text="active, or cancelled once none is active.")
    appointments = AppointmentOutput(many=True)
    skipped = SeriesConflictOutput(many=True)

    class Meta:
        model = AppointmentSeries
        fields = [
            "id",
            "patient",
            "clinician",
            "interval",
            "count",
            "time_zone",
            "first_start",
            "reason",
            "on_conflict",
            "status",
            "appointments",
            "skipped",
            "created_by",
            "created_at",
            "cancelled_at",
            "cancelled_by",
        ]
        read_only_fields = fields

    def to_representation(self, instance: AppointmentSeries) -> dict[str, Any]:
        zone = timezone.get_current_timezone()
        appointments = AppointmentOutput(context=self.context)
        return {
            "id": instance.pk,
            "patient": person_dict(instance.patient),
            "clinician": person_dict(instance.clinician),
            "interval": instance.interval_weeks,
            "count": instance.count,
            "time_zone": instance.time_zone,
            "first_start": api_datetime(instance.first_start, zone),
            "reason": instance.reason,
            "on_conflict": instance.on_conflict,
            "status": instance.status,
            "appointments": [
                appointments.to_representation(appointment)
                for appointment in instance.appointments.all()
            ],
            "skipped": instance.skipped,
            "created_by": instance.created_by_id,
            "created_at": api_datetime(instance.created_at, zone),
            "cancelled_at": api_datetime(instance.cancelled_at, zone),
            "cancelled_by": instance.cancelled_by_id,
        }


def appointment_rows_output(rows: Iterable[Sequence[Any]], *, viewer: User) -> list[dict[str, Any]]:
    """AppointmentOutput's dicts from row tuples of ``selectors.APPOINTMENT_ROW_COLUMNS``:
    a list page without a model instance per row (each row named its slot and two people)."""
    when = api_datetime_writer()
    hide_notes = viewer.role == Role.PATIENT
    return [_row_output(row, when, hide_notes=hide_notes) for row in rows]


def _picker(columns: Sequence[str], names: Sequence[str]) -> Callable[[Sequence[Any]], Any]:
    """The values of ``names``, in that order, from a row tuple of ``columns``."""
    return itemgetter(*(columns.index(name) for name in names))


_appointment_row = _picker(
    APPOINTMENT_ROW_COLUMNS,
    (
        "id", "slot_id", "previous_slot_id", "series_id",
        "patient_id", "patient__first_name", "patient__last_name", "patient__role",
        "clinician_id", "clinician__first_name", "clinician__last_name", "clinician__role",
        "start", "end", "slot__mode", "slot__hospital_id", "status", "reason", "notes",
        "confirmed_at", "cancelled_at", "cancelled_by_id", "cancellation_reason",
        "created_at", "updated_at",
    ),
)  # fmt: skip


def _row_output(row: Sequence[Any], when: DatetimeWriter, *, hide_notes: bool) -> dict[str, Any]:
    (
        pk, slot, previous_slot, series,
        patient, patient_first, patient_last, patient_role,
        clinician, clinician_first, clinician_last, clinician_role,
        start, end, mode, hospital, status, reason, notes,
        confirmed_at, cancelled_at, cancelled_by, cancellation_reason, created_at, updated_at,
    ) = _appointment_row(row)  # fmt: skip
    data = {
        "id": pk,
        "slot": slot,
        "previous_slot": previous_slot,
        "series": series,
        "patient": _person(patient, patient_first, patient_last, patient_role),
        "clinician": _person(clinician, clinician_first, clinician_last, clinician_role),
        "start": when(start),
        "end": when(end),
        "mode": mode,
        "hospital": hospital,
        "status": status,
        "reason": reason,
        "notes": notes,
        "confirmed_at": when(confirmed_at),
        "cancelled_at": when(cancelled_at),
        "cancelled_by": cancelled_by,
        "cancellation_reason": cancellation_reason,
        "created_at": when(created_at),
        "updated_at": when(updated_at),
    }
    if hide_notes:
        del data["notes"]  # as AppointmentOutput: a patient never sees clinicians' notes
    return data


def _person(pk: int, first_name: str, last_name: str, role: str) -> dict[str, Any]:
    return {"id": pk, "name": f"{first_name} {last_name}".strip(), "role": role}


_slot_row = _picker(
    SLOT_ROW_COLUMNS,
    (
        "id", "clinician_id", "start", "end", "mode", "hospital_id", "status", "rule_id",
        "capacity", "seats_taken", "held_until",
    ),
)  # fmt: skip
