"""A search page costs the same number of queries whatever its length (no query per
match): the people of each appointment come in the page's own statement."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from tests.factories import AppointmentFactory, DoctorFactory, PatientFactory, SlotFactory
from tests.fhir.conftest import hours_ahead
from tests.fhir.helpers import fhir_get, ids

pytestmark = pytest.mark.django_db


def _queries(client, url: str) -> tuple[int, int]:
    with CaptureQueriesContext(connection) as captured:
        status, bundle = fhir_get(client, url)
    assert status == 200
    return len(captured.captured_queries), len(ids(bundle))


def _appointments(clinic, count: int, offset: int) -> None:
    """``count`` appointments of the doctor with new patients, and as many new doctors."""
    for n in range(count):
        DoctorFactory()
        start = hours_ahead(300 + offset + 2 * n)
        slot = SlotFactory(
            clinician=clinic.doctor,
            start=start,
            end=start + timedelta(minutes=30),
            status="booked",
            seats_taken=1,
        )
        AppointmentFactory(slot=slot, patient=PatientFactory())  # fmt: skip


@pytest.mark.parametrize(
    "search",
    ["Appointment?practitioner=Practitioner/{doctor}", "Patient", "Slot?schedule=Schedule/{doctor}",
     "Practitioner", "Schedule"],
)  # fmt: skip
def test_a_longer_page_costs_no_more_queries(clinic, client_for, search):
    client = client_for(clinic.doctor)
    url = search.format(doctor=clinic.doctor.pk)
    _appointments(clinic, 2, 0)
    client.get(f"/fhir/R4/{url}")  # warm: the JWT's user is read once per process
    few, few_rows = _queries(client, url)
    _appointments(clinic, 12, 100)
    many, many_rows = _queries(client, url)
    assert many_rows > few_rows
    assert few > 0  # the page's statement was seen
    assert many == few
