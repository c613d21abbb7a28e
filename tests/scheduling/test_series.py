"""Recurring series (#15 item 3): one course of weekly (or 2-4 weekly) appointments at the
same local wall-clock time, booked whole or not at all (``fail``) or with the unbookable
occurrences listed (``skip``); cancelled one, this-and-following or all."""

from __future__ import annotations

import uuid
import zoneinfo
from datetime import datetime, time, timedelta
from typing import Any, cast

import pytest
from django.core import mail
from django.test import TestCase
from django.utils import timezone

from audit.models import AuditEvent
from core.models import OutboxEvent
from core.outbox import outbox_event_deliver
from notifications.models import Notification
from scheduling import services
from scheduling.errors import ChangeCutoffPassed
from scheduling.models import Appointment, AppointmentSeries, Slot
from scheduling.services.series import series_book, series_cancel, series_starts
from tests.factories import DoctorFactory, PatientFactory, SlotFactory, StaffFactory

pytestmark = pytest.mark.django_db

BERLIN = zoneinfo.ZoneInfo("Europe/Berlin")
SERIES = "/api/v1/appointment-series/"


def weekly_slots(clinician, first_local: datetime, weeks: int, *, every: int = 1) -> list[Slot]:
    """Open slots at the same local wall-clock time every ``every`` weeks (``first_local``
    is naive, in the clinician's zone)."""
    slots = []
    for week in range(weeks):
        wall = (first_local + timedelta(weeks=every * week)).replace(tzinfo=clinician.tzinfo)
        start = wall.astimezone(zoneinfo.ZoneInfo("UTC"))
        slots.append(
            cast(
                Slot,
                SlotFactory(clinician=clinician, start=start, end=start + timedelta(minutes=45)),
            )
        )
    return slots


def next_weekday_at(hour: int, *, days_ahead: int = 3) -> datetime:
    """A naive wall time ``days_ahead`` days from today at ``hour``:00 (Berlin)."""
    day = timezone.now().astimezone(BERLIN).date() + timedelta(days=days_ahead)
    return datetime.combine(day, time(hour))


def post_series(client, body: dict[str, Any], key: str | None = None):
    headers = {"HTTP_IDEMPOTENCY_KEY": key or str(uuid.uuid4())}
    return client.post(SERIES, body, format="json", **headers)


@pytest.fixture
def doctor():
    return DoctorFactory(time_zone="Europe/Berlin")


@pytest.fixture
def patient():
    return PatientFactory(time_zone="Europe/Berlin")


@pytest.fixture
def six_weeks(doctor):
    return weekly_slots(doctor, next_weekday_at(10), 6)


def state() -> dict[str, Any]:
    return {
        "series": AppointmentSeries.objects.count(),
        "appointments": list(Appointment.objects.order_by("pk").values("pk", "status", "series")),
        "slots": list(Slot.objects.order_by("pk").values("pk", "status", "seats_taken")),
        "audit": AuditEvent.objects.count(),
        "events": OutboxEvent.objects.count(),
    }


# --- occurrences keep the local time -------------------------------------------------------


def test_weekly_series_across_the_late_october_change_in_berlin_keeps_the_local_time(
    client_for, doctor, patient, settings
):
    # given six Tuesdays at 10:00 Berlin time around the change of 31 October 2027
    settings.SCHEDULING_MAX_HORIZON_DAYS = 400
    slots = weekly_slots(doctor, datetime(2027, 10, 12, 10, 0), 6)

    # when the patient books a weekly series of 6 from the first
    response = post_series(client_for(patient), {"slot": slots[0].pk, "count": 6})

    # then six appointments, every one at 10:00 local, 08:00Z before the change, 09:00Z after
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["skipped"] == []
    assert [a["slot"] for a in body["appointments"]] == [s.pk for s in slots]
    series = AppointmentSeries.objects.get(pk=body["id"])
    starts = [a.start for a in series.appointments.order_by("start")]
    assert {s.astimezone(BERLIN).time() for s in starts} == {time(10, 0)}
    assert [s.hour for s in starts] == [8, 8, 8, 9, 9, 9]
    assert series.time_zone == "Europe/Berlin"
    assert all(a["series"] == series.pk for a in body["appointments"])


