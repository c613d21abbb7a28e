"""GET /api/v1/tasks/appointments/{id}/: the jobs an appointment started, as its viewers see it."""

from __future__ import annotations

from datetime import timedelta

import pytest

from core.models import OutboxEvent
from core.outbox import outbox_event_deliver
from scheduling import services
from scheduling.events import BOOKING_CONFIRMATION_JOB
from tests.factories import DoctorFactory, PatientFactory, SlotFactory, StaffFactory
from tests.scheduling.conftest import hours_from_now

pytestmark = pytest.mark.django_db


@pytest.fixture
def booked():
    doctor, patient = DoctorFactory(), PatientFactory()
    start = hours_from_now(48)
    slot = SlotFactory(clinician=doctor, start=start, end=start + timedelta(minutes=30))
    appointment = services.appointment_book(patient=patient, slot_id=slot.pk)
    outbox_event_deliver(event_id=OutboxEvent.objects.get(name="appointment.scheduled").id)
    return {"doctor": doctor, "patient": patient, "appointment": appointment}


def url(appointment_id) -> str:
    return f"/api/v1/tasks/appointments/{appointment_id}/"


def confirmation(response) -> dict:
    (job,) = [j for j in response.json()["results"] if j["kind"] == BOOKING_CONFIRMATION_JOB]
    return job


@pytest.mark.parametrize("viewer", ["patient", "doctor", "staff"])
def test_patient_clinician_and_staff_see_the_confirmation_job(client_for, booked, viewer):
    user = StaffFactory() if viewer == "staff" else booked[viewer]
    response = client_for(user).get(url(booked["appointment"].pk))
    assert response.status_code == 200
    job = confirmation(response)
    assert job["status"] == "succeeded"
    assert job["progress"] == 100
    assert job["subject"] == {"type": "scheduling.appointment", "id": str(booked["appointment"].pk)}
    assert job["result"]["confirmed"] is True


def test_the_patient_can_open_the_job_itself(client_for, booked):
    client = client_for(booked["patient"])
    job = confirmation(client.get(url(booked["appointment"].pk)))
    response = client.get(f"/api/v1/jobs/{job['id']}/")
    assert response.status_code == 200
    assert response.json()["kind"] == BOOKING_CONFIRMATION_JOB


@pytest.mark.parametrize("outsider", [PatientFactory, DoctorFactory])
def test_someone_elses_appointment_is_404(client_for, booked, outsider):
    response = client_for(outsider()).get(url(booked["appointment"].pk))
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "appointment_not_found"


def test_unknown_appointment_is_404(client_for):
    response = client_for(StaffFactory()).get(url(987654))
    assert response.status_code == 404
    assert client_for(StaffFactory()).get("/api/v1/tasks/appointments/abc/").status_code == 404


def test_before_delivery_there_are_no_jobs_yet(client_for):
    doctor, patient = DoctorFactory(), PatientFactory()
    start = hours_from_now(48)
    slot = SlotFactory(clinician=doctor, start=start, end=start + timedelta(minutes=30))
    appointment = services.appointment_book(patient=patient, slot_id=slot.pk)
    response = client_for(patient).get(url(appointment.pk))
    assert response.status_code == 200
    assert response.json()["results"] == []


def test_anonymous_is_401(api_client, booked):
    assert api_client.get(url(booked["appointment"].pk)).status_code == 401
