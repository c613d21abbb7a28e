"""The waitlist API: shapes, who sees what, and bad input (each a 4xx in the error
envelope that changes nothing; never a 500)."""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from django.utils import timezone

from audit.models import AuditEvent
from scheduling.models import Appointment, Mode
from scheduling.services import appointment_cancel
from tests.factories import DoctorFactory, PatientFactory, StaffFactory
from tests.waitlist.conftest import booked_slot, join, live_offer
from waitlist.models import WaitlistEntry, WaitlistOffer

pytestmark = pytest.mark.django_db

WAITLIST = "/api/v1/waitlist/"
OFFERS = "/api/v1/waitlist/offers/"


def offered(doctor, waiting):
    """A slot of ``doctor`` freed and offered to ``waiting`` (already on the list)."""
    slot, appointment = booked_slot(doctor)
    appointment_cancel(actor=appointment.patient, appointment_id=appointment.pk)
    offer = live_offer(slot)
    assert offer is not None
    assert offer.patient_id == waiting.pk
    return slot, offer


def error_code(response) -> str:
    return response.json()["error"]["code"]


# --- entries --------------------------------------------------------------------------------


def test_join_list_and_leave(doctor, client_for):
    patient = PatientFactory()
    client = client_for(patient)
    day = (timezone.now() + timedelta(days=3)).date()

    created = client.post(
        WAITLIST,
        {
            "clinician": doctor.pk,
            "not_before": day.isoformat(),
            "not_after": (day + timedelta(days=7)).isoformat(),
            "weekdays": [4, 0, 0],
            "mode": Mode.VIDEO,
        },
        format="json",
    )

    assert created.status_code == 201, created.json()
    body = created.json()
    assert body["patient"]["id"] == patient.pk
    assert body["clinician"]["id"] == doctor.pk
    assert (body["weekdays"], body["mode"], body["status"]) == ([0, 4], "video", "active")
    assert body["not_before"] == day.isoformat()
    listed = client.get(WAITLIST)
    assert [e["id"] for e in listed.json()["results"]] == [body["id"]]
    left = client.delete(f"{WAITLIST}{body['id']}/")
    assert left.status_code == 200
    assert left.json()["status"] == "removed"
    assert AuditEvent.objects.filter(action__in=["waitlist.join", "waitlist.remove"]).count() == 2


def test_a_second_join_is_409_and_changes_nothing(doctor, client_for):
    client = client_for(PatientFactory())
    assert client.post(WAITLIST, {"clinician": doctor.pk}, format="json").status_code == 201

    again = client.post(WAITLIST, {"clinician": doctor.pk}, format="json")

    assert again.status_code == 409
    assert error_code(again) == "waitlist_duplicate"
    assert WaitlistEntry.objects.count() == 1


def test_staff_add_a_patient_and_see_every_entry(doctor, client_for):
    patient = PatientFactory()
    staff = client_for(StaffFactory())

    created = staff.post(WAITLIST, {"clinician": doctor.pk, "patient": patient.pk}, format="json")
    without = staff.post(WAITLIST, {"clinician": doctor.pk}, format="json")
    unknown = staff.post(WAITLIST, {"clinician": doctor.pk, "patient": doctor.pk}, format="json")

    assert created.status_code == 201, created.json()
    assert created.json()["patient"]["id"] == patient.pk
    assert (without.status_code, error_code(without)) == (403, "role_not_allowed")
    assert (unknown.status_code, error_code(unknown)) == (404, "patient_not_found")
    join(PatientFactory(), DoctorFactory())
    assert staff.get(WAITLIST).json()["count"] == 2


def test_who_sees_which_entries(doctor, client_for):
    mine, theirs = PatientFactory(), PatientFactory()
    entry = join(mine, doctor)
    other_doctor = DoctorFactory()
    other = join(theirs, other_doctor)

    assert [e["id"] for e in client_for(mine).get(WAITLIST).json()["results"]] == [entry.pk]
    assert [e["id"] for e in client_for(doctor).get(WAITLIST).json()["results"]] == [entry.pk]
    assert client_for(mine).get(f"{WAITLIST}{other.pk}/").status_code == 404
    foreign = client_for(mine).delete(f"{WAITLIST}{other.pk}/")
    assert (foreign.status_code, error_code(foreign)) == (404, "waitlist_entry_not_found")
    other.refresh_from_db()
    assert other.status == "active"
    by_doctor = client_for(doctor).delete(f"{WAITLIST}{entry.pk}/")
    assert (by_doctor.status_code, error_code(by_doctor)) == (403, "role_not_allowed")


