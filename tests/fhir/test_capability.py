"""GET metadata: a public CapabilityStatement that lists exactly what the registry
serves, and every registry entry has its test: each interaction a named test below,
each search parameter its cases in test_search.SEARCH_CASES."""

from __future__ import annotations

import pytest

from fhir.registry import RESOURCE_TYPES
from tests.fhir import test_booking, test_read, test_search
from tests.fhir.helpers import fhir_get

pytestmark = pytest.mark.django_db

# (resource type, interaction) → the test that exercises it.
INTERACTION_TESTS = {
    **{(name, "read"): test_read.test_read_follows_the_rest_visibility
       for name in RESOURCE_TYPES},
    **{(name, "search-type"): test_search.test_search_parameter for name in RESOURCE_TYPES},
    ("Appointment", "create"): test_booking.test_post_books_the_slot_like_the_rest_api,
    ("Appointment", "patch"): test_booking.test_patch_to_cancelled_cancels_through_the_service,
    ("Appointment", "update"): test_booking.test_put_of_the_cancelled_resource_cancels,
}  # fmt: skip


def test_every_registry_interaction_has_a_test():
    registry = {(kind.name, code) for kind in RESOURCE_TYPES.values()
                for code in kind.interactions}  # fmt: skip
    assert set(INTERACTION_TESTS) == registry
    assert all(test.__name__.startswith("test_") for test in INTERACTION_TESTS.values())


@pytest.mark.parametrize("token", [None, "Bearer not-a-token"])
def test_metadata_is_public(api_client, token):
    # given no token, or a bad one
    if token:
        api_client.credentials(HTTP_AUTHORIZATION=token)
    # when the CapabilityStatement is read, then it is served (it names no record)
    status, statement = fhir_get(api_client, "metadata")
    assert status == 200
    assert statement["resourceType"] == "CapabilityStatement"
    assert statement["fhirVersion"] == "4.0.1"
    assert "application/fhir+json" in statement["format"]


def test_metadata_lists_exactly_what_the_tests_exercise(api_client):
    _, statement = fhir_get(api_client, "metadata")
    (rest,) = statement["rest"]
    listed = {
        resource["type"]: (
            {item["code"] for item in resource["interaction"]},
            {param["name"] for param in resource.get("searchParam", [])},
        )
        for resource in rest["resource"]
    }
    tested_interactions = {(kind, code) for kind, code in INTERACTION_TESTS}
    tested_params = set(test_search.SEARCH_CASES)
    assert {(k, code) for k, (codes, _) in listed.items() for code in codes} == (
        tested_interactions
    )
    assert {(k, name) for k, (_, names) in listed.items() for name in names} == tested_params
    # Patient.birthdate is there because Carebook keeps a date of birth
    assert "birthdate" in listed["Patient"][1]


def test_the_declared_interactions_answer(clinic, client_for):
    """Each listed interaction has a route that is not 405; others are 405 (test_read)."""
    client = client_for(clinic.staff)
    for name in RESOURCE_TYPES:
        assert client.get(f"/fhir/R4/{name}").status_code == 200
        assert client.get(f"/fhir/R4/{name}/1").status_code != 405
    assert client.post("/fhir/R4/Appointment", data="{}",
                       content_type="application/fhir+json").status_code == 400  # fmt: skip
    for method in ("patch", "put"):
        response = getattr(client, method)("/fhir/R4/Appointment/1", data="{}",
                                           content_type="application/fhir+json")  # fmt: skip
        assert response.status_code != 405
