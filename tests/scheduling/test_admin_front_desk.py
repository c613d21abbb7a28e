"""The front desk in the admin: staff book, cancel and reschedule for a patient, through
the same services (locks, policy, audit, events) as the API."""

from __future__ import annotations

import re
import uuid
from datetime import timedelta

import pytest
from django.contrib.auth.models import Permission
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from accounts.staff_group import staff_group_sync
from audit.models import AuditEvent
from core.models import OutboxEvent
from scheduling import services
from scheduling.models import Appointment, Slot
from tests.factories import DoctorFactory, PatientFactory, PsychologistFactory, StaffFactory

pytestmark = pytest.mark.django_db

APPOINTMENTS = "/admin/scheduling/appointment/"
BOOK = f"{APPOINTMENTS}book/"


@pytest.fixture
def receptionist():
    """A staff member of the ``staff`` group (not a superuser): the front desk's rights."""
    person = StaffFactory.create(first_name="Rita", last_name="Desk")
    staff_group_sync()
    return person


@pytest.fixture
def desk(receptionist) -> Client:
    client = Client()
    client.force_login(receptionist)
    return client


@pytest.fixture
def clinician():
    return DoctorFactory.create(first_name="Dora", last_name="Doctor", time_zone="Europe/Berlin")


@pytest.fixture
def patient():
    return PatientFactory.create(first_name="Cleo", last_name="Client", email="cleo@example.test")


def local_day(slot: Slot) -> str:
    return slot.start.astimezone(slot.clinician.tzinfo).date().isoformat()


def finder(clinician, slot: Slot, **extra) -> dict[str, str]:
    return {"clinician": str(clinician.pk), "day": local_day(slot), **extra}


def snapshot() -> list[tuple]:
    appointments = Appointment.objects.order_by("pk").values_list(
        "pk", "slot_id", "seat", "status", "patient_id", "start"
    )
    slots = Slot.objects.order_by("pk").values_list("pk", "status", "seats_taken")
    return [*appointments, *slots]


# --- the page --------------------------------------------------------------------------


def test_the_appointments_list_offers_the_booking_page(desk):
    page = desk.get(APPOINTMENTS).content.decode()

    assert 'href="/admin/scheduling/appointment/book/"' in page
    assert "Book an appointment" in page


def test_the_page_lists_the_clinicians_free_slots_and_the_patients_found(
    desk, clinician, patient, slot_at
):
    # given a one-to-one slot, a group slot with one seat taken, a booked and a past slot
    single = slot_at(clinician, 48)
    group = slot_at(clinician, 49, capacity=8)
    services.appointment_book(patient=PatientFactory.create(), slot_id=group.pk)
    taken = slot_at(clinician, 50)
    services.appointment_book(patient=PatientFactory.create(), slot_id=taken.pk)
    elsewhere = slot_at(DoctorFactory.create(), 48)

    # when the receptionist asks for the day and searches the patient by surname
    response = desk.get(BOOK, finder(clinician, single, q="client"))

    # then the free slots are offered with seats left, the taken one is not
    page = response.content.decode()
    assert response.status_code == 200
    assert f'id="slot-{single.pk}"' in page
    assert f'id="slot-{group.pk}"' in page
    assert "7 of 8 seats left" in page
    assert f'id="slot-{taken.pk}"' not in page
    assert f'id="slot-{elsewhere.pk}"' not in page
    # in the clinician's own time zone
    assert single.start.astimezone(clinician.tzinfo).strftime("%H:%M") in page
    assert "Europe/Berlin" in page
    # and the patient found is offered (and chosen, being the only match)
    assert f'id="patient-{patient.pk}" checked' in page


def test_a_receptionist_books_for_a_patient_with_the_same_audit_and_event(
    desk, receptionist, clinician, patient, slot_at
):
    slot = slot_at(clinician, 48)

    response = desk.post(
        f"{BOOK}?clinician={clinician.pk}",
        {"patient": patient.pk, "slot": slot.pk, "reason": "Phoned in: knee pain"},
    )

    appointment = Appointment.objects.get()
    assert response.status_code == 302
    assert response["Location"] == f"{APPOINTMENTS}{appointment.pk}/change/"
    assert (appointment.patient, appointment.slot, appointment.status) == (
        patient,
        slot,
        "scheduled",
    )
    row = AuditEvent.objects.get(action="appointment.book")
    assert (row.actor_id, row.actor_role, row.object_id) == (
        receptionist.pk,
        "staff",
        str(appointment.pk),
    )
    assert row.metadata.get("patient_id") == patient.pk
    assert "knee" not in str(row.changes)  # the reason is fingerprinted, never stored
    event = OutboxEvent.objects.get(name="appointment.scheduled")
    assert event.payload["patient_id"] == patient.pk
    assert event.payload["actor_id"] == receptionist.pk
    followed = desk.get(response["Location"]).content.decode()
    assert "Booked Cleo Client with Dora Doctor" in followed


