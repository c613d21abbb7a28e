"""Carebook settings: one module, driven by the environment (django-environ).

With no environment set, Carebook runs on embedded defaults (a SQLite file under
``.data/`` and kombu's filesystem broker) so ``make run`` needs no other service.
Outside ``DJANGO_ENV`` development or test (unset counts as production) Carebook refuses
to start without real secrets or with DEBUG on (``_require_secret`` below).
"""

from datetime import timedelta
from pathlib import Path
from typing import Any

import environ
from django.core.exceptions import ImproperlyConfigured
from kombu import Queue

from config.logging import configure_structlog, logging_config

BASE_DIR = Path(__file__).resolve().parent.parent
DATA_DIR = BASE_DIR / ".data"
DATA_DIR.mkdir(exist_ok=True)  # the embedded SQLite file and filesystem broker live here

env = environ.Env()
environ.Env.read_env(BASE_DIR / ".env", overwrite=False)

# Fail closed: only an explicit "development" or "test" may run on built-in development
# secrets or with DEBUG on. Unset means production rules (``make`` sets development for
# the local targets); "benchmark" is production-like without HTTPS (benchmarks/run.py).
DEV_ENVS = frozenset({"development", "test"})
KNOWN_ENVS = DEV_ENVS | {"benchmark", "production"}
_django_env = env.str("DJANGO_ENV", default="")
if _django_env and _django_env not in KNOWN_ENVS:
    raise ImproperlyConfigured(
        f"DJANGO_ENV={_django_env!r} is not one of {', '.join(sorted(KNOWN_ENVS))}."
    )
DJANGO_ENV = _django_env or "production"
IS_DEVELOPMENT = DJANGO_ENV in DEV_ENVS
IS_PRODUCTION = DJANGO_ENV == "production"
_ENV_LABEL = f"DJANGO_ENV={_django_env}" if _django_env else "DJANGO_ENV unset (production rules)"
# Markers of keys that were never meant to leave a laptop (Django's generated dev keys,
# this file's own defaults, common placeholders).
_WEAK_SECRET_MARKERS = ("django-insecure", "insecure", "changeme", "change-me", "placeholder")


def _check_secret(name: str, value: str, min_length: int) -> str:
    """``value`` if it may sign or key things outside development; else ImproperlyConfigured
    naming the variable and the rule (never the value)."""
    hint = (
        f"{name} must be {min_length}+ random characters, e.g. "
        f"python -c 'import secrets; print(secrets.token_urlsafe({min_length}))'; "
        "for local use set DJANGO_ENV=development."
    )
    if not value:
        problem = "is not set"
    elif len(value) < min_length:
        problem = f"is too short ({len(value)} characters)"
    elif any(marker in value.lower() for marker in _WEAK_SECRET_MARKERS):
        problem = "is a development or placeholder value"
    elif len(set(value)) < 5:  # Django's own security.W009 rule
        problem = "has too few distinct characters"
    else:
        return value
    raise ImproperlyConfigured(f"{_ENV_LABEL}: {name} {problem}. {hint}")


def _require_secret(
    name: str, min_length: int = 50, *, dev_default: str | None = None, optional: bool = False
) -> str:
    """The secret in environment variable ``name``.

    In development and test a missing value falls back to a fixed, public, development-only
    default (so sessions and tokens survive a restart). Everywhere else a missing, short,
    placeholder or low-variety value refuses to start; ``optional`` lets an unset variable
    through as "" (the feature it keys stays off, or the caller falls back).
    """
    value = env.str(name, default="")
    if optional and not value:
        return ""
    if IS_DEVELOPMENT:
        return value or dev_default or f"django-insecure-carebook-{name.lower()}-development-only"
    return _check_secret(name, value, min_length)


DEBUG = env.bool("DEBUG", default=IS_DEVELOPMENT)
if DEBUG and not IS_DEVELOPMENT:
    raise ImproperlyConfigured(
        f"{_ENV_LABEL}: DEBUG is on. DEBUG is for DJANGO_ENV=development or test only."
    )