def test_a_clinician_cannot_join(doctor, client_for):
    response = client_for(DoctorFactory()).post(WAITLIST, {"clinician": doctor.pk}, format="json")
    assert (response.status_code, error_code(response)) == (403, "role_not_allowed")


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"clinician": "abc"},
        {"clinician": "5"},
        {"clinician": True},
        {"clinician": 0},
        {"clinician": 2**63},
        {"clinician": None},
        {"clinician": "DOCTOR", "weekdays": "monday"},
        {"clinician": "DOCTOR", "weekdays": [7]},
        {"clinician": "DOCTOR", "weekdays": [-1]},
        {"clinician": "DOCTOR", "weekdays": ["1"]},
        {"clinician": "DOCTOR", "weekdays": [1.5]},
        {"clinician": "DOCTOR", "weekdays": [0, 1, 2, 3, 4, 5, 6, 0]},
        {"clinician": "DOCTOR", "mode": "telepathy"},
        {"clinician": "DOCTOR", "mode": 3},
        {"clinician": "DOCTOR", "not_before": "tomorrow"},
        {"clinician": "DOCTOR", "not_before": 20261212},
        {"clinician": "DOCTOR", "not_before": "2026-13-40"},
        {"clinician": "DOCTOR", "not_after": ["2026-12-12"]},
        {"clinician": "DOCTOR", "priority": 5},
        {"clinician": "DOCTOR", "status": "fulfilled"},
        [],
        ["clinician"],
        "clinician",
        123,
    ],
)
def test_bad_join_bodies_are_400_and_change_nothing(doctor, client_for, body):
    if isinstance(body, dict) and body.get("clinician") == "DOCTOR":
        body = {**body, "clinician": doctor.pk}
    response = client_for(PatientFactory()).post(WAITLIST, body, format="json")
    assert response.status_code == 400, response.content
    assert set(response.json()["error"]) >= {"code", "message", "details"}
    assert not WaitlistEntry.objects.exists()


def test_a_bad_window_is_400_naming_the_field(doctor, client_for):
    today = timezone.now().date()
    response = client_for(PatientFactory()).post(
        WAITLIST,
        {
            "clinician": doctor.pk,
            "not_before": (today + timedelta(days=5)).isoformat(),
            "not_after": (today + timedelta(days=1)).isoformat(),
        },
        format="json",
    )
    assert (response.status_code, error_code(response)) == (400, "invalid_waitlist")
    assert "not_after" in response.json()["error"]["details"]["fields"]


def test_unknown_clinician_or_not_a_clinician_is_404(client_for):
    client = client_for(PatientFactory())
    for clinician in (10**12, PatientFactory().pk, StaffFactory().pk):
        response = client.post(WAITLIST, {"clinician": clinician}, format="json")
        assert (response.status_code, error_code(response)) == (404, "clinician_not_found")
    assert not WaitlistEntry.objects.exists()


def test_malformed_json_anonymous_and_wrong_methods(doctor, client_for, api_client):
    client = client_for(PatientFactory())
    malformed = client.post(WAITLIST, "{not json", content_type="application/json")
    assert (malformed.status_code, error_code(malformed)) == (400, "malformed_request")
    assert api_client.get(WAITLIST).status_code == 401
    assert api_client.get(OFFERS).status_code == 401
    assert api_client.post(WAITLIST, {"clinician": doctor.pk}, format="json").status_code == 401
    assert client.put(WAITLIST, {}, format="json").status_code == 405
    assert client.get(f"{WAITLIST}99999999999999999999/").status_code == 404
    assert client.get(f"{WAITLIST}bad/").status_code == 404
    assert client.get(WAITLIST, {"status": "x" * 40}).status_code == 400