def test_a_seat_of_a_group_session(desk, clinician, patient, slot_at):
    group = slot_at(clinician, 48, capacity=3)
    services.appointment_book(patient=PatientFactory.create(), slot_id=group.pk)

    response = desk.post(BOOK, {"patient": patient.pk, "slot": group.pk})

    assert response.status_code == 302
    mine = Appointment.objects.get(patient=patient)
    assert mine.seat == 2
    group.refresh_from_db()
    assert (group.seats_taken, group.status) == (2, "open")


# --- refusals are messages, never a 500 ------------------------------------------------


def test_a_slot_taken_meanwhile_is_a_message(desk, clinician, patient, slot_at):
    slot = slot_at(clinician, 48)
    services.appointment_book(patient=PatientFactory.create(), slot_id=slot.pk)
    before = snapshot()

    response = desk.post(
        f"{BOOK}?clinician={clinician.pk}&day={local_day(slot)}",
        {"patient": patient.pk, "slot": slot.pk},
    )

    assert response.status_code == 409
    assert "slot_unavailable" in response.content.decode()
    assert snapshot() == before


def test_a_full_group_session_is_a_message(desk, clinician, patient, slot_at):
    group = slot_at(clinician, 48, capacity=2)
    for _ in range(2):
        services.appointment_book(patient=PatientFactory.create(), slot_id=group.pk)
    before = snapshot()

    response = desk.post(BOOK, {"patient": patient.pk, "slot": group.pk})

    assert response.status_code == 409
    assert "slot_full" in response.content.decode()
    assert snapshot() == before


def test_a_patient_busy_at_that_time_is_a_message(desk, clinician, patient, slot_at):
    services.appointment_book(patient=patient, slot_id=slot_at(PsychologistFactory.create(), 48).pk)
    clash = slot_at(clinician, 48)
    before = snapshot()

    response = desk.post(BOOK, {"patient": patient.pk, "slot": clash.pk})

    assert response.status_code == 409
    assert "patient_overlap" in response.content.decode()
    assert snapshot() == before


def test_the_booking_policy_applies_as_in_the_api(desk, clinician, patient, slot_at):
    too_soon = slot_at(clinician, 0.25)  # inside the default minimum notice
    before = snapshot()

    response = desk.post(BOOK, {"patient": patient.pk, "slot": too_soon.pk})

    assert response.status_code == 409
    assert snapshot() == before


@pytest.mark.parametrize(
    "form",
    [
        {},
        {"patient": "abc", "slot": "1"},
        {"patient": "1", "slot": "x"},
        {"patient": "-4", "slot": "0"},
        {"patient": str(2**63), "slot": str(2**63)},
        {"patient": "", "slot": ""},
        {"patient": "1\x00", "slot": "1"},
    ],
)
def test_malformed_bookings_are_form_errors(desk, form, clinician, slot_at):
    slot_at(clinician, 48)
    before = snapshot()

    response = desk.post(BOOK, form)

    assert response.status_code == 400
    assert 'class="errorlist"' in response.content.decode()
    assert snapshot() == before


def test_a_clinician_or_unknown_id_is_no_patient(desk, clinician, slot_at):
    slot = slot_at(clinician, 48)
    before = snapshot()

    as_clinician = desk.post(BOOK, {"patient": clinician.pk, "slot": slot.pk})
    unknown = desk.post(BOOK, {"patient": 987654, "slot": slot.pk})

    assert as_clinician.status_code == unknown.status_code == 400
    assert "No such patient." in as_clinician.content.decode()
    assert snapshot() == before


def test_an_unknown_slot_is_a_message(desk, patient):
    response = desk.post(BOOK, {"patient": patient.pk, "slot": 987654})

    assert response.status_code == 404
    assert "slot_not_found" in response.content.decode()
    assert not Appointment.objects.exists()


@pytest.mark.parametrize(
    "query",
    [
        "clinician=abc",
        "clinician=999999",
        "clinician=1&day=not-a-day",
        "clinician={c}&day=9999-12-31&span=week",
        "clinician={c}&day=0001-01-01&span=week",
        "clinician={c}&span=fortnight",
        "q=" + "x" * 500,
        "q=%25%5F",
        "patient=abc",
        f"patient={2**70}",
    ],
)
def test_no_query_string_is_a_500(desk, clinician, query):
    response = desk.get(f"{BOOK}?{query.format(c=clinician.pk)}")

    assert response.status_code == 200


# --- who may ---------------------------------------------------------------------------


