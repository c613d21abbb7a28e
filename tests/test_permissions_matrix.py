"""One table: every role x every endpoint of the clinical records and of the foundation.

Each row names an action on patient A's records (or a role-gated foundation endpoint)
and the status each role must get. Every refusal (4xx) must leave the database exactly
as it was. Roles: patient A (the record's owner), patient B, the doctor who treats A,
an unrelated doctor (treats only B), a psychologist who also treats A, staff, anonymous.

Not in the table: the credential flows (register, token, refresh, logout), which are
not role decisions and have their own tests in tests/accounts.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, cast

import pytest
from django.utils import timezone
from rest_framework.test import APIClient

from accounts.models import ClinicianProfile, Hospital, User
from calendars.models import CalendarFeed
from scheduling.models import AvailabilityRule, Slot
from tests.clinical_world import World, clinical_world, db_state
from tests.factories import SlotFactory
from waitlist.models import WaitlistEntry, WaitlistOffer

pytestmark = pytest.mark.django_db

ROLES = ("patient_a", "patient_b", "doctor", "other_doctor", "psychologist", "staff", "anonymous")


def R(
    patient_a: int,
    patient_b: int,
    doctor: int,
    other_doctor: int,
    psychologist: int,
    staff: int,
    anonymous: int,
) -> dict[str, int]:
    return dict(
        zip(
            ROLES,
            (patient_a, patient_b, doctor, other_doctor, psychologist, staff, anonymous),
            strict=True,
        )
    )


@dataclass(frozen=True)
class Action:
    name: str
    method: str
    path: Callable[[World], str]
    expected: dict[str, int]
    body: Callable[[World], Any] | None = None
    headers: dict[str, str] | None = None


def _future(days: int, hour: int) -> str:
    moment = timezone.now().replace(hour=hour, minute=0, second=0, microsecond=0)
    return (moment + timedelta(days=days)).isoformat()


def _lab(world: World) -> dict[str, Any]:
    return {
        "patient": world.patient_a.pk,
        "test_code": "2345-7",
        "test_name": "Glucose",
        "value": 5.4,
        "unit": "mmol/L",
        "reference_range": {"low": 3.9, "high": 5.5},
        "collected_at": (timezone.now() - timedelta(hours=2)).isoformat(),
    }


def _prescription(world: World) -> dict[str, Any]:
    return {
        "consultation": world.done_consultation.pk,
        "medication": "Amoxicillin",
        "dose": "500 mg",
        "route": "oral",
        "frequency": "three times daily",
        "duration": "7 days",
        "quantity": 21,
    }


def _weekly_slots(clinician: Any, weeks: int = 2) -> list[Slot]:
    """Open slots at one time of day a week apart, about 40 days ahead, clear of every
    appointment already there (the world's appointments move a day further per call)."""
    from scheduling.models import Appointment

    start = timezone.now().replace(hour=10, minute=0, second=0, microsecond=0)
    start += timedelta(days=40)
    while any(
        Appointment.objects.filter(
            start__lt=moment + timedelta(minutes=30), end__gt=moment
        ).exists()
        for moment in (start + timedelta(weeks=week) for week in range(weeks))
    ):
        start += timedelta(hours=1)
    return [
        cast(Slot, SlotFactory(clinician=clinician, start=start + timedelta(weeks=week),
                               end=start + timedelta(weeks=week, minutes=30)))
        for week in range(weeks)
    ]  # fmt: skip


def _series_of_a(world: World) -> int:
    """A weekly series of two between patient A and the doctor."""
    from scheduling.services import series_book

    first = _weekly_slots(world.doctor)[0]
    return series_book(patient=world.patient_a, slot_id=first.pk, count=2).series.pk


def _entry_of_a(world: World) -> int:
    """Patient A waiting for the doctor."""
    from waitlist.services import entry_join

    return entry_join(patient=world.patient_a, clinician=world.doctor, actor=world.patient_a).pk


def _offer_to_a(world: World) -> int:
    """A live offer to patient A (waiting for the doctor) of a freed slot of the doctor."""
    from waitlist.services import slot_offer_next

    _entry_of_a(world)
    offer = slot_offer_next(slot_id=_weekly_slots(world.doctor, weeks=1)[0].pk)
    assert offer is not None, "the world's patient A is free then"
    return offer.pk


def _feed_of_a(world: World) -> str:
    """Patient A's calendar feed URL (path), issued through the service."""
    from calendars.services import calendar_feed_issue

    return f"/calendar/{calendar_feed_issue(owner=world.patient_a).token}.ics"


def _rotated_feed_of_a(world: World) -> str:
    """The URL patient A's feed had before A rotated it."""
    old = _feed_of_a(world)
    _feed_of_a(world)
    return old


def _me_feed_once_a_has_one(world: World) -> str:
    _feed_of_a(world)
    return "/api/v1/me/calendar-feed/"


# R(patient A, patient B, doctor of A, unrelated doctor, psychologist of A, staff, anonymous)
ACTIONS = [
    # --- clinical records (this issue) --------------------------------------------------
    Action(
        "consultations list",
        "get",
        lambda w: "/api/v1/consultations/",
        R(200, 200, 200, 200, 200, 403, 401),
    ),
    Action(
        "consultation read",
        "get",
        lambda w: f"/api/v1/consultations/{w.open_consultation.pk}/",
        R(200, 404, 200, 404, 200, 403, 401),
    ),
    Action(
        "consultation notes",
        "patch",
        lambda w: f"/api/v1/consultations/{w.open_consultation.pk}/",
        R(403, 403, 200, 404, 403, 403, 401),
        body=lambda w: {"notes": "new"},
    ),
    Action(
        "consultation status",
        "patch",
        lambda w: f"/api/v1/consultations/{w.open_consultation.pk}/status/",
        R(403, 403, 200, 404, 403, 403, 401),
        body=lambda w: {"status": "in_progress"},
    ),
    Action(
        "consultation addendum",
        "post",
        lambda w: f"/api/v1/consultations/{w.done_consultation.pk}/addenda/",
        R(403, 403, 201, 404, 403, 403, 401),
        body=lambda w: {"text": "addendum"},
    ),
    Action(
        "prescriptions list",
        "get",
        lambda w: "/api/v1/prescriptions/",
        R(200, 200, 200, 200, 200, 403, 401),
    ),
    Action(
        "prescription create",
        "post",
        lambda w: "/api/v1/prescriptions/",
        R(403, 403, 201, 404, 403, 403, 401),
        body=_prescription,
    ),
    Action(
        "prescription read",
        "get",
        lambda w: f"/api/v1/prescriptions/{w.prescription.pk}/",
        R(200, 404, 200, 404, 200, 403, 401),
    ),
    Action(
        "prescription edit",
        "patch",
        lambda w: f"/api/v1/prescriptions/{w.prescription.pk}/",
        R(405, 405, 405, 405, 405, 403, 401),
        body=lambda w: {"dose": "1 g"},
    ),
    Action(
        "prescription pdf",
        "get",
        lambda w: f"/api/v1/prescriptions/{w.prescription.pk}/pdf/",
        R(200, 404, 200, 404, 200, 403, 401),
    ),
    Action(
        "prescription cancel",
        "post",
        lambda w: f"/api/v1/prescriptions/{w.prescription.pk}/cancel/",
        R(403, 403, 200, 404, 403, 403, 401),
        body=lambda w: {"reason": "wrong dose"},
    ),
    Action(
        "lab results list",
        "get",
        lambda w: "/api/v1/lab-results/",
        R(200, 200, 200, 200, 200, 403, 401),
    ),
    Action(
        "lab result create",
        "post",
        lambda w: "/api/v1/lab-results/",
        R(403, 403, 201, 404, 201, 403, 401),
        body=_lab,
    ),
    Action(
        "lab result read",
        "get",
        lambda w: f"/api/v1/lab-results/{w.lab_result.pk}/",
        R(200, 404, 200, 404, 200, 403, 401),
    ),
    # --- foundation -----------------------------------------------------------------------
    Action("me", "get", lambda w: "/api/v1/me/", R(200, 200, 200, 200, 200, 200, 401)),
    # Every role reads and changes its own preferences only: the path names no one else.
    Action(
        "notification preferences read",
        "get",
        lambda w: "/api/v1/me/notification-preferences/",
        R(200, 200, 200, 200, 200, 200, 401),
    ),
    Action(
        "notification preferences update",
        "patch",
        lambda w: "/api/v1/me/notification-preferences/",
        R(200, 200, 200, 200, 200, 200, 401),
        body=lambda w: {"email": False, "quiet_hours": {"start": "21:00", "end": "08:00"}},
    ),
    Action(
        "user read (patient A)",
        "get",
        lambda w: f"/api/v1/users/{w.patient_a.pk}/",
        R(200, 404, 404, 404, 404, 200, 401),
    ),
    Action(
        "user create",
        "post",
        lambda w: "/api/v1/users/",
        R(403, 403, 403, 403, 403, 201, 401),
        body=lambda w: {
            "email": "new.doctor@example.test",
            "password": "A-long-unusual-pass-93",
            "role": "doctor",
            "first_name": "New",
            "last_name": "Doctor",
        },
    ),
    Action(
        "clinicians directory",
        "get",
        lambda w: "/api/v1/clinicians/",
        R(200, 200, 200, 200, 200, 200, 401),
    ),
    Action(
        "hospitals list",
        "get",
        lambda w: "/api/v1/hospitals/",
        R(200, 200, 200, 200, 200, 200, 401),
    ),
    Action(
        "hospital read",
        "get",
        lambda w: f"/api/v1/hospitals/{w.doctor.clinician_profile.hospital_id}/",
        R(200, 200, 200, 200, 200, 200, 401),
    ),
    Action(
        "availability list",
        "get",
        lambda w: "/api/v1/availability/",
        R(200, 200, 200, 200, 200, 200, 401),
    ),
    Action(
        "availability create",
        "post",
        lambda w: "/api/v1/availability/",
        R(403, 403, 201, 201, 201, 403, 401),
        body=lambda w: {"start": _future(20, 9), "end": _future(20, 10)},
    ),
    Action(
        "appointments list",
        "get",
        lambda w: "/api/v1/appointments/",
        R(200, 200, 200, 200, 200, 200, 401),
    ),
    Action(
        "appointment book",
        "post",
        lambda w: "/api/v1/appointments/",
        R(201, 201, 403, 403, 403, 403, 401),
        body=lambda w: {"slot": cast(Slot, SlotFactory(clinician=w.doctor)).pk},
        headers={"HTTP_IDEMPOTENCY_KEY": "matrix-key-1"},
    ),
    # --- the front desk and group sessions (#15) ----------------------------------------
    Action(
        "appointment book for patient A (front desk)",
        "post",
        lambda w: "/api/v1/appointments/",
        R(201, 403, 403, 403, 403, 201, 401),
        body=lambda w: {
            "slot": cast(Slot, SlotFactory(clinician=w.doctor)).pk,
            "patient": w.patient_a.pk,
        },
        headers={"HTTP_IDEMPOTENCY_KEY": "matrix-key-front-desk"},
    ),
    Action(
        "appointment book a group seat",
        "post",
        lambda w: "/api/v1/appointments/",
        R(201, 201, 403, 403, 403, 403, 401),
        body=lambda w: {"slot": cast(Slot, SlotFactory(clinician=w.doctor, capacity=4)).pk},
        headers={"HTTP_IDEMPOTENCY_KEY": "matrix-key-group"},
    ),
    Action(
        "availability create (group slot)",
        "post",
        lambda w: "/api/v1/availability/",
        R(403, 403, 201, 201, 201, 403, 401),
        body=lambda w: {"start": _future(21, 9), "end": _future(21, 10), "capacity": 8},
    ),
    Action(
        "appointment reschedule (A's)",
        "post",
        lambda w: f"/api/v1/appointments/{w.open_consultation.appointment_id}/reschedule/",
        R(200, 404, 200, 404, 404, 200, 401),
        body=lambda w: {"slot": cast(Slot, SlotFactory(clinician=w.doctor, capacity=3)).pk},
    ),
    Action(
        "appointment read (A's)",
        "get",
        lambda w: f"/api/v1/appointments/{w.open_consultation.appointment_id}/",
        R(200, 404, 200, 404, 404, 200, 401),
    ),
    Action(
        "appointment cancel (A's)",
        "post",
        lambda w: f"/api/v1/appointments/{w.open_consultation.appointment_id}/cancel/",
        R(200, 404, 200, 404, 404, 200, 401),
        body=lambda w: {},
    ),
    Action(
        "patient A's appointments",
        "get",
        lambda w: f"/api/v1/patients/{w.patient_a.pk}/appointments/",
        R(200, 404, 200, 404, 200, 200, 401),
    ),
    Action(
        "the doctor's appointments",
        "get",
        lambda w: f"/api/v1/clinicians/{w.doctor.pk}/appointments/",
        R(200, 200, 200, 404, 404, 200, 401),
    ),
    Action(
        "appointment series list",
        "get",
        lambda w: "/api/v1/appointment-series/",
        R(200, 200, 200, 200, 200, 200, 401),
    ),
    Action(
        "appointment series book",
        "post",
        lambda w: "/api/v1/appointment-series/",
        R(201, 201, 403, 403, 403, 403, 401),
        body=lambda w: {"slot": _weekly_slots(w.doctor)[0].pk, "count": 2},
        headers={"HTTP_IDEMPOTENCY_KEY": "matrix-series-1"},
    ),
    Action(
        "appointment series read (A's)",
        "get",
        lambda w: f"/api/v1/appointment-series/{_series_of_a(w)}/",
        R(200, 404, 200, 404, 404, 200, 401),
    ),
    Action(
        "appointment series cancel (A's)",
        "post",
        lambda w: f"/api/v1/appointment-series/{_series_of_a(w)}/cancel/",
        R(200, 404, 200, 404, 404, 200, 401),
        body=lambda w: {},
    ),
    Action(
        "audit log", "get", lambda w: "/api/v1/audit-events/", R(403, 403, 403, 403, 403, 200, 401)
    ),
    # --- the waitlist (#16): patients join for themselves, staff for a patient; the
    # clinician sees who waits for them; a record that is not yours is a 404 -------------
    Action(
        "waitlist list", "get", lambda w: "/api/v1/waitlist/", R(200, 200, 200, 200, 200, 200, 401)
    ),
    Action(
        "waitlist join",
        "post",
        lambda w: "/api/v1/waitlist/",
        R(201, 201, 403, 403, 403, 403, 401),  # staff must name the patient
        body=lambda w: {"clinician": w.doctor.pk},
    ),
    Action(
        "waitlist join for patient A (staff)",
        "post",
        lambda w: "/api/v1/waitlist/",
        R(201, 403, 403, 403, 403, 201, 401),
        body=lambda w: {"clinician": w.doctor.pk, "patient": w.patient_a.pk},
    ),
    Action(
        "waitlist entry read (A's)",
        "get",
        lambda w: f"/api/v1/waitlist/{_entry_of_a(w)}/",
        R(200, 404, 200, 404, 404, 200, 401),
    ),
    Action(
        "waitlist leave (A's)",
        "delete",
        lambda w: f"/api/v1/waitlist/{_entry_of_a(w)}/",
        R(200, 404, 403, 403, 403, 200, 401),
    ),
    Action(
        "waitlist offers list",
        "get",
        lambda w: "/api/v1/waitlist/offers/",
        R(200, 200, 200, 200, 200, 200, 401),
    ),
    Action(
        "waitlist offer read (A's)",
        "get",
        lambda w: f"/api/v1/waitlist/offers/{_offer_to_a(w)}/",
        R(200, 404, 200, 404, 404, 200, 401),
    ),
    Action(
        "waitlist offer accept (A's)",
        "post",
        lambda w: f"/api/v1/waitlist/offers/{_offer_to_a(w)}/accept/",
        R(201, 404, 403, 403, 403, 201, 401),
    ),
    Action(
        "waitlist offer decline (A's)",
        "post",
        lambda w: f"/api/v1/waitlist/offers/{_offer_to_a(w)}/decline/",
        R(200, 404, 403, 403, 403, 200, 401),
    ),
    # --- calendar feeds (#17): each person's own feed (staff have none); the .ics opens
    # by its token alone, whoever asks, and an unknown or rotated token is 404 for all --
    Action(
        "calendar feed issue",
        "post",
        lambda w: "/api/v1/me/calendar-feed/",
        R(201, 201, 201, 201, 201, 403, 401),
        body=lambda w: {},
    ),
    Action(
        "calendar feed read (none of one's own)",
        "get",
        lambda w: "/api/v1/me/calendar-feed/",
        R(404, 404, 404, 404, 404, 403, 401),
    ),
    Action(
        "calendar feed details (A has a feed)",
        "patch",
        _me_feed_once_a_has_one,
        R(200, 404, 404, 404, 404, 403, 401),
        body=lambda w: {"include_details": True},
    ),
    Action(
        "calendar feed revoke (A has a feed)",
        "delete",
        _me_feed_once_a_has_one,
        R(204, 404, 404, 404, 404, 403, 401),
    ),
    Action("calendar feed .ics (A's)", "get", _feed_of_a, R(200, 200, 200, 200, 200, 200, 200)),
    Action(
        "calendar feed .ics (A's rotated away)",
        "get",
        _rotated_feed_of_a,
        R(404, 404, 404, 404, 404, 404, 404),
    ),
    Action(
        "calendar feed .ics (unknown token)",
        "get",
        lambda w: f"/calendar/{secrets.token_urlsafe(32)}.ics",  # fresh: never rate-limited
        R(404, 404, 404, 404, 404, 404, 404),
    ),
    # --- FHIR R4 (#17): the REST API's visibility under /fhir/R4/; every refusal is an
    # OperationOutcome; the CapabilityStatement is public ------------------------------
    Action(
        "FHIR metadata", "get", lambda w: "/fhir/R4/metadata", R(200, 200, 200, 200, 200, 200, 200)
    ),
    Action(
        "FHIR Patient read (A)",
        "get",
        lambda w: f"/fhir/R4/Patient/{w.patient_a.pk}",
        R(200, 404, 200, 404, 200, 200, 401),
    ),
    Action(
        "FHIR Patient search",
        "get",
        lambda w: "/fhir/R4/Patient",
        R(200, 200, 200, 200, 200, 200, 401),
    ),
    Action(
        "FHIR Practitioner read",
        "get",
        lambda w: f"/fhir/R4/Practitioner/{w.doctor.pk}",
        R(200, 200, 200, 200, 200, 200, 401),
    ),
    Action(
        "FHIR Schedule read",
        "get",
        lambda w: f"/fhir/R4/Schedule/{w.doctor.pk}",
        R(200, 200, 200, 200, 200, 200, 401),
    ),
    Action(
        "FHIR Slot read (open)",
        "get",
        lambda w: f"/fhir/R4/Slot/{cast(Slot, SlotFactory(clinician=w.doctor)).pk}",
        R(200, 200, 200, 200, 200, 200, 401),
    ),
    Action(
        "FHIR Slot search",
        "get",
        lambda w: "/fhir/R4/Slot?status=free",
        R(200, 200, 200, 200, 200, 200, 401),
    ),
    Action(
        "FHIR Appointment read (A's)",
        "get",
        lambda w: f"/fhir/R4/Appointment/{w.open_consultation.appointment_id}",
        R(200, 404, 200, 404, 404, 200, 401),
    ),
    # B's search for A's appointments answers an empty Bundle (tests/fhir/test_search.py)
    Action(
        "FHIR Appointment search (patient A)",
        "get",
        lambda w: f"/fhir/R4/Appointment?patient=Patient/{w.patient_a.pk}",
        R(200, 200, 200, 200, 200, 200, 401),
    ),
    Action(
        "FHIR Appointment book for patient A",
        "post",
        lambda w: "/fhir/R4/Appointment",
        R(201, 403, 403, 403, 403, 201, 401),
        body=lambda w: {
            "resourceType": "Appointment",
            "status": "booked",
            "slot": [{"reference": f"Slot/{cast(Slot, SlotFactory(clinician=w.doctor)).pk}"}],
            "participant": [{"actor": {"reference": f"Patient/{w.patient_a.pk}"}}],
        },
        headers={"HTTP_IDEMPOTENCY_KEY": "matrix-fhir-book"},
    ),
    Action(
        "FHIR Appointment cancel (A's)",
        "patch",
        lambda w: f"/fhir/R4/Appointment/{w.open_consultation.appointment_id}",
        R(200, 404, 200, 404, 404, 200, 401),
        body=lambda w: {"status": "cancelled"},
    ),
    Action(
        "FHIR Appointment cancel by PUT (A's)",
        "put",
        lambda w: f"/fhir/R4/Appointment/{w.open_consultation.appointment_id}",
        R(200, 404, 200, 404, 404, 200, 401),
        body=lambda w: {
            "resourceType": "Appointment",
            "id": str(w.open_consultation.appointment_id),
            "status": "cancelled",
        },
    ),
]

CASES = [
    pytest.param(action, role, id=f"{action.name} | {role}") for action in ACTIONS for role in ROLES
]


def foundation_state() -> dict[str, Any]:
    return {
        **db_state(),
        "users": list(User.objects.order_by("pk").values("pk", "email", "role", "is_active")),
        "profiles": ClinicianProfile.objects.count(),
        "hospitals": Hospital.objects.count(),
        "rules": AvailabilityRule.objects.count(),
        "waitlist": list(WaitlistEntry.objects.order_by("pk").values("pk", "status")),
        "offers": list(WaitlistOffer.objects.order_by("pk").values("pk", "status")),
        "calendar_feeds": list(
            CalendarFeed.objects.order_by("pk").values(
                "pk", "owner", "token_hash", "include_details"
            )
        ),
    }


def client_as(world: World, role: str) -> APIClient:
    from rest_framework_simplejwt.tokens import RefreshToken

    client = APIClient()
    if role != "anonymous":
        token = RefreshToken.for_user(getattr(world, role)).access_token
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client


@pytest.mark.parametrize(("action", "role"), CASES)
def test_permission_matrix(action: Action, role: str):
    # given the clinical world and the role's client
    world = clinical_world()
    client = client_as(world, role)
    path = action.path(world)
    body = action.body(world) if action.body is not None else None
    before = foundation_state()
    # when the role performs the action
    kwargs: dict[str, Any] = {"format": "json", **(action.headers or {})}
    if body is not None:
        kwargs["data"] = body
    response = getattr(client, action.method)(path, **kwargs)
    # then the status is the table's, in the error envelope when refused, changing nothing
    expected = action.expected[role]
    assert response.status_code == expected, (action.name, role, response.content[:300])
    if path.startswith("/fhir/"):  # every FHIR answer is a valid R4B resource
        from tests.fhir.helpers import answer

        answer(response)
    if expected >= 400:
        refusal = response.json()
        if path.startswith("/fhir/"):
            assert refusal["resourceType"] == "OperationOutcome"
        else:
            assert "error" in refusal
        assert foundation_state() == before


def test_the_table_covers_every_clinical_endpoint():
    """A new clinical URL without a row here fails this test."""
    from consultations.urls import urlpatterns as consultation_urls
    from labs.urls import urlpatterns as lab_urls

    routes = {str(p.pattern) for p in [*consultation_urls, *lab_urls]}
    row_of_route = {
        "consultations/": "consultations list",
        "consultations/<int:consultation_id>/": "consultation read",
        "consultations/<int:consultation_id>/status/": "consultation status",
        "consultations/<int:consultation_id>/addenda/": "consultation addendum",
        "prescriptions/": "prescription create",
        "prescriptions/<int:prescription_id>/": "prescription read",
        "prescriptions/<int:prescription_id>/cancel/": "prescription cancel",
        "prescriptions/<int:prescription_id>/pdf/": "prescription pdf",
        "lab-results/": "lab result create",
        "lab-results/<int:lab_result_id>/": "lab result read",
    }
    assert routes == set(row_of_route)
    names = {action.name for action in ACTIONS}
    assert set(row_of_route.values()) <= names


def test_the_table_covers_every_waitlist_endpoint():
    """A new waitlist URL or method without a row here fails this test."""
    from waitlist.urls import urlpatterns as waitlist_urls

    verbs = ("get", "post", "delete", "patch", "put")
    methods = {
        str(p.pattern): {m for m in verbs if hasattr(p.callback.view_class, m)}
        for p in waitlist_urls
    }
    row_of_route = {
        ("waitlist/", "get"): "waitlist list",
        ("waitlist/", "post"): "waitlist join",
        ("waitlist/<waitlist_id:entry_id>/", "get"): "waitlist entry read (A's)",
        ("waitlist/<waitlist_id:entry_id>/", "delete"): "waitlist leave (A's)",
        ("waitlist/offers/", "get"): "waitlist offers list",
        ("waitlist/offers/<waitlist_id:offer_id>/", "get"): "waitlist offer read (A's)",
        ("waitlist/offers/<waitlist_id:offer_id>/accept/", "post"): "waitlist offer accept (A's)",
        ("waitlist/offers/<waitlist_id:offer_id>/decline/", "post"): "waitlist offer decline (A's)",
    }
    assert {(route, m) for route, ms in methods.items() for m in ms} == set(row_of_route)
    names = {action.name for action in ACTIONS}
    assert set(row_of_route.values()) <= names


def test_the_table_covers_every_calendar_feed_endpoint():
    """A new calendars URL or method without a row here fails this test."""
    from calendars.feed_urls import urlpatterns as feed_urls
    from calendars.urls import urlpatterns as calendar_urls

    verbs = ("get", "post", "delete", "patch", "put")
    methods = {
        (str(p.pattern), m)
        for p in calendar_urls
        for m in verbs
        if hasattr(p.callback.view_class, m)
    }
    row_of_route = {
        ("me/calendar-feed/", "post"): "calendar feed issue",
        ("me/calendar-feed/", "get"): "calendar feed read (none of one's own)",
        ("me/calendar-feed/", "patch"): "calendar feed details (A has a feed)",
        ("me/calendar-feed/", "delete"): "calendar feed revoke (A has a feed)",
    }
    assert methods == set(row_of_route)
    assert [p.name for p in feed_urls] == ["calendar-feed"]  # GET only: "calendar feed .ics"
    names = {action.name for action in ACTIONS}
    assert set(row_of_route.values()) | {"calendar feed .ics (A's)"} <= names


def test_the_table_covers_every_fhir_resource_type():
    """A new FHIR resource type without a read row here fails this test."""
    from fhir.registry import RESOURCE_TYPES

    names = {action.name for action in ACTIONS}
    assert {f"FHIR {kind} read" for kind in RESOURCE_TYPES} <= {
        name.partition(" (")[0] for name in names
    }
