"""The worker knows every task that beat and the outbox send (no unregistered task names)."""

from __future__ import annotations

import pytest
from django.conf import settings

from config.celery import app as celery_app
from core.audit import SEAL_TASK_NAME
from core.outbox import DELIVER_TASK_NAME


@pytest.fixture(scope="module")
def registered() -> set[str]:
    celery_app.loader.import_default_modules()  # what a worker imports at start
    return set(celery_app.tasks)


@pytest.mark.parametrize("entry", sorted(settings.CELERY_BEAT_SCHEDULE))
def test_every_beat_entry_names_a_registered_task(registered, entry):
    assert settings.CELERY_BEAT_SCHEDULE[entry]["task"] in registered


def test_tasks_sent_by_name_after_commit_are_registered(registered):
    assert {DELIVER_TASK_NAME, SEAL_TASK_NAME, "core.outbox_sweep"} <= registered


def test_delivery_task_retries_with_backoff_and_acks_late():
    task = celery_app.tasks[DELIVER_TASK_NAME]
    assert task.acks_late is True
    assert task.max_retries == 8
    assert task.retry_backoff
    assert task.retry_jitter is True
