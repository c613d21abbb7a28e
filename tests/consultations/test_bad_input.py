"""Unknown and foreign ids, and malformed bodies, on every clinical endpoint: 4xx, no change."""

from __future__ import annotations

import pytest

from tests.clinical_world import db_state

pytestmark = pytest.mark.django_db

UNKNOWN = 987654321
HUGE = 99999999999999999999  # beyond bigint: still a 404, never a database error

# (method, path template, body); {id} is replaced by an unknown, huge or foreign id.
ENDPOINTS = [
    ("get", "/api/v1/consultations/{id}/", None),
    ("patch", "/api/v1/consultations/{id}/", {"notes": "x"}),
    ("patch", "/api/v1/consultations/{id}/status/", {"status": "in_progress"}),
    ("post", "/api/v1/consultations/{id}/addenda/", {"text": "x"}),
    ("get", "/api/v1/prescriptions/{id}/", None),
    ("get", "/api/v1/prescriptions/{id}/pdf/", None),
    ("post", "/api/v1/prescriptions/{id}/cancel/", {"reason": "x"}),
    ("get", "/api/v1/lab-results/{id}/", None),
]

# The record of patient B each template names, for the "foreign id" case.
FOREIGN = {
    "consultations": lambda w: w.consultation_b.pk,
    "prescriptions": lambda w: w.prescription_b.pk,
    "lab-results": lambda w: w.lab_result_b.pk,
}


def call(client, method, path, body):
    if body is None:
        return getattr(client, method)(path)
    return getattr(client, method)(path, body, format="json")


@pytest.mark.parametrize(("method", "template", "body"), ENDPOINTS)
@pytest.mark.parametrize("kind", ["unknown", "huge", "foreign"])
def test_ids_you_may_not_see_are_404_and_change_nothing(
    client_for, world, method, template, body, kind
):
    resource = template.split("/")[3]
    record_id = {"unknown": UNKNOWN, "huge": HUGE}.get(kind) or FOREIGN[resource](world)
    before = db_state()
    response = call(client_for(world.doctor), method, template.format(id=record_id), body)
    assert response.status_code == 404, response.content[:200]
    assert response.json()["error"]["code"].endswith("not_found")
    assert db_state() == before


NOTES = "/api/v1/consultations/{open}/"
WRITES = [
    ("patch", NOTES),
    ("patch", "/api/v1/consultations/{open}/status/"),
    ("post", "/api/v1/consultations/{done}/addenda/"),
    ("post", "/api/v1/prescriptions/"),
    ("post", "/api/v1/prescriptions/{rx}/cancel/"),
    ("post", "/api/v1/lab-results/"),
]
# (raw body, content type, status, error code): each malformation has one answer.
BAD_BODIES = [
    pytest.param('{"a": ', "application/json", 400, "malformed_request", id="truncated JSON"),
    pytest.param("[1, 2]", "application/json", 400, "validation_error", id="JSON list"),
    pytest.param('"text"', "application/json", 400, "validation_error", id="JSON string"),
    pytest.param("null", "application/json", 400, "validation_error", id="JSON null"),
    # an empty body is no field at all: the notes endpoint names that (empty_update)
    pytest.param("", "application/json", 400, "validation_error", id="empty body"),
    pytest.param(
        "a=1", "application/x-www-form-urlencoded", 415, "unsupported_media_type", id="form body"
    ),
    pytest.param("\xff\xfe", "application/json", 400, "malformed_request", id="not UTF-8"),
]


@pytest.mark.parametrize(("method", "template"), WRITES)
@pytest.mark.parametrize(("raw", "content_type", "status", "code"), BAD_BODIES)
def test_malformed_bodies_are_4xx_and_change_nothing(
    client_for, world, method, template, raw, content_type, status, code
):
    path = template.format(
        open=world.open_consultation.pk, done=world.done_consultation.pk, rx=world.prescription.pk
    )
    before = db_state()
    response = getattr(client_for(world.doctor), method)(
        path, data=raw.encode("latin-1"), content_type=content_type
    )
    assert response.status_code == status, response.content[:200]
    if raw == "" and template == NOTES:
        code = "empty_update"
    assert response.json()["error"]["code"] == code
    assert db_state() == before


@pytest.mark.parametrize(
    "body",
    [{}, {"text": ""}, {"text": 5}, {"text": "x", "shared_with_patient": "true"}, {"text": None}],
)
def test_addendum_bad_fields_are_400(client_for, world, body):
    before = db_state()
    response = client_for(world.doctor).post(
        f"/api/v1/consultations/{world.done_consultation.pk}/addenda/", body, format="json"
    )
    assert response.status_code == 400
    assert db_state() == before