# Local-only key: refused by _require_secret outside development and test.
_DEV_SECRET_KEY = "django-insecure-carebook-local-development-only"  # noqa: S105
SECRET_KEY = _require_secret("SECRET_KEY", dev_default=_DEV_SECRET_KEY)
# Rotation: the previous key(s) still verify sessions and password-reset links until
# removed (docs/security.md); each must pass the same rule.
SECRET_KEY_FALLBACKS = [
    key if IS_DEVELOPMENT else _check_secret("SECRET_KEY_FALLBACKS", key, 50)
    for key in env.list("SECRET_KEY_FALLBACKS", default=[])
]
# JWTs are signed with their own key so that an operator can invalidate every access and
# refresh token without logging out admin sessions or voiding reset links; unset, they
# are signed with SECRET_KEY (and rotate with it).
JWT_SIGNING_KEY = _require_secret("JWT_SIGNING_KEY", optional=True) or SECRET_KEY

ALLOWED_HOSTS = env.list(
    "ALLOWED_HOSTS", default=[] if IS_PRODUCTION else ["localhost", "127.0.0.1", "[::1]"]
)
CSRF_TRUSTED_ORIGINS = env.list("CSRF_TRUSTED_ORIGINS", default=[])

INSTALLED_APPS = [
    "core.apps.CarebookAdminConfig",  # django.contrib.admin with core.admin_tools' site
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "django.contrib.postgres",
    "rest_framework",
    "rest_framework_simplejwt",
    "rest_framework_simplejwt.token_blacklist",
    "django_filters",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "axes",
    "django_celery_results",
    "django_celery_beat",
    "django_countries",
    "django_structlog",
    "django_prometheus",
    "core",
    "accounts",
    "scheduling",
    "bulk_import",
    "reports",
    "consultations",
    "labs",
    "audit",
    "notifications",
    "waitlist",
    "fhir",
    "calendars",
    "django_htmx",
    "template_partials",
    "dashboard",
]

MIDDLEWARE = [
    "django_prometheus.middleware.PrometheusBeforeMiddleware",
    "core.middleware.RequestIdMiddleware",
    "core.middleware.RejectNulQueryMiddleware",
    "core.audit.ClientIpMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # The four Browser* middleware are Django's and django-htmx's own, passed by for an
    # /api/ call with a bearer token (core.middleware.is_bearer_api_call; issue #18).
    "core.middleware.BrowserSessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "core.middleware.BrowserAuthenticationMiddleware",
    "accounts.middleware.RequestUserMiddleware",  # names the actor of a credential change
    "core.routers.ReplicaPinMiddleware",  # reads after a write use the primary (read-your-writes)
    "django_structlog.middlewares.RequestMiddleware",
    "core.middleware.BrowserMessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    "core.middleware.BrowserHtmxMiddleware",
    "axes.middleware.AxesMiddleware",
    "django_prometheus.middleware.PrometheusAfterMiddleware",
]

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

DATABASES = {
    "default": env.db("DATABASE_URL", default=f"sqlite:///{DATA_DIR / 'carebook.sqlite3'}"),
}
DATABASES["default"]["CONN_MAX_AGE"] = env.int("CONN_MAX_AGE", default=0)
# Behind PgBouncer in transaction pooling mode, QuerySet.iterator()'s server-side cursors
# (WITH HOLD, outliving a transaction) are not supported: set this to true there.
DATABASES["default"]["DISABLE_SERVER_SIDE_CURSORS"] = env.bool(
    "DATABASE_DISABLE_SERVER_SIDE_CURSORS", default=False
)
_PREPARE_THRESHOLD = env.str("DATABASE_PREPARE_THRESHOLD", default="")


def _postgresql(database: dict[str, Any]) -> dict[str, Any]:
    """Carebook's PostgreSQL connection settings, for the primary and a replica alike."""
    if database["ENGINE"] != "django.db.backends.postgresql":
        return database
    return {
        **database,
        # Django's backend with a faster reader of timestamptz values (core/postgresql/).
        "ENGINE": "core.postgresql",
        "OPTIONS": {
            **database.get("OPTIONS", {}),
            # Parameters travel apart from the SQL instead of being quoted into it in
            # Python; works behind PgBouncer (tests/test_process_races.py).
            "server_side_binding": env.bool("DATABASE_SERVER_SIDE_BINDING", default=True),
            # Prepared statements skip PostgreSQL's planning of repeated queries, but
            # PgBouncer in transaction mode (before 1.21) cannot keep them: off unless a
            # threshold is set (docker-compose.yml sets 5: its api talks to PostgreSQL).
            "prepare_threshold": int(_PREPARE_THRESHOLD) if _PREPARE_THRESHOLD else None,
        },
    }


