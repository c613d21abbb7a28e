from __future__ import annotations

import pytest

from tests.core.private_redis import private_redis  # noqa: F401 - a fixture


@pytest.fixture(autouse=True)
def _media_root(settings, tmp_path):
    """Uploads, rejects files and downloads of each test live in its own MEDIA_ROOT."""
    settings.MEDIA_ROOT = tmp_path / "media"