# --- offers ---------------------------------------------------------------------------------


def test_the_offer_list_shape(doctor, client_for):
    waiting = PatientFactory()
    join(waiting, doctor)
    slot, offer = offered(doctor, waiting)

    listed = client_for(waiting).get(OFFERS)

    assert listed.status_code == 200
    (row,) = listed.json()["results"]
    assert {k: row[k] for k in ("id", "entry", "slot", "status")} == {
        "id": offer.pk,
        "entry": offer.entry_id,
        "slot": slot.pk,
        "status": "offered",
    }
    assert set(row) >= {"id", "entry", "slot", "start", "end", "expires_at", "status"}
    assert row["start"].startswith(slot.start.strftime("%Y-%m-%dT%H:%M"))
    assert client_for(doctor).get(OFFERS).json()["count"] == 1
    assert client_for(PatientFactory()).get(OFFERS).json()["count"] == 0
    assert client_for(DoctorFactory()).get(OFFERS).json()["count"] == 0


def test_accept_is_201_with_the_appointment_and_again_the_same(doctor, client_for):
    waiting = PatientFactory()
    join(waiting, doctor)
    slot, offer = offered(doctor, waiting)
    client = client_for(waiting)

    first = client.post(f"{OFFERS}{offer.pk}/accept/", HTTP_IDEMPOTENCY_KEY=str(uuid.uuid4()))
    replay_key = str(uuid.uuid4())
    second = client.post(f"{OFFERS}{offer.pk}/accept/", HTTP_IDEMPOTENCY_KEY=replay_key)
    replayed = client.post(f"{OFFERS}{offer.pk}/accept/", HTTP_IDEMPOTENCY_KEY=replay_key)
    without_key = client.post(f"{OFFERS}{offer.pk}/accept/")

    assert first.status_code == 201, first.json()
    for again in (second, replayed, without_key):
        assert again.status_code == 201
        assert again.json()["id"] == first.json()["id"]
    assert replayed.headers.get("Idempotent-Replayed") == "true"
    body = first.json()
    assert set(body) >= {"id", "slot", "patient", "clinician", "start", "end", "status"}
    assert "notes" not in body
    assert Appointment.objects.filter(slot=slot).exclude(status="cancelled").count() == 1
    listed = client.get(OFFERS).json()["results"]
    assert listed[0]["status"] == "accepted"


def test_decline_answers_the_offer(doctor, client_for):
    waiting, next_in_line = PatientFactory(), PatientFactory()
    join(waiting, doctor)
    join(next_in_line, doctor)
    slot, offer = offered(doctor, waiting)

    declined = client_for(waiting).post(f"{OFFERS}{offer.pk}/decline/")

    assert declined.status_code == 200
    assert declined.json()["status"] == "declined"
    assert live_offer(slot).patient_id == next_in_line.pk
    accept = client_for(waiting).post(f"{OFFERS}{offer.pk}/accept/")
    assert (accept.status_code, error_code(accept)) == (409, "offer_not_open")


def test_expired_offer_accept_and_decline_are_410_and_detail_reads_expired(doctor, client_for):
    waiting = PatientFactory()
    join(waiting, doctor)
    slot, offer = offered(doctor, waiting)
    past = timezone.now() - timedelta(seconds=1)
    WaitlistOffer.objects.filter(pk=offer.pk).update(expires_at=past)
    client = client_for(waiting)

    assert client.get(OFFERS).json()["results"][0]["status"] == "expired"  # read-only list
    assert WaitlistOffer.objects.get(pk=offer.pk).status == "offered"
    decline = client.post(f"{OFFERS}{offer.pk}/decline/")
    accept = client.post(f"{OFFERS}{offer.pk}/accept/")
    detail = client.get(f"{OFFERS}{offer.pk}/")

    assert (decline.status_code, error_code(decline)) == (410, "offer_expired")
    assert (accept.status_code, error_code(accept)) == (410, "offer_expired")
    assert detail.json()["status"] == "expired"
    assert not Appointment.objects.filter(slot=slot).exclude(status="cancelled").exists()