def test_staff_without_the_permission_cannot_book_cancel_or_reschedule(clinician, patient, slot_at):
    appointment = services.appointment_book(patient=patient, slot_id=slot_at(clinician, 48).pk)
    free = slot_at(clinician, 72)
    outsider = Client()
    outsider.force_login(StaffFactory.create())  # admin access, no group, no permission

    assert outsider.get(BOOK).status_code == 403
    assert outsider.post(BOOK, {"patient": patient.pk, "slot": free.pk}).status_code == 403
    cancel = outsider.post(f"{APPOINTMENTS}{appointment.pk}/cancel/", {"reason": "x"})
    move = outsider.post(f"{APPOINTMENTS}{appointment.pk}/reschedule/", {"slot": free.pk})
    assert cancel.status_code == move.status_code == 403
    appointment.refresh_from_db()
    assert (appointment.status, appointment.slot_id) == ("scheduled", appointment.slot_id)
    assert Appointment.objects.count() == 1


def test_non_staff_are_sent_to_the_admin_login(clinician, patient):
    for user in (patient, clinician):
        client = Client()
        client.force_login(user)
        response = client.get(BOOK)
        assert response.status_code == 302
        assert "/admin/login/" in response["Location"]


def test_a_viewer_sees_no_booking_button(clinician):
    viewer = StaffFactory.create(is_superuser=False)
    viewer.user_permissions.add(Permission.objects.get(codename="view_appointment"))
    client = Client()
    client.force_login(viewer)

    page = client.get(APPOINTMENTS).content.decode()

    assert "Book an appointment" not in page


# --- cancel and reschedule from the change page ---------------------------------------


@pytest.fixture
def booked(clinician, patient, slot_at):
    return services.appointment_book(patient=patient, slot_id=slot_at(clinician, 48).pk)


def test_the_change_page_offers_cancel_and_reschedule(desk, booked):
    page = desk.get(f"{APPOINTMENTS}{booked.pk}/change/").content.decode()

    assert f'href="{APPOINTMENTS}{booked.pk}/cancel/"' in page
    assert f'href="{APPOINTMENTS}{booked.pk}/reschedule/"' in page


def test_cancel_for_a_patient(desk, receptionist, booked):
    asked = desk.get(f"{APPOINTMENTS}{booked.pk}/cancel/")
    missing_reason = desk.post(f"{APPOINTMENTS}{booked.pk}/cancel/", {"reason": ""})
    done = desk.post(f"{APPOINTMENTS}{booked.pk}/cancel/", {"reason": "Patient phoned"})

    assert asked.status_code == 200
    assert "Cancel the appointment" in asked.content.decode()
    assert missing_reason.status_code == 400
    assert done.status_code == 302
    booked.refresh_from_db()
    assert (booked.status, booked.cancelled_by) == ("cancelled", receptionist)
    assert Slot.objects.get(pk=booked.slot_id).status == "open"
    row = AuditEvent.objects.get(action="appointment.cancel")
    assert row.actor_id == receptionist.pk
    # the page of a cancelled appointment offers neither again
    page = desk.get(f"{APPOINTMENTS}{booked.pk}/change/").content.decode()
    assert f"{booked.pk}/cancel/" not in page


def test_cancelling_twice_is_a_message(desk, receptionist, booked):
    services.appointment_cancel(actor=receptionist, appointment_id=booked.pk, reason="x")

    response = desk.post(f"{APPOINTMENTS}{booked.pk}/cancel/", {"reason": "again"})

    assert response.status_code == 409
    assert "invalid_transition" in response.content.decode()


def test_reschedule_for_a_patient(desk, receptionist, booked, clinician, slot_at):
    later = slot_at(clinician, 52)
    other = slot_at(DoctorFactory.create(), 56)

    page = desk.get(f"{APPOINTMENTS}{booked.pk}/reschedule/").content.decode()
    refused = desk.post(f"{APPOINTMENTS}{booked.pk}/reschedule/", {"slot": other.pk})
    moved = desk.post(f"{APPOINTMENTS}{booked.pk}/reschedule/", {"slot": later.pk})

    assert f'id="slot-{later.pk}"' in page
    assert f'id="slot-{booked.slot_id}"' not in page  # not its own slot
    assert f'id="slot-{other.pk}"' not in page  # not another clinician's
    assert refused.status_code == 409
    assert "other_clinician" in refused.content.decode()
    assert moved.status_code == 302
    old_slot = booked.slot_id
    booked.refresh_from_db()
    assert (booked.slot_id, booked.previous_slot_id) == (later.pk, old_slot)
    assert Slot.objects.get(pk=old_slot).status == "open"
    row = AuditEvent.objects.get(action="appointment.reschedule")
    assert row.actor_id == receptionist.pk


