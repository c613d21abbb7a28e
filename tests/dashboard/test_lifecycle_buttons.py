"""The dashboard offers what the consultation lifecycle allows, nothing it derives itself.

For every state of a visit, past or future, the buttons on the agenda row and on the
consultation page are exactly ``consultation_transitions_allowed`` for that clinician at
that time; the notes form shows when ``consultation_is_editable``; the prescription form
when ``may_prescribe``.
"""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.utils import timezone

from consultations.lifecycle import (
    consultation_is_editable,
    consultation_transitions_allowed,
    may_prescribe,
)
from consultations.models import Consultation
from dashboard.views._common import MOVES
from scheduling.models import Appointment
from tests.dashboard.conftest import book
from tests.factories import ConsultationFactory

pytestmark = pytest.mark.django_db

PAST = timedelta(minutes=-10)
FUTURE = timedelta(hours=2)


def agenda_buttons(client, appointment: Appointment) -> set[str]:
    day = timezone.localtime(appointment.start, appointment.clinician.tzinfo).date()
    page = client.get("/dashboard/", {"day": day.isoformat()}).content.decode()
    return set(re.findall(rf'action="/dashboard/appointments/{appointment.pk}/([\w-]+)/"', page))


def page_of(client, consultation: Consultation) -> str:
    response = client.get(f"/dashboard/consultations/{consultation.pk}/")
    assert response.status_code == 200
    return response.content.decode()


def page_buttons(page: str, consultation: Consultation) -> set[str]:
    moves = "|".join(move.slug for move in MOVES)
    return set(re.findall(rf'action="/dashboard/consultations/{consultation.pk}/({moves})/"', page))


def lifecycle_buttons(consultation: Consultation, clinician) -> set[str]:
    allowed = consultation_transitions_allowed(consultation, actor=clinician, now=timezone.now())
    return {move.slug for move in MOVES if move.status in allowed}


def visit(clinician, patient, *, offset: timedelta, state: str) -> Consultation:
    """A consultation in ``state`` whose visit starts ``offset`` from now."""
    terminal = state in ("completed", "cancelled", "no_show")
    appointment = book(
        clinician,
        patient,
        start=timezone.now() + offset,
        status=state if terminal else Appointment.Status.SCHEDULED,
    )
    started = timezone.now() if state in ("in_progress", "completed") else None
    return ConsultationFactory.create(appointment=appointment, started_at=started)


STATES = ["scheduled", "in_progress", "completed", "cancelled", "no_show"]


@pytest.mark.parametrize("who", ["psychologist", "doctor"])
@pytest.mark.parametrize("offset", [PAST, FUTURE], ids=["past", "future"])
@pytest.mark.parametrize("state", STATES)
def test_the_buttons_are_what_the_lifecycle_allows(
    request, web, patient, frozen_now, who, offset, state
):
    # given a clinician's visit in this state, started or still to come
    clinician = request.getfixturevalue(who)
    consultation = visit(clinician, patient, offset=offset, state=state)
    client = web(clinician)

    # when the clinician opens the agenda and the consultation page
    on_agenda = agenda_buttons(client, consultation.appointment)
    page = page_of(client, consultation)

    # then both offer exactly what the lifecycle allows this clinician now
    fresh = Consultation.objects.select_related("appointment").get(pk=consultation.pk)
    expected = lifecycle_buttons(fresh, clinician)
    assert on_agenda == expected
    assert page_buttons(page, consultation) == expected
    # and the forms show as the lifecycle says
    assert ("Save notes" in page) == consultation_is_editable(fresh)
    assert ("Issue prescription" in page) == may_prescribe(clinician, fresh)
    assert ("Prescriptions</h2>" in page) == (who == "doctor")


def test_a_future_visit_in_progress_offers_no_complete(web, psychologist, patient, frozen_now):
    # given a session started early, two hours before its booked time
    consultation = visit(psychologist, patient, offset=FUTURE, state="in_progress")
    client = web(psychologist)

    # then neither the agenda nor the page offers to complete it (the service would refuse)
    assert "complete" not in agenda_buttons(client, consultation.appointment)
    assert page_buttons(page_of(client, consultation), consultation) == set()


def test_a_future_visit_offers_start_only(web, psychologist, patient, frozen_now):
    consultation = visit(psychologist, patient, offset=FUTURE, state="scheduled")

    assert agenda_buttons(web(psychologist), consultation.appointment) == {"start"}


@pytest.mark.parametrize("offset", [PAST, FUTURE], ids=["past", "future"])
def test_a_row_whose_consultation_is_not_created_yet_asks_the_lifecycle_too(
    web, psychologist, patient, frozen_now, offset
):
    # given an appointment whose appointment.scheduled event is still queued
    appointment = book(psychologist, patient, start=timezone.now() + offset)
    assert not Consultation.objects.filter(appointment=appointment).exists()

    # then its row offers what the lifecycle allows the consultation it is about to get
    expected = lifecycle_buttons(Consultation(appointment=appointment), psychologist)
    assert agenda_buttons(web(psychologist), appointment) == expected
    assert expected == ({"start", "no-show"} if offset == PAST else {"start"})
