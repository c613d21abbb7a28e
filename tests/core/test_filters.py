"""core.filters.StaticFilterSet filters exactly as django-filter does."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.http import QueryDict
from django.utils import timezone

from core.filters import StaticFilterSet
from scheduling.filters import AppointmentFilter, SlotFilter
from scheduling.models import Appointment, Slot
from tests.factories import AppointmentFactory, DoctorFactory, HospitalFactory, SlotFactory

pytestmark = pytest.mark.django_db


def both(filterset_class, query: str, queryset):
    """(our rows, django-filter's own rows) for one query string."""
    ours = filterset_class(QueryDict(query), queryset=queryset)
    reference = filterset_class(QueryDict(query), queryset=queryset)
    assert ours.is_valid() == reference.is_valid()
    if not ours.is_valid():
        return None, None
    generic = super(StaticFilterSet, reference).filter_queryset(queryset)  # django-filter's
    return list(ours.qs.order_by("pk")), list(generic.order_by("pk"))


@pytest.fixture
def slots():
    doctor, other = DoctorFactory(), DoctorFactory()
    hospital = HospitalFactory()
    start = timezone.now() + timedelta(days=3)
    SlotFactory(clinician=doctor, start=start, end=start + timedelta(minutes=30))
    SlotFactory(clinician=doctor, hospital=hospital, mode="video", status=Slot.Status.BOOKED)
    SlotFactory(clinician=other, status=Slot.Status.WITHDRAWN)
    return doctor, hospital, start


def test_every_combination_of_slot_filters_selects_what_django_filter_selects(slots):
    doctor, hospital, start = slots
    hour = timedelta(hours=1)
    queries = [
        "",
        f"clinician={doctor.pk}",
        f"clinician={doctor.pk}&status=open",
        f"hospital={hospital.pk}&mode=video",
        f"from={(start - hour).isoformat()}&to={(start + hour).isoformat()}",
        f"clinician={doctor.pk}&status=booked&mode=video&hospital={hospital.pk}",
        "status=withdrawn",
        "status=nonsense",
        "clinician=abc",
    ]
    for query in queries:
        ours, reference = both(SlotFilter, query.replace("+", "%2B"), Slot.objects.all())
        assert ours == reference, query


def test_appointment_filters_select_what_django_filter_selects():
    appointment = AppointmentFactory()
    AppointmentFactory(status=Appointment.Status.CANCELLED)
    for query in ["", f"patient={appointment.patient_id}", "status=cancelled",
                  f"clinician={appointment.clinician_id}&status=scheduled"]:  # fmt: skip
        ours, reference = both(AppointmentFilter, query, Appointment.objects.all())
        assert ours == reference, query
    assert len(both(AppointmentFilter, "status=cancelled", Appointment.objects.all())[0]) == 1


def test_the_form_class_is_built_once():
    first = SlotFilter(QueryDict("status=open")).get_form_class()
    assert SlotFilter(QueryDict("")).get_form_class() is first
    assert AppointmentFilter(QueryDict("")).get_form_class() is not first