DATABASES["default"] = _postgresql(DATABASES["default"])
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # The demo path: wait for the writer instead of failing with "database is locked".
    # BEGIN IMMEDIATE: a transaction takes the write lock up front, so concurrent bookings
    # queue for it instead of failing mid-transaction with SQLITE_BUSY.
    DATABASES["default"]["OPTIONS"] = {"timeout": 20, "transaction_mode": "IMMEDIATE"}
# Optional streaming-replication standby: only read-only list endpoints read from it
# (core/routers.py); writes, locks and transactions stay on default. Tests mirror default.
# A writer reads the primary for REPLICA_PIN_SECONDS after its write (read-your-writes); a
# failing replica is skipped: its breaker opens after REPLICA_BREAKER_THRESHOLD failures
# and probes again after the cool-down; a connection attempt gives up after the timeout.
REPLICA_PIN_SECONDS = env.int("REPLICA_PIN_SECONDS", default=10)
REPLICA_CONNECT_TIMEOUT_SECONDS = env.int("REPLICA_CONNECT_TIMEOUT_SECONDS", default=2)
REPLICA_BREAKER_THRESHOLD = env.int("REPLICA_BREAKER_THRESHOLD", default=1)
REPLICA_BREAKER_COOLDOWN_SECONDS = env.float("REPLICA_BREAKER_COOLDOWN_SECONDS", default=30.0)
if DATABASE_REPLICA_URL := env.str("DATABASE_REPLICA_URL", default=""):
    _replica_url = env.db_url_config(DATABASE_REPLICA_URL)
    DATABASES["replica"] = _postgresql(
        {
            **_replica_url,
            # libpq's connect_timeout (2 s at least): a standby's host that does not answer
            # costs a probe this long, then the breaker keeps lists on the primary.
            "OPTIONS": {
                "connect_timeout": REPLICA_CONNECT_TIMEOUT_SECONDS,
                **_replica_url.get("OPTIONS", {}),
            },
            "CONN_MAX_AGE": DATABASES["default"]["CONN_MAX_AGE"],
            "DISABLE_SERVER_SIDE_CURSORS": DATABASES["default"]["DISABLE_SERVER_SIDE_CURSORS"],
            "TEST": {"MIRROR": "default"},
        }
    )
DATABASE_ROUTERS = ["core.routers.ReadReplicaRouter"]
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

CACHES = {"default": env.cache("CACHE_URL", default="locmemcache://carebook")}

AUTH_USER_MODEL = "accounts.User"
AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
PASSWORD_HASHERS = [
    "django.contrib.auth.hashers.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
    "django.contrib.auth.hashers.BCryptSHA256PasswordHasher",
    "django.contrib.auth.hashers.BCryptPasswordHasher",
]
AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# django-axes: lock an account (by email) after repeated failed logins, API and admin alike.
AXES_FAILURE_LIMIT = env.int("AXES_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = timedelta(minutes=env.int("AXES_COOLOFF_MINUTES", default=15))
AXES_LOCKOUT_PARAMETERS = ["username"]
AXES_USERNAME_FORM_FIELD = "email"
# The admin's form names the field "username": one callable keys API, dashboard and admin
# attempts by the same (lower-cased) email.
AXES_USERNAME_CALLABLE = "dashboard.security.axes_username"
AXES_RESET_ON_SUCCESS = True
# The dashboard answers a lockout with a page; the API and admin with the JSON envelope.
AXES_LOCKOUT_CALLABLE = "dashboard.security.axes_lockout_response"
# axes.W006 asks for ip_address in the lockout parameters. Locking per account is the
# intent here (a shared clinic IP must not lock everyone out); guessing from one IP
# across accounts is limited by the DRF "auth" throttle, which keys anonymous calls by IP.
SILENCED_SYSTEM_CHECKS = ["axes.W006"]

LANGUAGE_CODE = "en"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"] if (BASE_DIR / "static").is_dir() else []
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if IS_PRODUCTION
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}
MEDIA_ROOT = env.path("MEDIA_ROOT", default=DATA_DIR / "media")
DATA_UPLOAD_MAX_MEMORY_SIZE = env.int("DATA_UPLOAD_MAX_MEMORY_SIZE", default=2_621_440)

REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "accounts.authentication.CachedUserJWTAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["core.renderers.FastJSONRenderer"],
    "DEFAULT_PARSER_CLASSES": ["rest_framework.parsers.JSONParser"],
    "DEFAULT_PAGINATION_CLASS": "core.pagination.DefaultPagination",
    "PAGE_SIZE": 50,
    "DEFAULT_FILTER_BACKENDS": ["django_filters.rest_framework.DjangoFilterBackend"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "core.errors.api_exception_handler",
    "DEFAULT_THROTTLE_RATES": {
        "auth": env.str("THROTTLE_AUTH_RATE", default="30/min"),
    },
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
}

# accounts/authentication.py: how long a process reuses a user row it read for a JWT (a
# deactivation or role change reaches every process within this); 0 reads it every time.
AUTH_USER_CACHE_SECONDS = env.float("AUTH_USER_CACHE_SECONDS", default=5.0)

SIMPLE_JWT = {
    "ACCESS_TOKEN_LIFETIME": timedelta(minutes=env.int("JWT_ACCESS_MINUTES", default=15)),
    "REFRESH_TOKEN_LIFETIME": timedelta(days=env.int("JWT_REFRESH_DAYS", default=7)),
    "ROTATE_REFRESH_TOKENS": True,
    "BLACKLIST_AFTER_ROTATION": True,
    "UPDATE_LAST_LOGIN": True,
    "SIGNING_KEY": JWT_SIGNING_KEY,
}

SPECTACULAR_SETTINGS = {
    "TITLE": "Carebook API",
    "DESCRIPTION": "Clinic scheduling and care records. Errors use one envelope: "
    '{"error": {"code", "message", "details", "request_id"}}.',
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
}

# Celery: Redis in production; kombu's filesystem transport for the demo.
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default="filesystem://")
if CELERY_BROKER_URL.startswith("filesystem://"):
    _broker_dir = DATA_DIR / "broker"
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_broker_dir / "queue"),
        "data_folder_out": str(_broker_dir / "queue"),
        "processed_folder": str(_broker_dir / "processed"),
        "store_processed": False,
    }
elif CELERY_BROKER_URL.startswith("redis"):
    # acks_late: a message a dead worker held returns to the queue after this long. It must
    # exceed the longest task (imports: 1 h); tests that kill a worker set it short.
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "visibility_timeout": env.int("CELERY_VISIBILITY_TIMEOUT_SECONDS", default=2 * 3600),
        # How often a worker sweeps for messages a dead worker held: every interval x throttle s.
        "unacked_restore_interval": env.int("CELERY_UNACKED_RESTORE_INTERVAL", default=10),
        "unacked_restore_throttle": env.int("CELERY_UNACKED_RESTORE_THROTTLE", default=10),
    }
