import pytest

from tests.factories import AppointmentFactory


@pytest.mark.django_db
def test_factories_build_a_booked_appointment():
    appointment = AppointmentFactory()
    assert appointment.slot.status == "booked"
    assert appointment.clinician == appointment.slot.clinician
    assert appointment.patient.check_password("correct-horse-battery-staple")