def test_series_starts_keep_wall_clock_in_spring_too():
    # given 09:30 on Monday 22 March 2027 in Berlin (CET), weekly, across 28 March
    first = datetime(2027, 3, 22, 9, 30, tzinfo=BERLIN)
    # when the starts are computed
    starts = series_starts(first, BERLIN, interval_weeks=1, count=3)
    # then each is 09:30 local: 08:30Z, then 07:30Z after clocks spring forward
    assert [s.astimezone(BERLIN).time() for s in starts] == [time(9, 30)] * 3
    assert [(s.hour, s.minute) for s in starts] == [(8, 30), (7, 30), (7, 30)]


def test_an_interval_of_two_weeks_takes_every_other_week(client_for, doctor, patient):
    slots = weekly_slots(doctor, next_weekday_at(9), 5)
    response = post_series(client_for(patient), {"slot": slots[0].pk, "count": 3, "interval": 2})
    assert response.status_code == 201, response.content
    assert [a["slot"] for a in response.json()["appointments"]] == [
        slots[0].pk,
        slots[2].pk,
        slots[4].pk,
    ]
    assert Slot.objects.get(pk=slots[1].pk).status == Slot.Status.OPEN


# --- conflicts ---------------------------------------------------------------------------


def test_a_taken_fourth_occurrence_refuses_the_whole_series(client_for, patient, six_weeks):
    # given the fourth week's slot booked by someone else
    services.appointment_book(patient=PatientFactory(), slot_id=six_weeks[3].pk)
    before = state()

    # when the patient asks for the weekly series of 6 (on_conflict defaults to fail)
    response = post_series(client_for(patient), {"slot": six_weeks[0].pk, "count": 6})

    # then 409 series_conflict naming index 3, and nothing booked
    assert response.status_code == 409, response.content
    error = response.json()["error"]
    assert error["code"] == "series_conflict"
    assert error["details"]["conflicts"] == [
        {"index": 3, "start": response_time(six_weeks[3].start), "code": "slot_unavailable"}
    ]
    assert state() == before
    assert not Appointment.objects.filter(patient=patient).exists()


def test_with_skip_the_rest_are_booked_and_the_taken_one_listed(client_for, patient, six_weeks):
    services.appointment_book(patient=PatientFactory(), slot_id=six_weeks[3].pk)

    response = post_series(
        client_for(patient), {"slot": six_weeks[0].pk, "count": 6, "on_conflict": "skip"}
    )

    assert response.status_code == 201, response.content
    body = response.json()
    assert len(body["appointments"]) == 5
    assert body["skipped"] == [
        {"index": 3, "start": response_time(six_weeks[3].start), "code": "slot_unavailable"}
    ]
    assert body["count"] == 6
    booked = set(Appointment.objects.filter(patient=patient).values_list("slot_id", flat=True))
    assert booked == {s.pk for i, s in enumerate(six_weeks) if i != 3}


def test_every_conflict_is_listed_with_its_own_code(client_for, doctor, patient, six_weeks):
    # given week 2 with no slot at all, week 4 taken, week 5 clashing with the patient's
    # own appointment with another clinician, and week 6 withdrawn
    Slot.objects.filter(pk=six_weeks[1].pk).delete()
    services.appointment_book(patient=PatientFactory(), slot_id=six_weeks[3].pk)
    other = SlotFactory(start=six_weeks[4].start, end=six_weeks[4].end)
    services.appointment_book(patient=patient, slot_id=other.pk)
    Slot.objects.filter(pk=six_weeks[5].pk).update(status=Slot.Status.WITHDRAWN)

    response = post_series(client_for(patient), {"slot": six_weeks[0].pk, "count": 6})

    assert response.status_code == 409
    conflicts = response.json()["error"]["details"]["conflicts"]
    assert [(c["index"], c["code"]) for c in conflicts] == [
        (1, "no_slot"),
        (3, "slot_unavailable"),
        (4, "patient_overlap"),
        (5, "no_slot"),
    ]


def test_occurrences_beyond_the_booking_horizon_are_conflicts(
    client_for, doctor, patient, settings
):
    settings.SCHEDULING_MAX_HORIZON_DAYS = 20
    slots = weekly_slots(doctor, next_weekday_at(11), 4)

    refused = post_series(client_for(patient), {"slot": slots[0].pk, "count": 4})
    skipped = post_series(
        client_for(patient), {"slot": slots[0].pk, "count": 4, "on_conflict": "skip"}
    )

    assert refused.status_code == 409
    codes = {c["code"] for c in refused.json()["error"]["details"]["conflicts"]}
    assert codes == {"booking_beyond_horizon"}
    assert skipped.status_code == 201
    assert len(skipped.json()["appointments"]) + len(skipped.json()["skipped"]) == 4