CELERY_RESULT_BACKEND = env.str("CELERY_RESULT_BACKEND", default="django-db")
CELERY_RESULT_EXTENDED = True
# Results are deleted by core.retention in batches (CELERY_RESULT_RETENTION_DAYS), so beat
# does not add Celery's own celery.backend_cleanup (one unbatched DELETE) as well.
CELERY_RESULT_EXPIRES = None
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_TIME_LIMIT = 15 * 60
CELERY_TASK_SOFT_TIME_LIMIT = 14 * 60
# Queues, so that slow work never delays event delivery; a worker started without -Q
# consumes all four, and each can get its own pool (docs/deployment.md).
CELERY_TASK_QUEUES = [Queue(name) for name in ("celery", "events", "imports", "reports")]
CELERY_TASK_ROUTES = {
    "core.outbox_*": {"queue": "events"},  # outbox delivery and its sweep
    "notifications.*": {"queue": "events"},  # webhooks, emails, reminders
    "bulk_import.*": {"queue": "imports"},
    "reports.*": {"queue": "reports"},
}  # anything else (audit sealing, rule expansion) goes to "celery"
# Task events feed celery-exporter (task runtime and failures on the Grafana dashboard).
CELERY_WORKER_SEND_TASK_EVENTS = env.bool("CELERY_WORKER_SEND_TASK_EVENTS", default=True)
CELERY_BEAT_SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
# Jobs (core.jobs, docs/events-audit-jobs.md): a worker renews its claim's lease as it
# works; a job whose lease lapsed (worker killed or lost) is resumed by the next claim the
# sweep triggers, independent of the broker's visibility timeout. A job still queued is
# sent again after JOB_REQUEUE_AFTER_SECONDS; one whose workers lapsed JOB_MAX_LAPSES times
# ends failed.
JOB_LEASE_SECONDS = env.float("JOB_LEASE_SECONDS", default=90.0)
JOB_SWEEP_INTERVAL_SECONDS = env.float("JOB_SWEEP_INTERVAL_SECONDS", default=30.0)
JOB_REQUEUE_AFTER_SECONDS = env.float("JOB_REQUEUE_AFTER_SECONDS", default=60.0)
JOB_MAX_LAPSES = env.int("JOB_MAX_LAPSES", default=3)
CELERY_TIMEZONE = "UTC"
# Periodic work: the DatabaseScheduler copies these entries into django-celery-beat's
# tables when beat starts (editable in the admin afterwards).
CELERY_BEAT_SCHEDULE: dict[str, dict[str, object]] = {
    "outbox-sweep": {"task": "core.outbox_sweep", "schedule": 30.0},
    # Re-sends jobs still queued, or whose worker's lease lapsed (core.jobs).
    "job-sweep": {"task": "core.jobs_sweep", "schedule": JOB_SWEEP_INTERVAL_SECONDS},
    "idempotency-purge": {"task": "core.idempotency_purge", "schedule": 3600.0},
    # Deletes old machinery rows and files in batches (core.retention, docs/retention.md).
    "retention-purge": {"task": "core.retention_purge", "schedule": 3600.0},
    "audit-seal": {"task": "audit.seal", "schedule": 300.0, "kwargs": {"full": True}},
    # Extends the verified part of the chain from its checkpoint (the admin index shows it).
    "audit-verify": {"task": "audit.verify_chain", "schedule": 60.0},
    "notification-reminders": {"task": "notifications.send_reminders", "schedule": 300.0},
    "notification-retry-failed": {"task": "notifications.retry_failed", "schedule": 300.0},
    "webhook-sweep": {"task": "notifications.webhook_sweep", "schedule": 60.0},
    # Weekly availability rules roll forward to the moving horizon.
    "scheduling-expand-rules": {"task": "scheduling.expand_rules", "schedule": 3600.0},
    # Expires waitlist offers nobody answered and passes their slots on (within 60 s).
    "waitlist-sweep": {"task": "waitlist.sweep", "schedule": 30.0},
}

# Outbox: the sweep delivers events still undelivered this long after they were written.
OUTBOX_SWEEP_AFTER_SECONDS = env.int("OUTBOX_SWEEP_AFTER_SECONDS", default=60)
OUTBOX_MAX_ATTEMPTS = env.int("OUTBOX_MAX_ATTEMPTS", default=25)
# Benchmark knob only (benchmarks/run.py measures the booking path with and without the
# audit write). Never set it anywhere else: SPEC invariant 5 needs every audit row.
AUDIT_ENABLED = not env.bool("CAREBOOK_BENCH_AUDIT_OFF", default=False)
# Keys the audit hash chain (HMAC-SHA256, audit/keys.py). Only what seals or verifies the
# chain needs it (the worker, an operator's verify_audit_log), so the api runs without it;
# unset outside development, sealing refuses to run. Retired keys stay listed to verify the
# seals they made (rotation: docs/events-audit-jobs.md). Never stored in the database.
AUDIT_CHAIN_KEY = _require_secret(
    "AUDIT_CHAIN_KEY",
    32,
    dev_default="insecure-carebook-audit-chain-key-development-only",
    optional=not IS_DEVELOPMENT,
)
AUDIT_CHAIN_OLD_KEYS = [
    key if IS_DEVELOPMENT else _check_secret("AUDIT_CHAIN_OLD_KEYS", key, 32)
    for key in env.list("AUDIT_CHAIN_OLD_KEYS", default=[])
]
# Keys the fingerprints that audit rows keep instead of clinical values (core.audit.
# fingerprint). Outside the database so that a database reader cannot confirm a guess.
AUDIT_FINGERPRINT_KEY = _require_secret("AUDIT_FINGERPRINT_KEY", 32)
if IS_PRODUCTION and not AUDIT_ENABLED:
    raise ImproperlyConfigured("CAREBOOK_BENCH_AUDIT_OFF is refused in production.")

