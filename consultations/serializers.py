"""Input and output shapes of the consultation and prescription API."""

from __future__ import annotations

from typing import Any

from django.utils import timezone
from rest_framework import serializers

from consultations.lifecycle import Status, consultation_transitions_allowed
from consultations.models import Consultation, ConsultationAddendum, Prescription
from consultations.selectors import addenda_visible, notes_visible
from core.fields import (
    IdField,
    StrictBooleanField,
    StrictCharField,
    StrictChoiceField,
    StrictIntegerField,
)


class PersonSerializer(serializers.Serializer[Any]):
    id = serializers.IntegerField()
    name = serializers.SerializerMethodField()

    def get_name(self, user: Any) -> str:
        return str(user.full_name or user.email)


class AddendumOutputSerializer(serializers.ModelSerializer[ConsultationAddendum]):
    class Meta:
        model = ConsultationAddendum
        fields = ["id", "author", "text", "shared_with_patient", "created_at"]


class ConsultationOutputSerializer(serializers.Serializer[Consultation]):
    id = serializers.IntegerField()
    appointment = serializers.IntegerField(source="appointment_id")
    patient = PersonSerializer(source="appointment.patient")
    clinician = PersonSerializer(source="appointment.clinician")
    start = serializers.DateTimeField(source="appointment.start")
    end = serializers.DateTimeField(source="appointment.end")
    status = serializers.CharField()
    allowed_transitions = serializers.SerializerMethodField()
    notes = serializers.SerializerMethodField(
        help_text="Null when you may not read the notes (not the clinician, not shared)."
    )
    notes_shared_with_patient = serializers.BooleanField()
    addenda = serializers.SerializerMethodField()
    started_at = serializers.DateTimeField(allow_null=True)
    completed_at = serializers.DateTimeField(allow_null=True)
    updated_at = serializers.DateTimeField()

    def _user(self) -> Any:
        return self.context["user"]

    def get_allowed_transitions(self, consultation: Consultation) -> list[str]:
        return consultation_transitions_allowed(
            consultation, actor=self._user(), now=timezone.now()
        )

    def get_notes(self, consultation: Consultation) -> str | None:
        return consultation.notes if notes_visible(consultation, self._user()) else None

    def get_addenda(self, consultation: Consultation) -> list[dict[str, Any]]:
        visible = addenda_visible(consultation, self._user())
        return list(AddendumOutputSerializer(visible, many=True).data)


class ConsultationListQuerySerializer(serializers.Serializer[Any]):
    status = serializers.ChoiceField(choices=Status.ALL, required=False)
    patient = serializers.IntegerField(required=False, min_value=1)


class ConsultationNotesInputSerializer(serializers.Serializer[Any]):
    notes = StrictCharField(
        required=False, allow_blank=True, max_length=20000, trim_whitespace=False
    )
    notes_shared_with_patient = StrictBooleanField(required=False)


class ConsultationStatusInputSerializer(serializers.Serializer[Any]):
    status = StrictChoiceField(choices=Status.ALL)
    reason = StrictCharField(required=False, allow_blank=True, max_length=2000)


class AddendumInputSerializer(serializers.Serializer[Any]):
    text = StrictCharField(max_length=20000)
    shared_with_patient = StrictBooleanField(required=False, default=False)


class PrescriptionInputSerializer(serializers.Serializer[Any]):
    consultation = IdField()
    medication = StrictCharField(max_length=200)
    dose = StrictCharField(max_length=100)
    route = StrictChoiceField(choices=Prescription.Route.choices)
    frequency = StrictCharField(max_length=100)
    duration = StrictCharField(max_length=100)
    quantity = StrictIntegerField(min_value=1, max_value=10000)
    refills = StrictIntegerField(min_value=0, max_value=12, required=False, default=0)
    instructions = StrictCharField(required=False, allow_blank=True, max_length=2000, default="")


class PrescriptionCancelInputSerializer(serializers.Serializer[Any]):
    reason = StrictCharField(max_length=2000)


class PrescriptionListQuerySerializer(serializers.Serializer[Any]):
    patient = serializers.IntegerField(required=False, min_value=1)
    status = serializers.ChoiceField(choices=Prescription.Status.choices, required=False)


class PrescriptionOutputSerializer(serializers.ModelSerializer[Prescription]):
    patient = PersonSerializer(source="consultation.appointment.patient")
    prescriber = PersonSerializer()

    class Meta:
        model = Prescription
        fields = [
            "id",
            "consultation",
            "patient",
            "prescriber",
            *Prescription.WRITTEN_FIELDS,
            "status",
            "issued_at",
            "cancelled_at",
            "cancelled_by",
            "cancellation_reason",
        ]
