from __future__ import annotations

import pytest

from tests.accounts.test_api_auth import assert_error
from tests.factories import (
    DoctorFactory,
    HospitalFactory,
    PatientFactory,
    PsychologistFactory,
    StaffFactory,
)

pytestmark = pytest.mark.django_db

CLINICIANS = "/api/v1/clinicians/"
HOSPITALS = "/api/v1/hospitals/"


@pytest.fixture
def patient_client(client_for):
    return client_for(PatientFactory())


class TestClinicians:
    def test_lists_clinicians_with_public_fields_only(self, patient_client):
        # given
        hospital = HospitalFactory(name="North Clinic", city="Leeds")
        doctor = DoctorFactory(
            first_name="Ann",
            last_name="Able",
            profile__specialty="Cardiology",
            profile__hospital=hospital,
            profile__license_number="SECRET-LIC",
            profile__bio="Hearts.",
        )
        PatientFactory()
        StaffFactory()
        # when
        response = patient_client.get(CLINICIANS)
        # then
        assert response.status_code == 200
        body = response.json()
        assert body["count"] == 1
        assert body["results"] == [
            {
                "id": doctor.id,
                "kind": "doctor",
                "first_name": "Ann",
                "last_name": "Able",
                "full_name": "Ann Able",
                "specialty": "Cardiology",
                "bio": "Hearts.",
                "hospital": {
                    "id": hospital.id,
                    "code": hospital.code,
                    "name": "North Clinic",
                    "city": "Leeds",
                },
            }
        ]

    def test_never_leaks_passwords_hashes_or_emails(self, patient_client):
        doctors = [DoctorFactory(), PsychologistFactory()]
        text = patient_client.get(CLINICIANS).content.decode()
        for doctor in doctors:
            assert doctor.password not in text
            assert doctor.email not in text
        for secret_word in ("password", "md5$", "argon2", "pbkdf2", "is_superuser", "is_staff"):
            assert secret_word not in text

    def test_filters_by_kind_specialty_and_hospital(self, patient_client):
        north, south = HospitalFactory(), HospitalFactory()
        cardio = DoctorFactory(profile__specialty="Cardiology", profile__hospital=north)
        derma = DoctorFactory(profile__specialty="Dermatology", profile__hospital=south)
        psy = PsychologistFactory(profile__hospital=north)

        def ids(query: str) -> set[int]:
            response = patient_client.get(CLINICIANS + query)
            assert response.status_code == 200
            return {row["id"] for row in response.json()["results"]}

        assert ids("") == {cardio.id, derma.id, psy.id}
        assert ids("?kind=psychologist") == {psy.id}
        assert ids("?kind=doctor") == {cardio.id, derma.id}
        assert ids("?specialty=cardio") == {cardio.id}
        assert ids(f"?hospital={north.id}") == {cardio.id, psy.id}
        assert ids(f"?kind=doctor&hospital={south.id}") == {derma.id}

    @pytest.mark.parametrize(
        ("query", "field"),
        [("?kind=staff", "kind"), ("?hospital=999999", "hospital"), ("?hospital=abc", "hospital")],
    )
    def test_bad_filters_are_400(self, patient_client, query, field):
        error = assert_error(patient_client.get(CLINICIANS + query), 400, "validation_error")
        assert field in error["details"]["fields"]

    def test_is_paginated(self, patient_client):
        for _ in range(3):
            DoctorFactory()
        body = patient_client.get(CLINICIANS + "?page_size=2").json()
        assert body["count"] == 3
        assert len(body["results"]) == 2
        assert body["next"] is not None
        second = patient_client.get(CLINICIANS + "?page_size=2&page=2").json()
        assert len(second["results"]) == 1
        assert_error(patient_client.get(CLINICIANS + "?page=9"), 404, "not_found")

    def test_query_count_does_not_grow_with_clinicians(
        self, patient_client, django_assert_max_num_queries
    ):
        for _ in range(10):
            DoctorFactory()
        # auth user lookup + count + page
        with django_assert_max_num_queries(3):
            assert patient_client.get(CLINICIANS).status_code == 200

    def test_anonymous_is_401(self, api_client):
        assert_error(api_client.get(CLINICIANS), 401, "not_authenticated")


class TestHospitals:
    def test_list_and_detail(self, patient_client):
        hospital = HospitalFactory(name="Alpha", code="ALPHA-1", country="FR", city="Lyon")
        HospitalFactory(name="Beta", country="GB")
        listing = patient_client.get(HOSPITALS)
        assert listing.status_code == 200
        assert [row["name"] for row in listing.json()["results"]] == ["Alpha", "Beta"]
        detail = patient_client.get(f"{HOSPITALS}{hospital.id}/")
        assert detail.status_code == 200
        assert detail.json() == {
            "id": hospital.id,
            "code": "ALPHA-1",
            "name": "Alpha",
            "address": hospital.address,
            "city": "Lyon",
            "region": hospital.region,
            "postal_code": hospital.postal_code,
            "country": "FR",
            "phone": hospital.phone,
        }

    def test_filters(self, patient_client):
        lyon = HospitalFactory(name="Alpha", code="ALPHA-1", country="FR", city="Lyon")
        leeds = HospitalFactory(name="Beta", code="BETA-1", country="GB", city="Leeds")

        def names(query: str) -> list[str]:
            return [row["name"] for row in patient_client.get(HOSPITALS + query).json()["results"]]

        assert names("?country=fr") == [lyon.name]
        assert names("?city=leeds") == [leeds.name]
        assert names("?q=beta-") == [leeds.name]
        assert names("?q=alp") == [lyon.name]

    def test_unknown_id_is_404(self, patient_client):
        assert_error(patient_client.get(f"{HOSPITALS}999999/"), 404, "not_found")

    def test_anonymous_is_401(self, api_client):
        hospital = HospitalFactory()
        assert_error(api_client.get(HOSPITALS), 401, "not_authenticated")
        assert_error(api_client.get(f"{HOSPITALS}{hospital.id}/"), 401, "not_authenticated")

    @pytest.mark.parametrize("method", ["post", "put", "patch", "delete"])
    def test_the_directory_is_read_only(self, client_for, method):
        hospital = HospitalFactory(name="Keep")
        client = client_for(StaffFactory())
        response = getattr(client, method)(
            f"{HOSPITALS}{hospital.id}/", {"name": "X"}, format="json"
        )
        assert_error(response, 405, "method_not_allowed")
        hospital.refresh_from_db()
        assert hospital.name == "Keep"
