"""A GET of the dashboard reads only: the agenda's link to a consultation finds the
consultation the booking opened, and writes nothing (issue #14, item 8)."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from consultations.models import Consultation
from scheduling.services import appointment_book
from tests.factories import AppointmentFactory, SlotFactory

pytestmark = pytest.mark.django_db

WRITES = ("INSERT", "UPDATE", "DELETE")


def writes(queries: list[dict[str, str]]) -> list[str]:
    """The statements that changed a row, read-audit rows aside (a read is audited)."""
    return [
        q["sql"]
        for q in queries
        if q["sql"].lstrip().upper().startswith(WRITES) and "audit_auditevent" not in q["sql"]
    ]


def test_the_link_to_a_booked_visits_consultation_only_reads(web, psychologist, patient):
    # given a visit booked through the service, which opens its consultation
    slot = SlotFactory.create(clinician=psychologist)
    appointment = appointment_book(patient=patient, slot_id=slot.pk)
    consultation = Consultation.objects.get(appointment=appointment)
    url = reverse("dashboard:appointment-consultation", args=[appointment.pk])
    browser = web(psychologist)

    # when the clinician follows the agenda's link
    with CaptureQueriesContext(connection) as queries:
        response = browser.get(url)

    # then it leads to that consultation and wrote nothing
    assert response.status_code == 302
    assert response.url == reverse("dashboard:consultation", args=[consultation.pk])
    assert writes(queries.captured_queries) == []


def test_a_visit_without_a_consultation_is_404_not_a_new_row(web, psychologist, patient):
    # given an appointment row made without the booking service (no consultation)
    appointment = AppointmentFactory.create(slot__clinician=psychologist, patient=patient)
    url = reverse("dashboard:appointment-consultation", args=[appointment.pk])

    # when the clinician follows the link
    response = web(psychologist).get(url)

    # then the page is a 404 and no consultation was created on the GET
    assert response.status_code == 404
    assert not Consultation.objects.filter(appointment=appointment).exists()
