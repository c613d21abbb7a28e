"""Search: every parameter of the registry has a case here (a test checks it), each run
as a role and compared with the exact ids expected; paging, bad parameters, unknown
parameters. Every Bundle is validated against the R4B models by the helpers."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import quote

import pytest

from fhir.registry import RESOURCE_TYPES
from tests.factories import SlotFactory
from tests.fhir.conftest import hours_ahead
from tests.fhir.helpers import fhir_get, ids, link, local, outcome_code, query_of

pytestmark = pytest.mark.django_db


def _iso(hours: float) -> str:
    return quote(hours_ahead(hours).isoformat())


# (resource type, parameter) → [(role, query, expected record names)]. The names are
# attributes of the clinic (``free.1`` is ``clinic.free[1]``, ``booked_a`` A's slot).
SEARCH_CASES: dict[tuple[str, str], list[tuple[str, str, list[str]]]] = {
    ("Practitioner", "name"): [
        ("patient_a", "name=lind", ["doctor"]),
        ("patient_a", "name=HAD", ["other"]),
        ("patient_a", "name=omar,greta", ["doctor", "other"]),
        ("patient_a", "name=Zed", []),
    ],
    ("Practitioner", "identifier"): [
        ("patient_a", "identifier=GMC-1001", ["doctor"]),
        ("patient_a", "identifier=urn:carebook:license-number|HCPC-2002", ["other"]),
        ("patient_a", "identifier=urn:other|GMC-1001", []),
    ],
    ("Patient", "name"): [
        ("staff", "name=arch", ["patient_a"]),
        ("staff", "name=bob", ["patient_b"]),
        ("patient_a", "name=bob", []),
        ("staff", "name=arch,brown", ["patient_a", "patient_b"]),
        ("doctor", "name=arch,brown", ["patient_a"]),  # Bob is not the doctor's patient
    ],
    ("Patient", "birthdate"): [
        ("staff", "birthdate=1980", ["patient_a"]),
        ("staff", "birthdate=1980-05-17", ["patient_a"]),
        ("staff", "birthdate=1980-05-18", []),
        ("staff", "birthdate=ge1990-01", ["patient_b"]),
        ("staff", "birthdate=lt1991-11-02", ["patient_a"]),
        ("staff", "birthdate=le1991-11-02", ["patient_a", "patient_b"]),
        ("staff", "birthdate=gt1980-05-17", ["patient_b"]),
    ],
    ("Schedule", "actor"): [
        ("patient_a", "actor=Practitioner/{doctor}", ["doctor"]),
        ("patient_a", "actor={other}", ["other"]),
        ("patient_a", "actor=Patient/{doctor}", []),
    ],
    ("Slot", "schedule"): [
        ("patient_a", "schedule=Schedule/{doctor}", ["free.0", "free.1", "free.2"]),
        ("doctor", "schedule=Schedule/{doctor}", ["free.0", "free.1", "free.2", "booked_a"]),
        ("staff", "schedule=Schedule/{other}", ["booked_b"]),
    ],
    ("Slot", "status"): [
        ("staff", "status=free", ["free.0", "free.1", "free.2"]),
        ("staff", "status=busy", ["booked_a", "booked_b"]),
        ("staff", "status=busy-tentative", []),
        ("staff", "status=http://hl7.org/fhir/slotstatus|busy", ["booked_a", "booked_b"]),
        ("patient_a", "status=busy", []),  # a patient sees open slots only
    ],
    ("Slot", "start"): [
        ("patient_a", "start=ge{h25}&start=lt{h30}", ["free.0", "free.1"]),
        ("patient_a", "start=gt{h26}", ["free.1", "free.2"]),
        ("patient_a", "start=le{h26}", ["free.0"]),
        ("patient_a", "start={day50}", ["free.2"]),
    ],
    ("Appointment", "patient"): [
        ("staff", "patient=Patient/{patient_a}", ["appointment_a"]),
        ("patient_a", "patient={patient_a}", ["appointment_a"]),
        ("patient_a", "patient=Patient/{patient_b}", []),  # never another's data
        ("doctor", "patient=Patient/{patient_b}", []),
    ],
    ("Appointment", "practitioner"): [
        ("staff", "practitioner=Practitioner/{other}", ["appointment_b"]),
        ("patient_a", "practitioner=Practitioner/{other}", []),
    ],
    ("Appointment", "date"): [
        ("staff", "date=ge{h71}&date=lt{h73}", ["appointment_a"]),
        ("staff", "date=gt{h73}", ["appointment_b"]),
    ],
    ("Appointment", "status"): [
        ("staff", "status=booked", ["appointment_a", "appointment_b"]),
        ("staff", "status=cancelled", []),
        ("staff", "status=booked,cancelled", ["appointment_a", "appointment_b"]),
        ("staff", "status=waitlist", []),
    ],
}

RESOURCE_OF_NAME = {
    "doctor": "Practitioner", "other": "Practitioner", "patient_a": "Patient",
    "patient_b": "Patient", "appointment_a": "Appointment", "appointment_b": "Appointment",
}  # fmt: skip


def _record_id(clinic, name: str) -> int:
    if name.startswith("free."):
        return clinic.free[int(name[5:])].pk
    if name == "booked_a":
        return clinic.appointment_a.slot_id
    if name == "booked_b":
        return clinic.appointment_b.slot_id
    return getattr(clinic, name).pk


def _query(clinic, template: str) -> str:
    values = {
        "doctor": clinic.doctor.pk, "other": clinic.other.pk,
        "patient_a": clinic.patient_a.pk, "patient_b": clinic.patient_b.pk,
        "h25": _iso(25), "h26": _iso(26), "h30": _iso(30), "h71": _iso(71), "h73": _iso(73),
        "day50": hours_ahead(50).strftime("%Y-%m-%dT%H:%M"),
    }  # fmt: skip
    return template.format(**values)


def test_every_registry_search_parameter_has_cases():
    registry = {(kind.name, param.name) for kind in RESOURCE_TYPES.values()
                for param in kind.params}  # fmt: skip
    assert set(SEARCH_CASES) == registry
    assert all(SEARCH_CASES.values())


@pytest.mark.parametrize(
    ("resource_type", "role", "query", "expected"),
    [
        pytest.param(kind, role, query, expected, id=f"{kind}?{query} as {role}")
        for (kind, _), cases in SEARCH_CASES.items()
        for role, query, expected in cases
    ],
)
def test_search_parameter(clinic, client_for, resource_type, role, query, expected):
    # given the role's client
    client = client_for(getattr(clinic, role))
    # when it searches
    status, bundle = fhir_get(client, f"{resource_type}?{_query(clinic, query)}")
    # then exactly the expected records match, in index order, and the total says so
    assert status == 200, bundle
    found = ids(bundle, resource_type)
    wanted = [_record_id(clinic, name) for name in expected]
    assert sorted(found) == sorted(wanted)
    assert bundle["total"] == len(wanted)
    assert link(bundle, "next") is None


def test_search_links_name_what_was_asked(clinic, client_for):
    client = client_for(clinic.patient_a)
    _, bundle = fhir_get(client, f"Slot?schedule=Schedule/{clinic.doctor.pk}&status=free")
    assert link(bundle, "self").startswith("http://testserver/fhir/R4/Slot?")
    assert query_of(link(bundle, "self")) == [
        ("schedule", f"Schedule/{clinic.doctor.pk}"), ("status", "free"), ("_count", "50"),
    ]  # fmt: skip
    entry = bundle["entry"][0]
    assert entry["fullUrl"] == f"http://testserver/fhir/R4/Slot/{entry['resource']['id']}"


def test_paging_walks_every_match_once_in_order(clinic, client_for):
    # given seven more free slots of the other clinician
    extra = [
        SlotFactory(clinician=clinic.other, start=hours_ahead(100 + n),
                    end=hours_ahead(100 + n) + timedelta(minutes=30))
        for n in range(7)
    ]  # fmt: skip
    client = client_for(clinic.patient_a)
    # when pages of three are read by following next
    seen, totals, url = [], set(), f"Slot?schedule=Schedule/{clinic.other.pk}&_count=3"
    pages = 0
    while url:
        status, bundle = fhir_get(client, url)
        assert status == 200
        seen += ids(bundle)
        totals.add(bundle["total"])
        pages += 1
        next_url = link(bundle, "next")
        url = local(next_url) if next_url else None
    # then every slot came once, in start order, and each page gave the whole total
    assert seen == [slot.pk for slot in extra]
    assert (pages, totals) == (3, {7})


def test_count_zero_gives_the_total_only(clinic, client_for):
    status, bundle = fhir_get(client_for(clinic.staff), "Slot?_count=0")
    assert status == 200
    assert bundle["total"] == 5
    assert "entry" not in bundle


def test_count_above_the_maximum_is_reduced(clinic, client_for):
    _, bundle = fhir_get(client_for(clinic.staff), "Slot?_count=100000")
    assert ("_count", "200") in query_of(link(bundle, "self"))


@pytest.mark.parametrize(
    "query",
    [
        "Slot?start=tomorrow",
        "Slot?start=xx2026-01-01",
        "Slot?start=ne2026-01-01",
        "Slot?start=2026-13-01",
        "Slot?start=2026-02-30",
        "Slot?start=2026-01-01T25:00",
        "Slot?start=0000",
        "Slot?start=9999",
        "Slot?status=open",
        "Slot?_count=-1",
        "Slot?_count=abc",
        "Slot?_count=1.5",
        "Slot?_cursor=not-a-cursor",
        "Slot?_cursor=WzFd",  # [1]: the wrong shape for a (start, id) keyset
        "Slot?_cursor=WyJ4IiwgMV0",  # ["x", 1]
        "Patient?name:exact=Alice",
        "Patient?birthdate=1980-05-17T10:00",
        "Patient?name=" + "a" * 300,
        "Patient?name=a%00b",
        "Appointment?status=scheduled",
        "Appointment?date=lt",
    ],
)
def test_bad_parameters_are_400(clinic, client_for, query):
    status, body = fhir_get(client_for(clinic.staff), query)
    assert status == 400, body
    assert outcome_code(body) == ("invalid", "invalid_search_parameter")


def test_unknown_parameters_are_ignored_with_a_warning(clinic, client_for):
    client = client_for(clinic.staff)
    # lenient (the default): the search runs without them and says so
    status, bundle = fhir_get(client, "Slot?status=busy&colour=blue&_sort=start")
    assert status == 200
    assert len(ids(bundle)) == 2
    outcomes = [e["resource"] for e in bundle["entry"] if e["search"]["mode"] == "outcome"]
    assert len(outcomes) == 1
    assert outcomes[0]["issue"][0]["severity"] == "warning"
    assert "'colour'" in outcomes[0]["issue"][0]["details"]["text"]
    assert query_of(link(bundle, "self")) == [("status", "busy"), ("_count", "50")]
    # strict: a 400
    status, body = fhir_get(client, "Slot?colour=blue", HTTP_PREFER="handling=strict")
    assert status == 400
    assert outcome_code(body)[0] == "invalid"


def test_empty_values_are_ignored(clinic, client_for):
    status, bundle = fhir_get(client_for(clinic.staff), "Slot?status=&start=")
    assert status == 200
    assert bundle["total"] == 5


def test_a_patient_never_finds_another_patients_appointments(clinic, client_for):
    client = client_for(clinic.patient_b)
    for query in (
        f"Appointment?patient=Patient/{clinic.patient_a.pk}",
        f"Appointment?practitioner=Practitioner/{clinic.doctor.pk}",
        "Appointment",
    ):
        status, bundle = fhir_get(client, query)
        assert status == 200
        assert clinic.appointment_a.pk not in ids(bundle)
    _, bundle = fhir_get(client, f"Appointment?patient=Patient/{clinic.patient_a.pk}")
    assert (bundle["total"], bundle.get("entry")) == (0, None)


def test_search_without_a_token_is_401(clinic, api_client):
    response = api_client.get("/fhir/R4/Slot")
    assert response.status_code == 401
