"""Lab corrections belong to the ordering clinician, or to staff through the audited admin.

Another clinician of the patient reads the result but may not supersede it (403); one who
cannot see it gets 404, as everywhere in the clinical API (docs/clinical.md).
"""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from django.contrib.auth.models import Permission
from django.utils import timezone

from audit.models import AuditEvent
from core.errors import RoleNotAllowed
from labs.flags import Ranges
from labs.models import LabResult
from labs.services import lab_result_correct_by_staff
from tests.clinical_world import db_state
from tests.factories import StaffFactory

pytestmark = pytest.mark.django_db

URL = "/api/v1/lab-results/"


def correction_of(result: LabResult, value="3.9"):
    return {
        "patient": result.patient_id,
        "test_code": result.test_code,
        "test_name": result.test_name,
        "value": value,
        "unit": result.unit,
        "collected_at": result.collected_at.isoformat(),
        "supersedes": result.pk,
    }


@pytest.mark.parametrize(
    ("who", "status", "code"),
    [
        ("psychologist", 403, "not_ordering_clinician"),  # sees patient A's results
        ("other_doctor", 404, "patient_not_found"),  # does not see the patient at all
        ("patient_a", 403, "role_not_allowed"),
        ("staff", 403, "permission_denied"),  # staff correct through the admin
    ],
)
def test_only_the_ordering_clinician_corrects_through_the_api(client_for, world, who, status, code):
    # given a result ordered by the doctor, which the psychologist can read too
    result = world.lab_result
    assert client_for(world.psychologist).get(f"{URL}{result.pk}/").status_code == 200
    before = db_state()

    # when someone else sends a correction
    response = client_for(getattr(world, who)).post(URL, correction_of(result), format="json")

    # then it is refused with the rule's code, and nothing changed
    assert response.status_code == status, response.json()
    assert response.json()["error"]["code"] == code
    assert db_state() == before


def test_the_ordering_clinician_corrects(client_for, world):
    response = client_for(world.doctor).post(URL, correction_of(world.lab_result), format="json")

    assert response.status_code == 201, response.json()
    assert response.json()["supersedes"] == world.lab_result.pk


def staff_with_correct_permission():
    staff = StaffFactory(is_staff=True)
    staff.user_permissions.add(
        Permission.objects.get(content_type__app_label="labs", codename="add_labresult")
    )
    return staff


def test_staff_correct_through_the_admin_and_the_audit_names_them(client, world):
    # given a staff member allowed to add lab results, on the result's correction page
    staff = staff_with_correct_permission()
    original = world.lab_result
    client.force_login(staff)
    url = f"/admin/labs/labresult/{original.pk}/correct/"
    page = client.get(url)
    assert page.status_code == 200

    # when they record a corrected value
    response = client.post(
        url,
        {
            "value": "2.1",
            "unit": "mmol/L",
            "reference_low": "3.5",
            "reference_high": "5.1",
            "critical_low": "2.5",
            "critical_high": "6.5",
            "reported_at": timezone.now().strftime("%Y-%m-%d %H:%M:%S"),
        },
    )

    # then a correction supersedes the original, still the ordering clinician's
    assert response.status_code == 302
    correction = LabResult.objects.get(supersedes=original)
    assert correction.value_numeric == Decimal("2.1")
    assert correction.flag == "critical"
    assert correction.status == "corrected"
    assert correction.ordering_clinician_id == world.doctor.pk
    assert (correction.patient_id, correction.test_code) == (
        original.patient_id,
        original.test_code,
    )
    # and the audit row names the staff member, with no value in it
    row = AuditEvent.objects.get(action="lab_result.correct")
    assert (row.actor_id, row.actor_role, row.object_id) == (staff.pk, "staff", str(correction.pk))
    assert row.metadata == {"via": "admin"}
    assert "2.1" not in str(row.changes)


def test_staff_without_the_permission_cannot_correct(client, world):
    client.force_login(StaffFactory(is_staff=True))
    before = db_state()

    response = client.post(
        f"/admin/labs/labresult/{world.lab_result.pk}/correct/",
        {"value": "2.1", "reported_at": timezone.now().strftime("%Y-%m-%d %H:%M:%S")},
    )

    assert response.status_code == 403
    assert db_state() == before


def test_the_admin_correction_page_refuses_bad_input_without_a_500(client, world):
    client.force_login(staff_with_correct_permission())
    url = f"/admin/labs/labresult/{world.lab_result.pk}/correct/"
    before = list(LabResult.objects.order_by("pk").values())
    for data in (
        {"value": "", "reported_at": "x"},
        {"value": "1e30", "reported_at": timezone.now().isoformat()},
        {"value": "2", "reference_low": "9", "reference_high": "1", "reported_at": "2020-01-01"},
    ):
        assert client.post(url, data).status_code == 200  # the form again, with its errors
    assert client.get("/admin/labs/labresult/999999/correct/").status_code == 404
    assert client.get("/admin/labs/labresult/abc/correct/").status_code == 404
    # (each page shown is an audited read of the result; no correction was recorded)
    assert list(LabResult.objects.order_by("pk").values()) == before
    assert not AuditEvent.objects.filter(action="lab_result.correct").exists()


def test_the_staff_service_refuses_anyone_but_staff(world):
    with pytest.raises(RoleNotAllowed):
        lab_result_correct_by_staff(
            actor=world.doctor,
            supersedes_id=world.lab_result.pk,
            value_numeric=Decimal("2.1"),
            value_text="",
            unit="mmol/L",
            ranges=Ranges(),
            reported_at=timezone.now() + timedelta(minutes=1),
        )
    assert not LabResult.objects.filter(supersedes=world.lab_result).exists()