def test_nothing_bookable_even_with_skip_is_a_conflict(client_for, patient, six_weeks):
    Slot.objects.filter(pk__in=[s.pk for s in six_weeks]).update(status=Slot.Status.BLOCKED)
    response = post_series(
        client_for(patient), {"slot": six_weeks[0].pk, "count": 3, "on_conflict": "skip"}
    )
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "series_conflict"
    assert not AppointmentSeries.objects.exists()


# --- events, audit, one mail -----------------------------------------------------------------


def after_commit():
    return TestCase.captureOnCommitCallbacks(execute=True)


def deliver_all() -> None:
    for event in OutboxEvent.objects.order_by("created_at"):
        with after_commit():
            outbox_event_deliver(event_id=event.id)


def test_a_series_is_evented_audited_and_confirmed_in_one_mail(patient, doctor, six_weeks):
    # when a series of 4 is booked
    booked = series_book(patient=patient, slot_id=six_weeks[0].pk, count=4, reason="Back pain")

    # then an appointment.scheduled event and audit row per occurrence, and one series.created
    ids = [a.pk for a in booked.appointments]
    scheduled = OutboxEvent.objects.filter(name="appointment.scheduled")
    assert sorted(e.payload["appointment_id"] for e in scheduled) == sorted(ids)
    created = OutboxEvent.objects.get(name="series.created")
    assert created.payload["appointment_ids"] == ids
    assert created.payload["series_id"] == booked.series.pk
    books = AuditEvent.objects.filter(action="appointment.book", object_id__in=map(str, ids))
    assert books.count() == 4
    series_row = AuditEvent.objects.get(action="series.create")
    assert series_row.object_id == str(booked.series.pk)
    assert "Back pain" not in str(series_row.metadata) + str(series_row.changes)
    assert "Back pain" not in str(created.payload)

    # when the outbox delivers every event
    deliver_all()

    # then the patient got one confirmation (and the clinician one), not one per occurrence
    to_patient = [m for m in mail.outbox if m.to == [patient.email]]
    assert len(to_patient) == 1
    assert "4" in to_patient[0].subject or "4" in to_patient[0].body
    assert len([m for m in mail.outbox if m.to == [doctor.email]]) == 1
    kinds = set(Notification.objects.values_list("kind", flat=True))
    assert kinds == {Notification.Kind.SERIES_SCHEDULED}


def test_a_single_occurrence_cancelled_alone_is_mailed_as_usual(patient, six_weeks):
    booked = series_book(patient=patient, slot_id=six_weeks[0].pk, count=3)
    OutboxEvent.objects.all().delete()
    services.appointment_cancel(actor=patient, appointment_id=booked.appointments[1].pk)
    deliver_all()
    assert [m.subject for m in mail.outbox if m.to == [patient.email]] == [
        "Your appointment is cancelled"
    ]


# --- cancelling ----------------------------------------------------------------------------


def test_cancel_this_and_following_from_the_third(client_for, patient, six_weeks):
    # given a weekly series of six
    client = client_for(patient)
    body = post_series(client, {"slot": six_weeks[0].pk, "count": 6}).json()
    third = body["appointments"][2]["id"]

    # when the patient cancels from the third occurrence on
    response = client.post(f"{SERIES}{body['id']}/cancel/", {"from": third}, format="json")

    # then occurrences 1-2 stay, 3-6 are cancelled and their slots are open again
    assert response.status_code == 200, response.content
    statuses = [a["status"] for a in response.json()["appointments"]]
    assert statuses == ["scheduled"] * 2 + ["cancelled"] * 4
    slots = Slot.objects.in_bulk([s.pk for s in six_weeks])
    assert [slots[s.pk].status for s in six_weeks] == ["booked"] * 2 + ["open"] * 4
    assert [slots[s.pk].seats_taken for s in six_weeks] == [1, 1, 0, 0, 0, 0]
    assert response.json()["status"] == "active"
    # and each freed slot can be booked again by someone else
    other = PatientFactory()
    for slot in six_weeks[2:]:
        services.appointment_book(patient=other, slot_id=slot.pk)
    # and one series.cancelled event names the four
    cancelled = OutboxEvent.objects.get(name="series.cancelled")
    assert cancelled.payload["appointment_ids"] == [a["id"] for a in body["appointments"][2:]]


