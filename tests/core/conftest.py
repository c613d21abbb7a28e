from __future__ import annotations

from tests.core.private_redis import private_redis  # noqa: F401 - a fixture
