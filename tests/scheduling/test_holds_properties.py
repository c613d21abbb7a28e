"""Property: whatever sequence of hold, release, book, cancel and expire runs, the
``status=open`` availability list (the API's compiled list and the selector) never shows
a slot whose live hold keeps its last free seat (a one-seat slot: any live hold), and a
slot's status always agrees with its seats and hold."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from core.errors import DomainError
from scheduling import services
from scheduling.models import Appointment, Slot
from scheduling.selectors import slots_list
from scheduling.services.holds import slot_hold, slot_release
from tests.factories import DoctorFactory, PatientFactory, SlotFactory
from tests.scheduling.conftest import hours_from_now

pytestmark = pytest.mark.django_db

AVAILABILITY = "/api/v1/availability/"

steps = st.lists(
    st.tuples(
        st.sampled_from(["hold", "release", "book", "cancel", "expire"]),
        st.integers(min_value=0, max_value=2),  # which slot
        st.integers(min_value=0, max_value=3),  # which patient
    ),
    min_size=1,
    max_size=25,
)


def _run(step: str, slot: Slot, patient, now) -> None:
    try:
        if step == "hold":
            slot_hold(slot_id=slot.pk, patient=patient)
        elif step == "release":
            slot_release(slot_id=slot.pk)
        elif step == "book":
            services.appointment_book(patient=patient, slot_id=slot.pk)
        elif step == "cancel":
            live = Appointment.objects.filter(slot=slot, status__in=Appointment.ACTIVE_STATUSES)
            appointment = live.order_by("id").first()
            if appointment is not None:
                services.appointment_cancel(
                    actor=appointment.patient, appointment_id=appointment.pk
                )
        elif step == "expire":
            Slot.objects.filter(pk=slot.pk, held_until__isnull=False).update(
                held_until=now - timedelta(seconds=1)
            )
    except DomainError:
        pass  # a refusal (409 and the like) changes nothing


@settings(
    max_examples=50,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(steps)
def test_the_open_list_never_shows_a_slot_with_a_live_hold_on_its_last_seat(client_for, sequence):
    doctor = DoctorFactory()
    base = hours_from_now(48)
    capacities = (1, 1, 2)
    slots = [
        SlotFactory(
            clinician=doctor,
            start=base + timedelta(hours=i),
            end=base + timedelta(hours=i, minutes=30),
            capacity=capacity,
        )
        for i, capacity in enumerate(capacities)
    ]
    patients = [PatientFactory() for _ in range(4)]
    viewer = client_for(patients[0])

    for step, slot_index, patient_index in sequence:
        _run(step, slots[slot_index], patients[patient_index], timezone.now())

        now = timezone.now()
        listed = viewer.get(AVAILABILITY, {"status": "open", "clinician": doctor.pk})
        assert listed.status_code == 200
        listed_ids = {s["id"] for s in listed.json()["results"]}
        selected = set(
            slots_list(user=patients[0], clinician_id=doctor.pk, status="open").values_list(
                "pk", flat=True
            )
        )
        for slot in Slot.objects.filter(pk__in=[s.pk for s in slots]):
            live_hold = slot.hold_live(now)
            keeps_last_seat = live_hold and slot.seats_taken + 1 >= slot.capacity
            if keeps_last_seat:
                assert slot.pk not in listed_ids
                assert slot.pk not in selected
                assert slot.status == Slot.Status.HELD
            if slot.capacity == 1 and live_hold:
                assert slot.pk not in listed_ids
            if slot.pk in listed_ids:
                assert slot.seats_left >= 1
            live = Appointment.objects.filter(slot=slot).exclude(status="cancelled").count()
            assert live == slot.seats_taken <= slot.capacity
