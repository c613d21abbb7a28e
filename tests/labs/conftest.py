import pytest

from tests.consultations.factories import clinical_world


@pytest.fixture
def world():
    return clinical_world()