def test_reschedule_into_a_group_session(desk, booked, clinician, slot_at):
    group = slot_at(clinician, 52, capacity=4)
    services.appointment_book(patient=PatientFactory.create(), slot_id=group.pk)

    response = desk.post(f"{APPOINTMENTS}{booked.pk}/reschedule/", {"slot": group.pk})

    assert response.status_code == 302
    booked.refresh_from_db()
    group.refresh_from_db()
    assert (booked.slot_id, booked.seat, group.seats_taken) == (group.pk, 2, 2)


@pytest.mark.parametrize("suffix", ["cancel/", "reschedule/"])
@pytest.mark.parametrize("object_id", ["987654", "abc", str(2**70)])
def test_cancel_or_reschedule_of_no_appointment_goes_back_to_the_list(desk, suffix, object_id):
    response = desk.get(f"{APPOINTMENTS}{object_id}/{suffix}")

    assert response.status_code == 302
    assert response["Location"].startswith("/admin/")


@pytest.mark.parametrize("form", [{}, {"slot": "x"}, {"slot": str(2**64)}])
def test_malformed_reschedules_change_nothing(desk, booked, form):
    before = snapshot()

    response = desk.post(f"{APPOINTMENTS}{booked.pk}/reschedule/", form)

    assert response.status_code == 400
    assert snapshot() == before


# --- the same service as the API ------------------------------------------------------


def _locks(queries: list[dict[str, str]]) -> list[str]:
    """The row-locking statements run, with literal values blanked out."""
    locking = [
        q["sql"] for q in queries if re.search(r"\bFOR (NO KEY )?(UPDATE|SHARE)\b", q["sql"])
    ]
    return [re.sub(r"'[^']*'|\b\d+\b", "?", sql) for sql in locking]


@pytest.mark.postgres
def test_the_admin_books_as_the_api_does_same_locks_same_audit_row(
    client_for, receptionist, clinician, slot_at
):
    # given two patients and two equal slots, one booked through the API, one in the admin
    by_api, by_desk = PatientFactory.create(), PatientFactory.create()
    api_slot, desk_slot = slot_at(clinician, 48), slot_at(clinician, 72)
    desk = Client()
    desk.force_login(receptionist)
    api = client_for(receptionist)

    with CaptureQueriesContext(connection) as api_queries:
        answer = api.post(
            "/api/v1/appointments/",
            {"slot": api_slot.pk, "patient": by_api.pk},
            format="json",
            HTTP_IDEMPOTENCY_KEY=str(uuid.uuid4()),
        )
    with CaptureQueriesContext(connection) as desk_queries:
        response = desk.post(BOOK, {"slot": desk_slot.pk, "patient": by_desk.pk})

    assert answer.status_code == 201, answer.content
    assert response.status_code == 302
    # then both took the same row locks, in the same order
    api_locks, desk_locks = (
        _locks(api_queries.captured_queries),
        _locks(desk_queries.captured_queries),
    )
    assert api_locks, "the booking locks its slot"
    assert desk_locks == api_locks
    # and wrote the same audit row: the staff member acting, the patient as subject
    rows = {
        row.object_id: row
        for row in AuditEvent.objects.filter(action="appointment.book").order_by("pk")
    }
    api_row = rows[str(answer.json()["id"])]
    desk_row = rows[str(Appointment.objects.get(patient=by_desk).pk)]

    def shape(row, patient) -> tuple:
        return (
            row.action,
            row.actor_id,
            row.actor_role,
            row.object_type,
            row.metadata.get("patient_id") == patient.pk,
            sorted(row.changes),
        )

    assert shape(api_row, by_api) == shape(desk_row, by_desk)
    assert shape(desk_row, by_desk)[1:3] == (receptionist.pk, "staff")
    # and queued the same event for the patient's confirmation
    events = OutboxEvent.objects.filter(name="appointment.scheduled")
    assert sorted(e.payload["patient_id"] for e in events) == sorted([by_api.pk, by_desk.pk])


def test_the_page_times_follow_the_clinician_across_a_week(desk, clinician, slot_at):
    first = slot_at(clinician, 48)
    fifth_day = slot_at(clinician, 48 + 24 * 4)

    day_page = desk.get(BOOK, finder(clinician, first)).content.decode()
    week_page = desk.get(BOOK, finder(clinician, first, span="week")).content.decode()

    assert f'id="slot-{fifth_day.pk}"' not in day_page
    assert f'id="slot-{fifth_day.pk}"' in week_page
    later = (first.start + timedelta(days=7)).astimezone(clinician.tzinfo).date().isoformat()
    assert f"day={later}" in week_page  # the "later" link steps a week
