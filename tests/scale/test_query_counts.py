"""No list endpoint of the API issues a number of queries that grows with the page (N+1).

The endpoints are discovered from the OpenAPI schema: every GET whose 200 answer is a
list (a ``Paginated…List`` or an array). Each one has a scenario below that makes rows
visible to one caller, every row with its own related objects (another patient, another
clinician, another hospital…), so a missing ``select_related`` / ``prefetch_related``
costs one query per row. The count with 20 rows must equal the count with 2.

A new list endpoint fails ``test_every_list_endpoint_has_a_scenario`` until it gets one.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from drf_spectacular.generators import SchemaGenerator

from core.audit import audit_record
from core.jobs import job_create
from tests.factories import (
    AddendumFactory,
    AppointmentFactory,
    DoctorFactory,
    HospitalFactory,
    LabResultFactory,
    PatientFactory,
    PrescriptionFactory,
    PsychologistFactory,
    SlotFactory,
    StaffFactory,
    appointment_for,
    completed_consultation,
    scheduled_consultation,
)

FEW, MANY = 2, 20


def _is_list(operation: dict[str, Any]) -> bool:
    content = operation["responses"].get("200", {}).get("content", {})
    schema = content.get("application/json", {}).get("schema", {})
    return schema.get("type") == "array" or schema.get("$ref", "").endswith("List")


def discovered_list_endpoints() -> list[str]:
    schema = SchemaGenerator().get_schema(request=None, public=True)
    return sorted(
        path
        for path, operations in schema["paths"].items()
        if "get" in operations and _is_list(operations["get"])
    )


@dataclass
class Scenario:
    """``viewer`` lists ``path`` (filled with ``kwargs``); ``add()`` adds one visible row."""

    viewer: Any
    add: Callable[[], object]
    kwargs: dict[str, Any] = field(default_factory=dict)


def _appointments_of_a_clinician() -> Scenario:
    doctor: Any = DoctorFactory()
    return Scenario(
        viewer=doctor,
        add=lambda: AppointmentFactory(
            slot__clinician=doctor, slot__hospital=HospitalFactory(), notes="seen"
        ),
    )


def _open_slots() -> Scenario:
    return Scenario(
        viewer=PatientFactory(),
        add=lambda: SlotFactory(clinician=DoctorFactory(), hospital=HospitalFactory()),
    )


def _clinicians() -> Scenario:
    return Scenario(viewer=PatientFactory(), add=lambda: DoctorFactory())


def _hospitals() -> Scenario:
    return Scenario(viewer=PatientFactory(), add=lambda: HospitalFactory())


def _a_patients_appointments() -> Scenario:
    patient: Any = PatientFactory()
    return Scenario(
        viewer=StaffFactory(),
        kwargs={"patient_id": patient.pk},
        add=lambda: AppointmentFactory(patient=patient, slot__hospital=HospitalFactory()),
    )


def _a_clinicians_appointments() -> Scenario:
    doctor: Any = DoctorFactory()
    return Scenario(
        viewer=StaffFactory(),
        kwargs={"clinician_id": doctor.pk},
        add=lambda: AppointmentFactory(slot__clinician=doctor, slot__hospital=HospitalFactory()),
    )


def _consultations() -> Scenario:
    doctor: Any = DoctorFactory()

    def add() -> object:
        consultation = scheduled_consultation(doctor, PatientFactory())
        AddendumFactory(consultation=consultation, author=doctor)
        return consultation

    return Scenario(viewer=doctor, add=add)


def _prescriptions() -> Scenario:
    doctor: Any = DoctorFactory()

    def add() -> object:
        consultation = completed_consultation(doctor, PatientFactory())
        return PrescriptionFactory(consultation=consultation, prescriber=doctor)

    return Scenario(viewer=doctor, add=add)


def _lab_results() -> Scenario:
    psychologist = PsychologistFactory()

    def add() -> object:
        # a patient of this clinician, with a result another clinician ordered
        patient = PatientFactory()
        appointment_for(psychologist, patient)
        return LabResultFactory(patient=patient, ordering_clinician=DoctorFactory())

    return Scenario(viewer=psychologist, add=add)


def _audit_events() -> Scenario:
    def add() -> object:
        with transaction.atomic():
            actor: Any = PatientFactory()
            return audit_record(actor=actor, action="appointment.book", obj=("x.y", actor.pk))

    return Scenario(viewer=StaffFactory(), add=add)


def _an_appointments_jobs() -> Scenario:
    appointment: Any = AppointmentFactory()
    return Scenario(
        viewer=appointment.patient,
        kwargs={"appointment_id": appointment.pk},
        add=lambda: job_create(kind="test.job", requested_by=PatientFactory(), subject=appointment),
    )


def _a_patients_series() -> Scenario:
    from scheduling.models import AppointmentSeries

    patient: Any = PatientFactory()

    def add() -> object:
        doctor: Any = DoctorFactory()
        series = AppointmentSeries.objects.create(
            patient=patient, clinician=doctor, count=2, first_start=timezone.now(), time_zone="UTC"
        )
        for _ in range(2):
            AppointmentFactory(
                patient=patient, slot__clinician=doctor, slot__hospital=HospitalFactory(),
                series=series,
            )  # fmt: skip
        return series

    return Scenario(viewer=patient, add=add)


def _waitlist_entries() -> Scenario:
    from waitlist.services import entry_join

    staff: Any = StaffFactory()

    def add() -> object:
        patient: Any = PatientFactory()
        doctor: Any = DoctorFactory()
        return entry_join(patient=patient, clinician=doctor, actor=patient)

    return Scenario(viewer=staff, add=add)


def _a_patients_offers() -> Scenario:
    from waitlist.services import entry_join, slot_offer_next

    patient: Any = PatientFactory()

    def add() -> object:
        doctor: Any = DoctorFactory()
        entry_join(patient=patient, clinician=doctor, actor=patient)
        slot: Any = SlotFactory(clinician=doctor, hospital=HospitalFactory())
        with transaction.atomic():
            return slot_offer_next(slot_id=slot.pk)

    return Scenario(viewer=patient, add=add)


SCENARIOS: dict[str, Callable[[], Scenario]] = {
    "/api/v1/appointments/": _appointments_of_a_clinician,
    "/api/v1/availability/": _open_slots,
    "/api/v1/clinicians/": _clinicians,
    "/api/v1/hospitals/": _hospitals,
    "/api/v1/patients/{patient_id}/appointments/": _a_patients_appointments,
    "/api/v1/clinicians/{clinician_id}/appointments/": _a_clinicians_appointments,
    "/api/v1/consultations/": _consultations,
    "/api/v1/prescriptions/": _prescriptions,
    "/api/v1/lab-results/": _lab_results,
    "/api/v1/audit-events/": _audit_events,
    "/api/v1/tasks/appointments/{appointment_id}/": _an_appointments_jobs,
    "/api/v1/appointment-series/": _a_patients_series,
    "/api/v1/waitlist/": _waitlist_entries,
    "/api/v1/waitlist/offers/": _a_patients_offers,
}

LIST_ENDPOINTS = discovered_list_endpoints()


def test_every_list_endpoint_has_a_scenario():
    assert set(LIST_ENDPOINTS) == set(SCENARIOS)


def _queries(client: Any, url: str, rows: int) -> list[str]:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url)
    assert response.status_code == 200, response.content
    body = response.json()
    listed = body["results"] if isinstance(body, dict) else body
    assert len(listed) == rows, f"{url}: expected {rows} rows visible, got {len(listed)}"
    return [query["sql"] for query in queries.captured_queries]


def _repeated(few: list[str], many: list[str]) -> list[str]:
    """The statements the bigger page ran more often: where the N+1 is."""
    return sorted({sql for sql in many if many.count(sql) > few.count(sql)})[:3]


@pytest.mark.django_db
@pytest.mark.parametrize("path", LIST_ENDPOINTS)
def test_list_query_count_does_not_grow_with_the_page(client_for, path):
    # given a caller who sees a few rows
    scenario = SCENARIOS[path]()
    for _ in range(FEW):
        scenario.add()
    client = client_for(scenario.viewer)
    url = path.format(**scenario.kwargs)
    client.get(url)  # warm per-process caches (content types, …) before measuring

    # when the page is read with 2 rows and again with 20
    few = _queries(client, url, FEW)
    for _ in range(MANY - FEW):
        scenario.add()
    many = _queries(client, url, MANY)

    # then the number of queries is the same
    assert len(many) == len(few), (
        f"{path}: {len(few)} queries for {FEW} rows, {len(many)} for {MANY}; "
        f"repeated: {_repeated(few, many)}"
    )