def test_cancel_all_cancels_the_series(client_for, patient, six_weeks):
    client = client_for(patient)
    body = post_series(client, {"slot": six_weeks[0].pk, "count": 4}).json()

    response = client.post(f"{SERIES}{body['id']}/cancel/", {}, format="json")

    assert response.status_code == 200
    assert response.json()["status"] == "cancelled"
    assert {a["status"] for a in response.json()["appointments"]} == {"cancelled"}
    assert not Slot.objects.filter(pk__in=[s.pk for s in six_weeks], status="booked").exists()
    # a second cancel finds nothing left: 409, nothing changes
    before = state()
    again = client.post(f"{SERIES}{body['id']}/cancel/", {}, format="json")
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "series_not_active"
    assert state() == before


def test_series_cancel_mails_once(patient, doctor, six_weeks):
    booked = series_book(patient=patient, slot_id=six_weeks[0].pk, count=4)
    OutboxEvent.objects.all().delete()
    series_cancel(actor=patient, series_id=booked.series.pk)
    deliver_all()
    assert len([m for m in mail.outbox if m.to == [patient.email]]) == 1
    assert len([m for m in mail.outbox if m.to == [doctor.email]]) == 1


def test_a_patient_past_the_cut_off_cancels_nothing(patient, doctor):
    # given a series whose first occurrence starts in 3 hours (inside the 24 h cut-off)
    first = (timezone.now() + timedelta(hours=3)).astimezone(BERLIN).replace(tzinfo=None)
    slots = weekly_slots(doctor, first.replace(second=0, microsecond=0), 3)
    booked = series_book(patient=patient, slot_id=slots[0].pk, count=3)
    before = state()
    # when the patient cancels them all
    with pytest.raises(ChangeCutoffPassed):
        series_cancel(actor=patient, series_id=booked.series.pk)
    # then the cut-off refuses and nothing changed; the clinician may
    assert state() == before
    _, cancelled = series_cancel(actor=doctor, series_id=booked.series.pk)
    assert len(cancelled) == 3


def test_one_occurrence_cancelled_or_rescheduled_stays_in_the_series(
    client_for, doctor, patient, six_weeks
):
    client = client_for(patient)
    body = post_series(client, {"slot": six_weeks[0].pk, "count": 3}).json()
    first, second = body["appointments"][0]["id"], body["appointments"][1]["id"]
    spare = SlotFactory(clinician=doctor, start=six_weeks[5].start + timedelta(days=1))

    assert (
        client.post(f"/api/v1/appointments/{first}/cancel/", {}, format="json").status_code == 200
    )
    moved = client.post(
        f"/api/v1/appointments/{second}/reschedule/", {"slot": spare.pk}, format="json"
    )

    assert moved.status_code == 200, moved.content
    assert moved.json()["series"] == body["id"]
    detail = client.get(f"{SERIES}{body['id']}/").json()
    assert detail["count"] == 3
    assert len(detail["appointments"]) == 3
    assert Slot.objects.get(pk=six_weeks[0].pk).status == "open"
    assert Slot.objects.get(pk=six_weeks[1].pk).status == "open"


# --- reading --------------------------------------------------------------------------------


def test_appointment_outputs_carry_the_series(client_for, patient, six_weeks):
    client = client_for(patient)
    body = post_series(client, {"slot": six_weeks[0].pk, "count": 2}).json()
    single = services.appointment_book(patient=patient, slot_id=six_weeks[4].pk)

    listed = {a["id"]: a["series"] for a in client.get("/api/v1/appointments/").json()["results"]}
    detail = client.get(f"/api/v1/appointments/{single.pk}/").json()
    mine = client.get(f"/api/v1/patients/{patient.pk}/appointments/").json()["results"]

    assert listed == {**{a["id"]: body["id"] for a in body["appointments"]}, single.pk: None}
    assert detail["series"] is None
    assert {a["series"] for a in mine} == {body["id"], None}


def test_series_are_listed_to_whom_they_concern(client_for, doctor, patient, six_weeks):
    body = post_series(client_for(patient), {"slot": six_weeks[0].pk, "count": 2}).json()

    def ids(user) -> list[int]:
        response = client_for(user).get(SERIES)
        assert response.status_code == 200
        return [row["id"] for row in response.json()["results"]]

    assert ids(patient) == [body["id"]]
    assert ids(doctor) == [body["id"]]
    assert ids(StaffFactory()) == [body["id"]]
    assert ids(PatientFactory()) == []
    assert ids(DoctorFactory()) == []


def response_time(moment: datetime) -> str:
    """A time as the API writes it (UTC, ``Z``)."""
    return moment.astimezone(zoneinfo.ZoneInfo("UTC")).isoformat().replace("+00:00", "Z")
