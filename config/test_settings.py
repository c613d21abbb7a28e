"""Test override: the same settings, with a fast hasher and no throttling surprises."""

import os

# These are the test settings whatever the shell says: development secrets are allowed
# here (config/settings.py refuses them elsewhere), and child processes that tests start
# with config.settings inherit the same permission.
os.environ["DJANGO_ENV"] = "test"

from .settings import *  # noqa: F403
from .settings import CACHES, DATABASES, REST_FRAMEWORK

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
# The webhook tests deliver to a real receiver on 127.0.0.1; the SSRF tests turn it off.
WEBHOOK_ALLOW_LOOPBACK = True
REST_FRAMEWORK = {
    **REST_FRAMEWORK,
    "DEFAULT_THROTTLE_RATES": {"auth": "1000/min"},
}

# Tests create and roll back users by the thousand (SQLite reuses their ids): each request
# reads its user afresh, except in tests/accounts/test_authentication.py.
AUTH_USER_CACHE_SECONDS = 0.0

# A second alias on the same server stands in for a read replica (tests/scale/). The
# router is off here so every other test reads from default, as with no replica; the
# replica tests switch it on.
if DATABASES["default"]["ENGINE"] == "core.postgresql":
    DATABASES["replica"] = {**DATABASES["default"], "TEST": {"MIRROR": "default"}}
DATABASE_ROUTERS = []

# Tests' embedded workers each consume one private queue (xdist-safe), so tasks are not
# routed by name here; tests/scale/test_celery_routes.py checks the production routes.
CELERY_TASK_ROUTES = {}

# Each pytest-xdist worker gets a Redis database of its own for the cache: tests clear the
# cache (FLUSHDB), and one worker's clear must not wipe another's breaker or throttle state.
_xdist_worker = os.environ.get("PYTEST_XDIST_WORKER", "")
if _xdist_worker.startswith("gw") and CACHES["default"]["BACKEND"].endswith("RedisCache"):
    _base, _, _db = str(CACHES["default"]["LOCATION"]).rpartition("/")
    _offset = int(_xdist_worker.removeprefix("gw") or 0)
    CACHES = {"default": {**CACHES["default"], "LOCATION": f"{_base}/{int(_db or 0) + _offset}"}}

# Tests never run collectstatic: let WhiteNoise look files up on demand instead of
# warning on every middleware start that STATIC_ROOT does not exist.
WHITENOISE_AUTOREFRESH = True
