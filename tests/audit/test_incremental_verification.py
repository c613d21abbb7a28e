"""The chain is verified incrementally by a periodic task, from a stored checkpoint, and
the admin index shows the stored result without walking the chain (issue #13 item 6)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.conf import settings
from django.core.cache import cache
from django.db import connection, transaction
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.models import User
from audit.models import AuditChainCheckpoint, AuditSeal
from audit.services import audit_chain_verify, audit_chain_verify_incremental, audit_seal_pending
from audit.tasks import audit_verify_chain
from config.celery import app as celery_app
from core.audit import audit_record
from tests.audit.test_chain import _without_trigger
from tests.core.test_outbox_worker import private_queue, running_worker  # noqa: F401
from tests.factories import PASSWORD

pytestmark = pytest.mark.django_db


def record(n: int, action: str = "thing.touch") -> list:
    rows = []
    for i in range(n):
        with transaction.atomic():
            rows.append(audit_record(actor=None, action=action, obj=("test.thing", i)))
    return rows


def sealed(n: int) -> list:
    rows = record(n)
    while audit_seal_pending():
        pass
    return rows


def seal_reads(queries: list[dict]) -> list[str]:
    return [q["sql"] for q in queries if "audit_auditseal" in q["sql"]]


class TestIncrementalVerification:
    def test_a_run_resumes_after_the_checkpoint_and_stores_what_it_found(self):
        # given a chain of three links, verified once
        first = sealed(3)
        checkpoint = audit_chain_verify_incremental()
        assert (checkpoint.ok, checkpoint.verified_count) == (True, 3)
        assert checkpoint.verified_seal_id == AuditSeal.objects.get(event_id=first[2].pk).pk
        # and a row *before* the checkpoint altered afterwards (the full walk's to find)
        _without_trigger(
            "UPDATE audit_auditevent SET action = 'thing.forged' WHERE id = %s", [first[1].pk]
        )
        # when two more links are sealed and the periodic run comes
        sealed(2)
        with CaptureQueriesContext(connection) as queries:
            checkpoint = audit_chain_verify_incremental()
        # then it checked only the links after the checkpoint (it did not re-walk the
        # chain: the altered old row went unseen), and moved the checkpoint on
        assert (checkpoint.ok, checkpoint.verified_count) == (True, 5)
        walks = [sql for sql in seal_reads(queries.captured_queries) if '"id" >' in sql]
        assert len(walks) == 1
        assert checkpoint.checked_at is not None
        assert not audit_chain_verify().ok  # what verify_audit_log (the full walk) reports

    def test_a_break_after_the_checkpoint_is_found_and_recorded_with_where(self):
        # given a verified chain of two links, then two more links of which the first
        # was altered behind the application's back
        sealed(2)
        verified = audit_chain_verify_incremental()
        later = sealed(2)
        _without_trigger(
            "UPDATE audit_auditevent SET changes = %s WHERE id = %s",
            ['{"status": {"after": "forged"}}', later[0].pk],
        )
        # when the periodic run comes
        checkpoint = audit_chain_verify_incremental()
        # then the chain is reported broken at that row, and the checkpoint stays at the
        # last link that held
        assert not checkpoint.ok
        assert checkpoint.broken_event_id == later[0].pk
        assert checkpoint.broken_seal_id == AuditSeal.objects.get(event_id=later[0].pk).pk
        assert "row altered" in checkpoint.reason
        assert checkpoint.verified_seal_id == verified.verified_seal_id
        # and it stays broken on the next runs
        assert not audit_chain_verify_incremental().ok

    def test_a_rewritten_checkpoint_link_is_caught(self):
        # given a verified chain whose last verified row is then altered
        rows = sealed(2)
        audit_chain_verify_incremental()
        _without_trigger(
            "UPDATE audit_auditevent SET action = 'thing.forged' WHERE id = %s", [rows[1].pk]
        )
        # when the next run comes (with nothing new sealed), then it is caught
        checkpoint = audit_chain_verify_incremental()
        assert not checkpoint.ok
        assert checkpoint.broken_event_id == rows[1].pk

    def test_a_long_chain_is_verified_in_steps_that_keep_their_progress(self):
        sealed(7)
        checkpoint = audit_chain_verify_incremental(step_links=3)
        assert (checkpoint.ok, checkpoint.verified_count) == (True, 7)
        # a run out of time stops between steps and the next one carries on
        sealed(5)
        checkpoint = audit_chain_verify_incremental(step_links=2, time_budget=0)
        assert checkpoint.verified_count == 9
        assert audit_chain_verify_incremental(step_links=2).verified_count == 12

    def test_beat_runs_the_verification_every_minute(self):
        entry = settings.CELERY_BEAT_SCHEDULE["audit-verify"]
        assert entry["task"] == "audit.verify_chain" == audit_verify_chain.name
        assert entry["schedule"] <= 60


@pytest.fixture
def staff_client() -> Client:
    client = Client()
    client.force_login(User.objects.create_superuser("chief@example.test", PASSWORD))
    return client


class TestAdminIndex:
    def index(self, client: Client) -> tuple[str, list[dict]]:
        cache.clear()  # nothing cached from an earlier request may hide a walk
        with CaptureQueriesContext(connection) as queries:
            response = client.get("/admin/")
        assert response.status_code == 200
        page = response.content.decode()
        return page.split('class="clinic-overview"')[1].split("</section>")[0], list(
            queries.captured_queries
        )

    def test_the_index_reads_the_stored_result_in_the_same_queries_however_long_the_chain(
        self, staff_client
    ):
        # given a short verified chain
        sealed(3)
        audit_chain_verify_incremental()
        _, short = self.index(staff_client)
        # and then a chain twenty times longer, verified by the periodic task
        sealed(57)
        checkpoint = audit_chain_verify_incremental()
        overview, long = self.index(staff_client)
        # then the page costs the same queries, reads no chain link, and shows the stored
        # result with its time
        assert len(long) == len(short)
        assert seal_reads(long) == []
        assert "Intact" in overview
        assert "60 verified" in overview
        assert timezone.localtime(checkpoint.checked_at).strftime("%Y-%m-%d %H:%M") in overview

    def test_a_broken_chain_is_shown_from_the_stored_result(self, staff_client):
        rows = sealed(2)
        _without_trigger(
            "UPDATE audit_auditevent SET action = 'thing.forged' WHERE id = %s", [rows[0].pk]
        )
        audit_chain_verify_incremental()
        overview, queries = self.index(staff_client)
        assert f"<strong>Broken</strong> at event #{rows[0].pk}" in overview
        assert seal_reads(queries) == []

    def test_before_the_first_run_and_when_runs_stop_the_index_says_so(self, staff_client):
        overview, _ = self.index(staff_client)
        assert "Not verified yet" in overview
        sealed(1)
        audit_chain_verify_incremental()
        AuditChainCheckpoint.objects.update(checked_at=timezone.now() - timedelta(hours=2))
        overview, _ = self.index(staff_client)
        assert "is the worker running?" in overview


@pytest.mark.redis
@pytest.mark.django_db(transaction=True)
def test_a_real_worker_runs_the_verification_task_and_stores_the_checkpoint(private_queue):  # noqa: F811
    # given sealed rows; when beat's task is sent to a running worker
    sealed(4)
    with running_worker(private_queue):
        assert celery_app.send_task("audit.verify_chain").get(timeout=30) is True
    # then the worker stored the checkpoint the admin index reads
    checkpoint = AuditChainCheckpoint.objects.get()
    assert (checkpoint.ok, checkpoint.verified_count) == (True, 4)
