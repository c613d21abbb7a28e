"""Scheduling's inputs (core.fields.StrictInput): unknown keys are refused once the known
fields are valid, so a mistyped key that leaves a required field missing is reported as
the missing field. These answers predate the shared helpers and must not change."""

from __future__ import annotations

import uuid

import pytest

from scheduling import services
from scheduling.models import Appointment

pytestmark = pytest.mark.django_db

BOOK = "/api/v1/appointments/"


def _book(client, body: dict) -> dict:
    response = client.post(BOOK, body, format="json", HTTP_IDEMPOTENCY_KEY=str(uuid.uuid4()))
    assert response.status_code == 400
    return response.json()["error"]


def test_an_unknown_key_beside_valid_fields_is_named(client_for, doctor, patient, slot_at):
    slot = slot_at(doctor, 48)

    error = _book(client_for(patient), {"slot": slot.pk, "colour": "blue"})

    assert error["code"] == "validation_error"
    assert error["details"] == {"fields": {"colour": ["Unknown field."]}}
    assert not Appointment.objects.exists()


def test_a_missing_field_is_reported_before_an_unknown_key(client_for, patient):
    error = _book(client_for(patient), {"slot_id": 5})

    assert error["details"] == {"fields": {"slot": ["This field is required."]}}


def test_an_update_with_only_unknown_keys_names_them(client_for, doctor, patient, slot_at):
    booked = services.appointment_book(patient=patient, slot_id=slot_at(doctor, 48).pk)

    response = client_for(patient).patch(f"{BOOK}{booked.pk}/", {"colour": "blue"}, format="json")

    assert response.status_code == 400
    assert response.json()["error"]["details"] == {"fields": {"colour": ["Unknown field."]}}
