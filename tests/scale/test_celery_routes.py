"""Every registered task resolves to the queue meant for it under the production settings,
and the workers (compose, and ``make worker`` without ``-Q``) consume every queue."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from celery.app.routes import Router, prepare

import config.settings as production
from config.celery import app

ROOT = Path(__file__).resolve().parents[2]

# Every Carebook task, by registered name. A new task fails the coverage test below until
# someone decides its queue here (and, if needed, in CELERY_TASK_ROUTES).
EXPECTED_QUEUE = {
    "core.outbox_deliver": "events",
    "core.outbox_sweep": "events",
    "core.jobs_sweep": "celery",
    "core.idempotency_purge": "celery",
    "core.retention_purge": "celery",
    "notifications.webhook_deliver": "events",
    "notifications.webhook_sweep": "events",
    "notifications.retry": "events",
    "notifications.send_reminders": "events",
    "notifications.retry_failed": "events",
    "bulk_import.run_hospital_import": "imports",
    "bulk_import.run_directory_sync": "imports",
    "reports.build_report": "reports",
    "audit.seal": "celery",
    "audit.verify_chain": "celery",
    "scheduling.expand_rules": "celery",
    "waitlist.sweep": "celery",
}


def _carebook_tasks() -> set[str]:
    app.loader.import_default_modules()  # what a worker imports at start
    # (Celery's own tasks, and tasks that test modules register, are not Carebook's.)
    return {name for name in app.tasks if not name.startswith(("celery.", "tests."))}


def _production_router() -> Router:
    queues = app.amqp.Queues(production.CELERY_TASK_QUEUES)
    return Router(prepare([production.CELERY_TASK_ROUTES]), queues, create_missing=False, app=app)


def test_every_registered_task_has_a_decided_queue():
    assert _carebook_tasks() == set(EXPECTED_QUEUE)


@pytest.mark.parametrize(("task_name", "queue"), sorted(EXPECTED_QUEUE.items()))
def test_production_routes_send_each_task_to_its_queue(task_name, queue):
    # given the production routing table; when a task is published without a queue
    route = _production_router().route({}, task_name, args=(), kwargs={})
    # then it lands on the queue meant for it
    assert route["queue"].name == queue


def test_an_explicit_queue_still_wins_over_the_routes():
    # notifications' WEBHOOK_QUEUE passes queue=… to give webhooks a pool of their own
    route = _production_router().route(
        {"queue": "webhooks-only"}, "notifications.webhook_deliver", args=(), kwargs={}
    )
    assert route["queue"].name == "webhooks-only"


def test_workers_consume_every_routed_queue():
    routed = set(EXPECTED_QUEUE.values())
    # a worker started without -Q (make worker, make run) consumes CELERY_TASK_QUEUES
    assert {queue.name for queue in production.CELERY_TASK_QUEUES} == routed
    assert production.CELERY_TASK_QUEUES[0].name == app.conf.task_default_queue == "celery"
    # and the compose worker names them all
    compose = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
    command = compose["services"]["worker"]["command"]
    queues_arg = next(part for part in command.split() if part.startswith("--queues="))
    assert set(queues_arg.removeprefix("--queues=").split(",")) == routed