def test_foreign_and_unknown_offers_are_404_and_change_nothing(doctor, client_for):
    waiting = PatientFactory()
    join(waiting, doctor)
    slot, offer = offered(doctor, waiting)
    stranger = client_for(PatientFactory())

    for path in (
        f"{OFFERS}{offer.pk}/",
        f"{OFFERS}{offer.pk}/accept/",
        f"{OFFERS}{offer.pk}/decline/",
    ):
        response = (
            stranger.post(path)
            if path.endswith("/accept/") or path.endswith("/decline/")
            else stranger.get(path)
        )
        assert (response.status_code, error_code(response)) == (404, "offer_not_found"), path
    for path in (f"{OFFERS}{10**12}/accept/", f"{OFFERS}{10**12}/decline/"):
        assert client_for(waiting).post(path).status_code == 404
    assert client_for(waiting).post(f"{OFFERS}99999999999999999999/accept/").status_code == 404
    offer.refresh_from_db()
    assert offer.status == "offered"
    assert live_offer(slot) == offer


def test_the_clinician_sees_the_offer_but_cannot_answer_it(doctor, client_for):
    waiting = PatientFactory()
    join(waiting, doctor)
    _slot, offer = offered(doctor, waiting)

    assert client_for(doctor).get(f"{OFFERS}{offer.pk}/").status_code == 200
    response = client_for(doctor).post(f"{OFFERS}{offer.pk}/accept/")
    assert (response.status_code, error_code(response)) == (403, "role_not_allowed")
    offer.refresh_from_db()
    assert offer.status == "offered"


@pytest.mark.parametrize("body", [{"slot": 1}, {"reason": "x"}, [], "yes", 5])
def test_answers_take_no_body(doctor, client_for, body):
    waiting = PatientFactory()
    join(waiting, doctor)
    _slot, offer = offered(doctor, waiting)
    client = client_for(waiting)

    for action in ("accept", "decline"):
        response = client.post(f"{OFFERS}{offer.pk}/{action}/", body, format="json")
        assert response.status_code == 400, (action, response.content)
    offer.refresh_from_db()
    assert offer.status == "offered"


def test_the_schema_documents_the_endpoints(client_for):
    schema = client_for(StaffFactory()).get("/api/schema/", HTTP_ACCEPT="application/json")
    assert schema.status_code == 200
    paths = schema.json()["paths"]
    for path in (
        "/api/v1/waitlist/",
        "/api/v1/waitlist/{entry_id}/",
        "/api/v1/waitlist/offers/",
        "/api/v1/waitlist/offers/{offer_id}/accept/",
        "/api/v1/waitlist/offers/{offer_id}/decline/",
    ):
        assert path in paths, path


def test_staff_remove_an_entry_and_lists_filter_by_status(doctor, client_for):
    waiting = PatientFactory()
    entry = join(waiting, doctor)
    staff = client_for(StaffFactory())

    removed = staff.delete(f"{WAITLIST}{entry.pk}/")

    assert (removed.status_code, removed.json()["status"]) == (200, "removed")
    assert AuditEvent.objects.filter(action="waitlist.remove", actor_id__isnull=False).exists()
    mine = client_for(waiting)
    assert mine.get(WAITLIST, {"status": "active"}).json()["count"] == 0
    assert mine.get(WAITLIST, {"status": "removed"}).json()["count"] == 1
    bad = mine.get(OFFERS, {"status": "maybe"})
    assert (bad.status_code, error_code(bad)) == (400, "validation_error")


def test_a_fulfilled_entry_cannot_be_removed(doctor, client_for):
    waiting = PatientFactory()
    entry = join(waiting, doctor)
    _slot, offer = offered(doctor, waiting)
    assert client_for(waiting).post(f"{OFFERS}{offer.pk}/accept/").status_code == 201

    response = client_for(waiting).delete(f"{WAITLIST}{entry.pk}/")

    assert (response.status_code, error_code(response)) == (409, "waitlist_entry_not_active")
    entry.refresh_from_db()
    assert entry.status == "fulfilled"
