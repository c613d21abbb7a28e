from __future__ import annotations

import pytest
from django.contrib.auth.models import AnonymousUser
from rest_framework.response import Response
from rest_framework.test import APIRequestFactory, force_authenticate
from rest_framework.views import APIView

from accounts.permissions import (
    IsClinicianOrStaff,
    IsRecordReader,
    IsRecordWriter,
    IsStaffRole,
    is_record_clinician,
    is_record_patient,
    is_staff_role,
    require_role,
)
from core.errors import NotAllowed
from tests.factories import DoctorFactory, PatientFactory, PsychologistFactory, StaffFactory

pytestmark = pytest.mark.django_db

ALLOWED = {
    IsRecordReader: {"patient", "doctor", "psychologist"},
    IsRecordWriter: {"doctor", "psychologist"},
    IsStaffRole: {"staff"},
    IsClinicianOrStaff: {"doctor", "psychologist", "staff"},
}
FACTORIES = {
    "patient": PatientFactory,
    "doctor": DoctorFactory,
    "psychologist": PsychologistFactory,
    "staff": StaffFactory,
}


class Guarded(APIView):
    def get(self, request):
        return Response({"ok": True})


@pytest.mark.parametrize("permission", list(ALLOWED))
@pytest.mark.parametrize("role", list(FACTORIES))
def test_role_permissions_answer_200_or_403_in_the_envelope(permission, role):
    # given
    user = FACTORIES[role]()
    request = APIRequestFactory().get("/guarded/")
    force_authenticate(request, user=user)
    # when
    response = Guarded.as_view(permission_classes=[permission])(request)
    # then
    if role in ALLOWED[permission]:
        assert response.status_code == 200
    else:
        assert response.status_code == 403
        assert response.data["error"]["code"] == "permission_denied"


def test_anonymous_gets_401_not_403():
    request = APIRequestFactory().get("/guarded/")
    response = Guarded.as_view(permission_classes=[IsRecordReader])(request)
    assert response.status_code == 401


def test_inactive_user_is_refused():
    user = PatientFactory(is_active=False)
    request = APIRequestFactory().get("/guarded/")
    force_authenticate(request, user=user)
    assert Guarded.as_view(permission_classes=[IsRecordReader])(request).status_code == 403


def test_helpers():
    patient, doctor, staff = PatientFactory(), DoctorFactory(), StaffFactory()
    assert (is_record_patient(patient), is_record_patient(doctor)) == (True, False)
    assert (is_record_clinician(doctor), is_record_clinician(staff)) == (True, False)
    assert is_record_clinician(DoctorFactory(is_active=False)) is False
    assert (is_staff_role(staff), is_staff_role(AnonymousUser())) == (True, False)
    require_role(doctor, "doctor", "psychologist")
    with pytest.raises(NotAllowed) as caught:
        require_role(patient, "doctor", "psychologist")
    assert caught.value.code == "role_not_allowed"
    assert caught.value.details == {"allowed_roles": ["doctor", "psychologist"]}
    with pytest.raises(NotAllowed):
        require_role(AnonymousUser(), "patient")
