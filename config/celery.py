"""The Celery application. Tasks live in each app's ``tasks.py`` and are autodiscovered."""

import os

from celery import Celery

from config.logging import init_celery_logging
from core.observability import connect_signals

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

app = Celery("carebook")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
# JSON logs in the worker, and the request id carried from a request into its tasks.
init_celery_logging(app)
connect_signals()