# Scheduling policy (per-clinician overrides live on the clinician profile).
SCHEDULING_MIN_NOTICE_MINUTES = env.int("SCHEDULING_MIN_NOTICE_MINUTES", default=60)
SCHEDULING_MAX_HORIZON_DAYS = env.int("SCHEDULING_MAX_HORIZON_DAYS", default=90)
SCHEDULING_PATIENT_CHANGE_CUTOFF_HOURS = env.int(
    "SCHEDULING_PATIENT_CHANGE_CUTOFF_HOURS", default=24
)
SCHEDULING_RULE_HORIZON_DAYS = env.int("SCHEDULING_RULE_HORIZON_DAYS", default=56)
# How long a waitlist offer holds its slot (scheduling.services.holds).
WAITLIST_HOLD_SECONDS = env.int("WAITLIST_HOLD_SECONDS", default=900)
# Where people reach Carebook: the links in emails (a waitlist offer's) start with it.
PUBLIC_BASE_URL = env.str("PUBLIC_BASE_URL", default="http://localhost:8000")
IDEMPOTENCY_KEY_TTL_HOURS = env.int("IDEMPOTENCY_KEY_TTL_HOURS", default=24)
# An in-flight key's claim: a request killed mid-way (worker timeout, OOM) frees its key
# after this. Longer than any request may run (gunicorn's timeout, 30 s).
IDEMPOTENCY_IN_PROGRESS_LEASE_SECONDS = env.int("IDEMPOTENCY_IN_PROGRESS_LEASE_SECONDS", default=60)

# Retention of machinery (core.retention, docs/retention.md): ages in days, batches, and
# the time one run may take (the next hourly run continues). Audit rows, clinical records
# and notifications are never deleted by it.
RETENTION_BATCH_SIZE = env.int("RETENTION_BATCH_SIZE", default=2000)
RETENTION_TIME_BUDGET_SECONDS = env.float("RETENTION_TIME_BUDGET_SECONDS", default=120.0)
OUTBOX_RETENTION_DAYS = env.float("OUTBOX_RETENTION_DAYS", default=7)
CELERY_RESULT_RETENTION_DAYS = env.float("CELERY_RESULT_RETENTION_DAYS", default=1)
JOB_FILE_RETENTION_DAYS = env.float("JOB_FILE_RETENTION_DAYS", default=30)
WEBHOOK_DELIVERY_RETENTION_DAYS = env.float("WEBHOOK_DELIVERY_RETENTION_DAYS", default=30)

# Bulk hospital import (docs/bulk_import.md). Uploads are streamed to MEDIA_ROOT.
BULK_IMPORT_MAX_UPLOAD_BYTES = env.int("BULK_IMPORT_MAX_UPLOAD_BYTES", default=200 * 1024 * 1024)
# External hospital directory sync after an import; off while DIRECTORY_SYNC_URL is empty.
DIRECTORY_SYNC_URL = env.str("DIRECTORY_SYNC_URL", default="")
DIRECTORY_SYNC_TOKEN = env.str("DIRECTORY_SYNC_TOKEN", default="")
DIRECTORY_SYNC_RATE_PER_SECOND = env.float("DIRECTORY_SYNC_RATE_PER_SECOND", default=10.0)
DIRECTORY_SYNC_BURST = env.int("DIRECTORY_SYNC_BURST", default=1)
DIRECTORY_SYNC_TIMEOUT_SECONDS = env.float("DIRECTORY_SYNC_TIMEOUT_SECONDS", default=5.0)
DIRECTORY_SYNC_MAX_ATTEMPTS = env.int("DIRECTORY_SYNC_MAX_ATTEMPTS", default=5)
DIRECTORY_SYNC_BACKOFF_BASE_SECONDS = env.float("DIRECTORY_SYNC_BACKOFF_BASE_SECONDS", default=0.5)
DIRECTORY_SYNC_BREAKER_THRESHOLD = env.int("DIRECTORY_SYNC_BREAKER_THRESHOLD", default=5)
DIRECTORY_SYNC_BREAKER_COOLDOWN_SECONDS = env.float(
    "DIRECTORY_SYNC_BREAKER_COOLDOWN_SECONDS", default=30.0
)

# Webhook URLs may only reach public addresses (notifications/egress.py, the SSRF guard);
# this admits loopback too, for a receiver on the same machine in development. Never
# private, link-local or cloud-metadata addresses.
WEBHOOK_ALLOW_LOOPBACK = env.bool("WEBHOOK_ALLOW_LOOPBACK", default=False)

