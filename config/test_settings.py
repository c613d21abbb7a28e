"""Test override: the same settings, with a fast hasher and no throttling surprises."""

from .settings import *  # noqa: F403
from .settings import DATABASES, REST_FRAMEWORK

PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
REST_FRAMEWORK = {
    **REST_FRAMEWORK,
    "DEFAULT_THROTTLE_RATES": {"auth": "1000/min"},
}

# A second alias on the same server stands in for a read replica (tests/scale/). The
# router is off here so every other test reads from default, as with no replica; the
# replica tests switch it on.
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    DATABASES["replica"] = {**DATABASES["default"], "TEST": {"MIRROR": "default"}}
DATABASE_ROUTERS = []

# Tests' embedded workers each consume one private queue (xdist-safe), so tasks are not
# routed by name here; tests/scale/test_celery_routes.py checks the production routes.
CELERY_TASK_ROUTES = {}
