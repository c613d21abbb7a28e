"""The chain's head is published outside the database after every seal run (a log line
and Prometheus gauges), and ``verify_audit_log --head`` refuses a chain that no longer
contains a published head: a tail rewritten and resealed *with* the key (issue #13 item 4)."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.db import connection, transaction
from prometheus_client import REGISTRY

from audit.models import AuditSeal
from audit.services import audit_seal_pending
from audit.tasks import audit_seal
from config.logging import log_formatter
from core.audit import audit_record

pytestmark = pytest.mark.django_db


class CapturedLines(logging.Handler):
    """Each record as the production formatter writes it (one JSON object per line)."""

    def __init__(self) -> None:
        super().__init__(level=logging.DEBUG)
        self.setFormatter(log_formatter("json"))
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(self.format(record))

    def events(self, name: str) -> list[dict]:
        return [line for line in map(json.loads, self.lines) if line.get("event") == name]


@pytest.fixture
def log_lines() -> Iterator[CapturedLines]:
    handler = CapturedLines()
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        yield handler
    finally:
        root.removeHandler(handler)


def record(action: str, n: int = 1) -> list:
    rows = []
    for i in range(n):
        with transaction.atomic():
            rows.append(audit_record(actor=None, action=action, obj=("test.thing", i)))
    return rows


def verify(*args: str) -> str:
    out = StringIO()
    call_command("verify_audit_log", *args, stdout=out)
    return out.getvalue()


def test_every_seal_run_publishes_the_head_as_a_log_line_and_gauges(log_lines):
    # given three audit rows
    record("thing.touch", 3)
    # when the worker's seal task runs
    assert audit_seal() == 3
    # then one audit.head line names the newest link, its hash and the chain's length
    (line,) = log_lines.events("audit.head")
    tip = AuditSeal.objects.order_by("-id").first()
    assert line["seal_id"] == tip.pk
    assert line["event_id"] == tip.event_id
    assert line["hash"] == tip.hash
    assert line["count"] == 3
    assert line["head"] == f"{tip.pk}:{tip.hash}"
    # and the gauges say the same, for Prometheus to keep
    assert REGISTRY.get_sample_value("audit_chain_head_seal_id") == tip.pk
    assert REGISTRY.get_sample_value("audit_chain_length") == 3
    assert REGISTRY.get_sample_value("audit_chain_head_hash_prefix") == int(tip.hash[:12], 16)
    # and the published head verifies
    assert "is in the chain" in verify("--head", line["head"])


def test_a_quiet_run_after_commit_publishes_nothing_but_the_periodic_run_does(log_lines):
    record("thing.touch", 1)
    audit_seal()
    assert audit_seal() == 0  # nothing new after a commit: no line
    assert len(log_lines.events("audit.head")) == 1
    audit_seal(full=True)  # beat: the head again, as a heartbeat
    assert len(log_lines.events("audit.head")) == 2


def as_owner(*statements: tuple[str, list]) -> None:
    """What a holder of the owner role (or a superuser) can do: triggers off, rewrite."""
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
        cursor.execute("ALTER TABLE audit_auditevent DISABLE TRIGGER USER")
        cursor.execute("ALTER TABLE audit_auditseal DISABLE TRIGGER USER")
        for sql, params in statements:
            cursor.execute(sql, params)
        cursor.execute("ALTER TABLE audit_auditevent ENABLE TRIGGER USER")
        cursor.execute("ALTER TABLE audit_auditseal ENABLE TRIGGER USER")


@pytest.mark.postgres
@pytest.mark.parametrize("reuse_ids", [False, True], ids=["new-seal-ids", "same-seal-ids"])
def test_a_tail_rewritten_and_resealed_with_the_key_fails_against_the_published_head(
    log_lines, reuse_ids
):
    # given a sealed chain of four rows whose head was published
    rows = record("thing.touch", 4)
    audit_seal()
    (published,) = log_lines.events("audit.head")
    # when someone holding the owner role *and* the chain key rewrites the third row, cuts
    # the chain back to before it and reseals the tail (optionally reusing the seal ids)
    cut = AuditSeal.objects.get(event_id=rows[2].pk)
    statements = [
        (
            "UPDATE audit_auditevent SET action = 'thing.forged' WHERE id = %s",
            [rows[2].pk],
        ),
        ("DELETE FROM audit_auditseal WHERE id >= %s", [cut.pk]),
    ]
    if reuse_ids:
        statements.append(
            (
                "SELECT setval(pg_get_serial_sequence('audit_auditseal', 'id'), %s)",
                [cut.pk - 1],
            )
        )
    as_owner(*statements)
    assert audit_seal_pending(full=True) == 2
    # then the chain on its own verifies: every link is a valid HMAC
    assert "OK: 4 audit events verified" in verify()
    # but against the head published before the rewrite, it is refused
    with pytest.raises(
        CommandError, match=rf"BROKEN at published head seal #{published['seal_id']}"
    ):
        verify("--head", published["head"])
    if reuse_ids:
        assert AuditSeal.objects.filter(pk=published["seal_id"]).exists()


@pytest.mark.parametrize(
    "head", ["junk", "12", "12:abc", "0:" + "a" * 64, "x:" + "a" * 64, "12:" + "g" * 64]
)
def test_a_malformed_head_is_refused_with_its_expected_form(head):
    with pytest.raises(CommandError, match=r"SEAL_ID:HASH|seal id"):
        verify("--head", head)


def test_a_head_beyond_the_chain_is_refused():
    # a database restored from an old backup: the head published since is not there
    record("thing.touch", 1)
    audit_seal()
    tip = AuditSeal.objects.order_by("-id").first()
    with pytest.raises(CommandError, match="no longer in the chain"):
        verify("--head", f"{tip.pk + 10}:{tip.hash}")