EMAIL_BACKEND = env.str("EMAIL_BACKEND", default="django.core.mail.backends.console.EmailBackend")
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default="Carebook <no-reply@carebook.example>")
# Seconds per SMTP socket operation; a stalled mail server must not hold a worker (mail is
# sent after commit by notifications.services.notification_deliver, never in a transaction).
EMAIL_TIMEOUT = env.int("EMAIL_TIMEOUT", default=10)
# A worker's claim on one email while it sends (several EMAIL_TIMEOUTs); a worker that died
# mid-send is taken over after it. The sweep (beat) sends what is still unsent this long
# after it was written (a send lost with its process, a retry lost with the broker).
NOTIFICATION_SEND_LEASE_SECONDS = env.int("NOTIFICATION_SEND_LEASE_SECONDS", default=120)
NOTIFICATION_SWEEP_AFTER_SECONDS = env.int("NOTIFICATION_SWEEP_AFTER_SECONDS", default=300)

# Calendar feeds and the .ics of appointment emails (docs/calendars.md). An appointment's
# UID is appointment-<id>@CALENDAR_UID_DOMAIN: never change it once feeds are out, or
# every subscribed calendar shows each visit twice.
CALENDAR_UID_DOMAIN = env.str("CALENDAR_UID_DOMAIN", default="carebook.example")
# Reads of one feed URL (its token) allowed per period; beyond it 429 (cache-counted).
CALENDAR_FEED_RATE = env.str("CALENDAR_FEED_RATE", default="60/hour")
# The clinic's page where a patient joins a video visit (none is stored per appointment):
# shown as the URL of video visits in feeds and emails; empty, they say "Video visit".
CALENDAR_VIDEO_VISIT_URL = env.str("CALENDAR_VIDEO_VISIT_URL", default="")

# Observability (docs/observability.md): one JSON object per log line, web and worker.
LOGGING = logging_config(
    level=env.str("LOG_LEVEL", default="INFO"),
    log_format=env.str("LOG_FORMAT", default="json"),  # "console" for humans
)
configure_structlog()
DJANGO_STRUCTLOG_CELERY_ENABLED = True  # request_id and user_id travel into tasks
# RequestIdMiddleware has already validated X-Request-ID; log the id it kept.
DJANGO_STRUCTLOG_TRUST_UPSTREAM_REQUEST_ID = True
# core.observability binds ``ip`` from REMOTE_ADDR itself (ipware would believe a client's
# X-Forwarded-For); django-structlog's own ipware lookup would only be overwritten.
DJANGO_STRUCTLOG_IP_LOGGING_ENABLED = False
# /metrics answers these client networks (REMOTE_ADDR), or the bearer token if one is set.
METRICS_ALLOWED_CIDRS = env.list("METRICS_ALLOWED_CIDRS", default=["127.0.0.0/8", "::1/128"])
# Unset: token access stays off (the CIDR allow-list alone).
METRICS_BEARER_TOKEN = _require_secret("METRICS_BEARER_TOKEN", 32, optional=True)
# /readyz gives each check this long, so a dead broker or database answers quickly.
READINESS_TIMEOUT_SECONDS = env.float("READINESS_TIMEOUT_SECONDS", default=2.0)

SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
X_FRAME_OPTIONS = "DENY"
SECURE_CONTENT_TYPE_NOSNIFF = True
# Forms and htmx read the CSRF token from the page, never from the cookie.
CSRF_COOKIE_HTTPONLY = True
SESSION_COOKIE_AGE = env.int("SESSION_COOKIE_AGE_SECONDS", default=8 * 3600)  # a working day
LOGIN_URL = "dashboard:login"
# django-csp 4: scripts only from our own static files (htmx, Chart.js vendored), no inline
# script anywhere; the dashboard passes data to scripts through json_script blocks.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'", "data:"],
        "font-src": ["'self'"],
        "connect-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    }
}
if IS_PRODUCTION:
    SESSION_COOKIE_SECURE = True
    CSRF_COOKIE_SECURE = True
    SECURE_SSL_REDIRECT = env.bool("SECURE_SSL_REDIRECT", default=True)
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_HSTS_SECONDS = env.int("SECURE_HSTS_SECONDS", default=31_536_000)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    SECURE_HSTS_PRELOAD = True
