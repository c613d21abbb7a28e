from __future__ import annotations

import pytest

from accounts.selectors import clinicians_list, hospital_get, hospitals_list, user_get_for
from core.errors import NotFound
from tests.factories import (
    DoctorFactory,
    HospitalFactory,
    PatientFactory,
    PsychologistFactory,
    StaffFactory,
)

pytestmark = pytest.mark.django_db


class TestCliniciansList:
    def test_lists_active_clinicians_only(self):
        doctor = DoctorFactory()
        psychologist = PsychologistFactory()
        DoctorFactory(is_active=False)
        PatientFactory()
        StaffFactory()
        assert set(clinicians_list()) == {doctor, psychologist}

    def test_filters_by_kind_specialty_and_hospital(self):
        north, south = HospitalFactory(), HospitalFactory()
        cardiologist = DoctorFactory(profile__specialty="Cardiology", profile__hospital=north)
        DoctorFactory(profile__specialty="Dermatology", profile__hospital=south)
        psychologist = PsychologistFactory(profile__hospital=north)

        assert list(clinicians_list(kind="psychologist")) == [psychologist]
        assert list(clinicians_list(specialty="cardio")) == [cardiologist]
        assert set(clinicians_list(hospital_id=north.id)) == {cardiologist, psychologist}
        assert list(clinicians_list(kind="doctor", hospital_id=north.id)) == [cardiologist]

    def test_profile_and_hospital_come_in_one_query(self, django_assert_num_queries):
        for _ in range(5):
            DoctorFactory()
        with django_assert_num_queries(1):
            names = [u.clinician_profile.hospital.name for u in clinicians_list()]
        assert len(names) == 5


class TestHospitals:
    def test_list_is_ordered_by_name_and_get_answers_404_for_unknown(self):
        b = HospitalFactory(name="B clinic")
        a = HospitalFactory(name="A clinic")
        assert list(hospitals_list()) == [a, b]
        assert hospital_get(hospital_id=a.id) == a
        with pytest.raises(NotFound):
            hospital_get(hospital_id=999_999)


class TestUserGetFor:
    def test_staff_see_anyone(self):
        staff, patient = StaffFactory(), PatientFactory()
        assert user_get_for(viewer=staff, user_id=patient.id) == patient

    def test_a_user_sees_themself(self):
        patient = PatientFactory()
        assert user_get_for(viewer=patient, user_id=patient.id) == patient

    @pytest.mark.parametrize("viewer_factory", [PatientFactory, DoctorFactory])
    def test_anyone_else_is_not_found(self, viewer_factory):
        viewer, other = viewer_factory(), PatientFactory()
        with pytest.raises(NotFound):
            user_get_for(viewer=viewer, user_id=other.id)
        with pytest.raises(NotFound):
            user_get_for(viewer=viewer, user_id=999_999)
