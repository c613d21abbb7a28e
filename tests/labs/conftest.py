import pytest

from tests.clinical_world import clinical_world


@pytest.fixture
def world():
    return clinical_world()
