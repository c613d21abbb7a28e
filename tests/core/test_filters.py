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


def filter_set_lookups(filterset_class, query: str):
    """What a filter set instance (its form) gives: lookups, or the DRF error details."""
    from django_filters.utils import translate_validation

    filterset = filterset_class(QueryDict(query))
    if not filterset.is_valid():
        return translate_validation(filterset.errors).detail
    return filterset.plain_lookups()


def class_lookups(filterset_class, query: str):
    from rest_framework.exceptions import ValidationError

    try:
        return filterset_class.valid_lookups(QueryDict(query))
    except ValidationError as error:
        return error.detail


@pytest.mark.parametrize(
    "query",
    [
        "",
        "clinician=7&status=open",
        "from=2026-03-30T09:00:00%2B01:00&to=2026-03-31T09:00:00Z&mode=video",
        "hospital=3&unknown=1",
        "clinician=abc",
        "clinician=0&hospital=-1",
        f"clinician={2**63}",
        "status=nonsense&from=yesterday",
        "from=2026-02-30T09:00:00Z",
        "clinician=1&clinician=2",
    ],
)
def test_valid_lookups_clean_the_query_string_as_the_form_does(query):
    expected = filter_set_lookups(SlotFilter, query)
    assert class_lookups(SlotFilter, query) == expected
    assert class_lookups(AppointmentFilter, query) == filter_set_lookups(AppointmentFilter, query)


def test_an_invalid_filter_is_named_with_its_reason():
    detail = class_lookups(SlotFilter, "clinician=abc&status=nonsense")
    assert set(detail) == {"clinician", "status"}
    assert detail["clinician"][0].code == "invalid"
    assert detail["status"][0].code == "invalid_choice"


def test_every_compiled_list_filters_by_plain_lookups_only():
    # CompiledListMixin refuses, when a view is declared, a filter that is not a lookup
    from core.filters import _plain_lookup
    from core.lists import CompiledListMixin
    from scheduling import api

    views = [
        view
        for view in vars(api).values()
        if isinstance(view, type)
        and issubclass(view, CompiledListMixin)
        and hasattr(view, "filterset_class")
    ]
    assert {view.__name__ for view in views} >= {
        "AvailabilityApi", "AppointmentsApi", "PatientAppointmentsApi", "ClinicianAppointmentsApi"
    }  # fmt: skip
    for view in views:
        for name, filter_ in view.filterset_class.base_filters.items():
            assert _plain_lookup(filter_, "a value") is not None, (view.__name__, name)
