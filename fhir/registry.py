"""The resource types this server supports: what each reads, how it is rendered, its
search parameters and interactions. The views dispatch from ``RESOURCE_TYPES`` and
the CapabilityStatement (``fhir.capability``) is built from it, so the two cannot
disagree; a test checks every entry has a test case."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db.models import Q, QuerySet

from accounts.models import User
from core.sql import ListQuery
from fhir import mapping
from fhir.errors import InvalidSearch
from fhir.search import (
    NOTHING,
    SearchParam,
    day_matches,
    instant_matches,
    name_matches,
    reference_id,
    token_code,
    token_system,
)
from fhir.selectors import (
    fhir_appointments_visible_to,
    fhir_slot_list,
    fhir_slots_visible_to,
    patients_visible_to,
    practitioners_visible_to,
)
from scheduling.models import Appointment, Slot

READ, SEARCH, CREATE, PATCH, UPDATE = "read", "search-type", "create", "patch", "update"


def _everything(queryset: QuerySet[Any]) -> QuerySet[Any]:
    return queryset


def _never_gone(record: Any) -> bool:
    return False


@dataclass(frozen=True)
class ResourceType:
    name: str
    visible: Callable[[User], QuerySet[Any]]  # THE access rule for read and search
    render: Callable[[Any, datetime], dict[str, Any]]
    order: tuple[str, ...]  # the keyset of search pages: an index's columns, id last
    params: tuple[SearchParam, ...]
    interactions: tuple[str, ...] = (READ, SEARCH)
    searchable: Callable[[QuerySet[Any]], QuerySet[Any]] = _everything
    gone: Callable[[Any], bool] = _never_gone  # read answers 410 (deleted) for these
    # Search through core.sql's compiled statements (fhir.compiled), where set: the
    # domain's list of what ``visible`` reads, ordered by ``order``, and the resource of
    # a plain row of ``row_columns``.
    visible_list: Callable[[User], ListQuery] | None = None
    row_columns: tuple[str, ...] = ()
    render_row: Callable[[Mapping[str, Any], datetime], dict[str, Any]] | None = None


def _reference(resource_type: str, column: str) -> Callable[[str, datetime], Q]:
    def match(value: str, now: datetime) -> Q:
        pk = reference_id(value, resource_type)
        return Q(**{column: pk}) if pk is not None else NOTHING

    return match


def _status(codes: dict[str, Callable[[datetime], Q]], others: frozenset[str]) -> Any:
    def match(value: str, now: datetime) -> Q:
        code = token_code(value)
        if code in codes:
            return codes[code](now)
        if code in others:
            return NOTHING  # a valid FHIR status that Carebook never has
        raise InvalidSearch(f"Unknown status {code!r}: use one of {', '.join(sorted(codes))}.")

    return match


# --- Practitioner and Schedule: the directory's clinicians ------------------------------


def _license(value: str, now: datetime) -> Q:
    system, code = token_system(value), token_code(value)
    if system not in (None, mapping.LICENSE_SYSTEM) or not code:
        return NOTHING
    return Q(clinician_profile__license_number=code)


def _person_name(value: str, now: datetime) -> Q:
    return name_matches(value, "first_name", "last_name")


PRACTITIONER = ResourceType(
    name="Practitioner",
    visible=practitioners_visible_to,
    render=lambda clinician, now: mapping.practitioner_resource(clinician),
    order=("id",),
    params=(
        SearchParam("name", "string", "Start of the given or family name.", _person_name),
        SearchParam(
            "identifier",
            "token",
            f"Licence number ({mapping.LICENSE_SYSTEM}|value or the value alone).",
            _license,
        ),
    ),
)

SCHEDULE = ResourceType(
    name="Schedule",
    visible=practitioners_visible_to,
    render=lambda clinician, now: mapping.schedule_resource(clinician),
    order=("id",),
    params=(
        SearchParam(
            "actor",
            "reference",
            "The clinician (Practitioner/id); a Schedule's id is its clinician's.",
            _reference("Practitioner", "pk"),
        ),
    ),
)

# --- Patient ----------------------------------------------------------------------------

PATIENT = ResourceType(
    name="Patient",
    visible=patients_visible_to,
    render=lambda patient, now: mapping.patient_resource(patient),
    order=("id",),
    params=(
        SearchParam("name", "string", "Start of the given or family name.", _person_name),
        SearchParam(
            "birthdate",
            "date",
            "Date of birth, by year, month or day, with eq/ge/le/gt/lt.",
            lambda value, now: day_matches("patient_profile__date_of_birth", value),
        ),
    ),
)

# --- Slot -------------------------------------------------------------------------------

_OPEN, _HELD = Slot.Status.OPEN, Slot.Status.HELD


def _no_live_hold(now: datetime) -> Q:
    return Q(held_until__isnull=True) | Q(held_until__lte=now)


SLOT_STATUSES: dict[str, Callable[[datetime], Q]] = {
    "free": lambda now: Q(status=_OPEN, seats_taken=0) & _no_live_hold(now),
    "busy-tentative": lambda now: (
        Q(status=_HELD) | (Q(status=_OPEN) & (Q(seats_taken__gt=0) | Q(held_until__gt=now)))
    ),
    "busy": lambda now: Q(status=Slot.Status.BOOKED),
    "busy-unavailable": lambda now: Q(status=Slot.Status.BLOCKED),
}

SLOT = ResourceType(
    name="Slot",
    visible=fhir_slots_visible_to,
    render=mapping.slot_resource,
    order=("start", "id"),
    params=(
        SearchParam(
            "schedule",
            "reference",
            "The clinician's Schedule (Schedule/id).",
            _reference("Schedule", "clinician_id"),
        ),
        SearchParam(
            "status",
            "token",
            "free (every seat free), busy-tentative (held, or a group slot partly taken), "
            "busy (no seat left), busy-unavailable (blocked).",
            _status(SLOT_STATUSES, frozenset({"entered-in-error"})),
        ),
        SearchParam(
            "start",
            "date",
            "Start time with eq/ge/le/gt/lt; repeat for a window.",
            lambda value, now: instant_matches("start", value),
        ),
    ),
    searchable=lambda slots: slots.exclude(status=Slot.Status.WITHDRAWN),
    gone=lambda slot: slot.status == Slot.Status.WITHDRAWN,
    visible_list=fhir_slot_list,
    row_columns=mapping.SLOT_COLUMNS,
    render_row=mapping.slot_row_resource,
)

# --- Appointment ------------------------------------------------------------------------

_Status = Appointment.Status
APPOINTMENT_STATUSES: dict[str, Callable[[datetime], Q]] = {
    "booked": lambda now: Q(status__in=[_Status.SCHEDULED, _Status.CONFIRMED]),
    "fulfilled": lambda now: Q(status=_Status.COMPLETED),
    "cancelled": lambda now: Q(status=_Status.CANCELLED),
    "noshow": lambda now: Q(status=_Status.NO_SHOW),
}
_OTHER_APPOINTMENT_STATUSES = frozenset(
    {"proposed", "pending", "arrived", "entered-in-error", "checked-in", "waitlist"}
)

APPOINTMENT = ResourceType(
    name="Appointment",
    visible=fhir_appointments_visible_to,
    render=lambda appointment, now: mapping.appointment_resource(appointment),
    order=("start", "id"),
    params=(
        SearchParam(
            "patient", "reference", "The patient (Patient/id).", _reference("Patient", "patient_id")
        ),
        SearchParam(
            "practitioner",
            "reference",
            "The clinician (Practitioner/id).",
            _reference("Practitioner", "clinician_id"),
        ),
        SearchParam(
            "date",
            "date",
            "Start time with eq/ge/le/gt/lt; repeat for a window.",
            lambda value, now: instant_matches("start", value),
        ),
        SearchParam(
            "status",
            "token",
            "booked (scheduled or confirmed), fulfilled, cancelled, noshow.",
            _status(APPOINTMENT_STATUSES, _OTHER_APPOINTMENT_STATUSES),
        ),
    ),
    interactions=(READ, SEARCH, CREATE, PATCH, UPDATE),
)

RESOURCE_TYPES: dict[str, ResourceType] = {
    kind.name: kind for kind in (PRACTITIONER, PATIENT, SCHEDULE, SLOT, APPOINTMENT)
}
