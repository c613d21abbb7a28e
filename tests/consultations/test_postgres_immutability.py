"""The database itself refuses edits of completed consultations, prescriptions and labs."""

from __future__ import annotations

import pytest
from django.db import DatabaseError, transaction
from django.utils import timezone

from consultations.models import Consultation, ConsultationAddendum, Prescription
from labs.models import LabResult
from tests.factories import AddendumFactory

pytestmark = [pytest.mark.postgres, pytest.mark.django_db]


def refused(action) -> bool:
    try:
        with transaction.atomic():
            action()
    except DatabaseError as exc:
        return "immutable" in str(exc)
    return False


def test_completed_consultation_rows_refuse_updates(world):
    done = Consultation.objects.filter(pk=world.done_consultation.pk)
    assert refused(lambda: done.update(notes="rewritten"))
    # no consultation is ever deleted (this one has no rows protecting it in Django)
    assert refused(lambda: Consultation.objects.filter(pk=world.open_consultation.pk).delete())
    # an open one can still be written
    Consultation.objects.filter(pk=world.open_consultation.pk).update(notes="draft 2")
    assert Consultation.objects.get(pk=world.open_consultation.pk).notes == "draft 2"


def test_addenda_are_append_only(world):
    addendum = AddendumFactory.create(consultation=world.done_consultation, author=world.doctor)
    rows = ConsultationAddendum.objects.filter(pk=addendum.pk)
    assert refused(lambda: rows.update(text="changed"))
    assert refused(lambda: rows.delete())


def test_prescriptions_only_ever_get_cancelled(world):
    rows = Prescription.objects.filter(pk=world.prescription.pk)
    assert refused(lambda: rows.update(dose="1 g"))
    assert refused(lambda: rows.delete())
    assert refused(
        lambda: rows.update(
            status="cancelled",
            cancelled_at=timezone.now(),
            cancelled_by=world.doctor,
            cancellation_reason="r",
            dose="1 g",
        )
    )
    rows.update(
        status="cancelled",
        cancelled_at=timezone.now(),
        cancelled_by=world.doctor,
        cancellation_reason="wrong drug",
    )
    assert rows.get().status == "cancelled"
    assert refused(lambda: rows.update(cancellation_reason="changed my mind"))


def test_lab_results_are_append_only(world):
    rows = LabResult.objects.filter(pk=world.lab_result.pk)
    assert refused(lambda: rows.update(flag="critical"))
    assert refused(lambda: rows.delete())
