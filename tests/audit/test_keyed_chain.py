"""The audit chain is keyed (HMAC-SHA256, key from the environment, issue #13 item 4):
whoever can rewrite the tables but lacks the key cannot reseal a rewritten row; keys
rotate without breaking old seals; links from before the key stay verifiable, and only
as the chain's prefix."""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured
from django.db import connection, transaction
from django.test import override_settings

from audit.keys import key_id_of, keyring, signing_key
from audit.models import AuditEvent, AuditSeal
from audit.services import (
    GENESIS_HASH,
    audit_chain_verify,
    audit_seal_pending,
    canonical_event,
    legacy_link_hash,
)
from core.audit import audit_record
from tests.audit.test_chain import _without_trigger

pytestmark = pytest.mark.django_db

KEY_A = "audit-chain-key-a-" + "k" * 20 + "A1b2C3"
KEY_B = "audit-chain-key-b-" + "q" * 20 + "Z9y8X7"
ROOT = Path(__file__).resolve().parents[2]


def record(n: int) -> list:
    rows = []
    for i in range(n):
        with transaction.atomic():
            rows.append(audit_record(actor=None, action="thing.touch", obj=("test.thing", i)))
    return rows


def hmac_hex(key: str, prev_hash: str, event: AuditEvent) -> str:
    message = (prev_hash + canonical_event(event)).encode()
    return hmac.new(key.encode(), message, hashlib.sha256).hexdigest()


@override_settings(AUDIT_CHAIN_KEY=KEY_A, AUDIT_CHAIN_OLD_KEYS=[])
def test_each_link_is_an_hmac_under_the_environment_key_and_names_the_key():
    # given two audit rows; when they are sealed
    rows = record(2)
    audit_seal_pending()
    # then each link is HMAC-SHA256 with the configured key, not a plain sha256 that anyone
    # could recompute, and it records which key made it and its place in the chain
    first, second = AuditSeal.objects.order_by("id")
    event = AuditEvent.objects.get(pk=rows[0].pk)
    assert first.hash == hmac_hex(KEY_A, GENESIS_HASH, event)
    assert first.hash != legacy_link_hash(GENESIS_HASH, event)
    assert (first.key_id, second.key_id) == (key_id_of(KEY_A.encode()), key_id_of(KEY_A.encode()))
    assert (first.position, second.position) == (1, 2)
    # and the key itself is nowhere in the database
    with connection.cursor() as cursor:
        cursor.execute("SELECT count(*) FROM audit_auditseal WHERE hash = %s", [KEY_A])
        assert cursor.fetchone()[0] == 0
    assert KEY_A not in repr(signing_key())


@override_settings(AUDIT_CHAIN_KEY=KEY_A, AUDIT_CHAIN_OLD_KEYS=[])
def test_a_row_rewritten_and_resealed_without_the_key_is_caught():
    # given a sealed chain of two rows
    rows = record(2)
    audit_seal_pending()
    second = AuditSeal.objects.get(event_id=rows[1].pk)
    # when someone with table rights but not the key forges the last row and recomputes its
    # link the only way open to them (plain sha256, as the chain used to be made)
    _without_trigger(
        "UPDATE audit_auditevent SET action = %s WHERE id = %s", ["thing.forged", rows[1].pk]
    )
    forged = legacy_link_hash(second.prev_hash, AuditEvent.objects.get(pk=rows[1].pk))
    _without_trigger(
        "UPDATE audit_auditseal SET hash = %s, key_id = '', position = NULL WHERE id = %s",
        [forged, second.pk],
    )
    # then verification refuses the link
    report = audit_chain_verify()
    assert not report.ok
    assert report.broken_event_id == rows[1].pk
    assert "without the key" in report.reason


def test_a_rotated_key_keeps_verifying_the_seals_it_made_while_it_is_in_the_keyring():
    # given links sealed under key A, then more under key B after a rotation
    with override_settings(AUDIT_CHAIN_KEY=KEY_A, AUDIT_CHAIN_OLD_KEYS=[]):
        record(2)
        audit_seal_pending()
    with override_settings(AUDIT_CHAIN_KEY=KEY_B, AUDIT_CHAIN_OLD_KEYS=[KEY_A]):
        record(2)
        audit_seal_pending()
        # then the whole chain verifies with B current and A retired
        report = audit_chain_verify()
        assert (report.ok, report.checked) == (True, 4)
        assert set(keyring()) == {key_id_of(KEY_A.encode()), key_id_of(KEY_B.encode())}
    assert [seal.position for seal in AuditSeal.objects.order_by("id")] == [1, 2, 3, 4]
    # and once A is dropped from the keyring, its seals can no longer be vouched for
    with override_settings(AUDIT_CHAIN_KEY=KEY_B, AUDIT_CHAIN_OLD_KEYS=[]):
        report = audit_chain_verify()
        assert not report.ok
        assert "not in the keyring" in report.reason
        assert report.checked == 0


@override_settings(AUDIT_CHAIN_KEY=KEY_A, AUDIT_CHAIN_OLD_KEYS=[])
def test_unkeyed_links_from_before_the_key_are_accepted_only_as_the_chain_prefix():
    # given two links sealed the old way (plain sha256, no key id), as an upgraded database
    # has them
    rows = record(2)
    prev_hash = GENESIS_HASH
    for row in rows:
        event = AuditEvent.objects.get(pk=row.pk)
        link = legacy_link_hash(prev_hash, event)
        AuditSeal.objects.create(event=event, prev_hash=prev_hash, hash=link)
        prev_hash = link
    # when new rows are sealed with the key
    record(1)
    assert audit_seal_pending() == 1
    # then the chain continues from the unkeyed history, counting it
    report = audit_chain_verify()
    assert (report.ok, report.checked, report.legacy) == (True, 3, 2)
    assert AuditSeal.objects.order_by("-id").first().position == 3
    # but an unkeyed link after a keyed one is refused
    (late,) = record(1)
    tip = AuditSeal.objects.order_by("-id").first()
    event = AuditEvent.objects.get(pk=late.pk)
    AuditSeal.objects.create(
        event=event, prev_hash=tip.hash, hash=legacy_link_hash(tip.hash, event)
    )
    report = audit_chain_verify()
    assert not report.ok
    assert report.broken_event_id == late.pk


@override_settings(AUDIT_CHAIN_KEY="", AUDIT_CHAIN_OLD_KEYS=[])
def test_without_a_key_sealing_refuses_and_the_rows_wait_unsealed():
    record(1)
    with pytest.raises(ImproperlyConfigured, match="AUDIT_CHAIN_KEY"):
        audit_seal_pending()
    assert AuditSeal.objects.count() == 0
    assert audit_chain_verify().unsealed == 1


class TestSettings:
    """The key comes from the environment; a development default only in development/test."""

    def production(self, **env: str) -> subprocess.CompletedProcess[str]:
        """A fresh interpreter on the production settings, with only this environment."""
        script = (
            "import django; django.setup(); from django.conf import settings as s; "
            "print(repr(s.AUDIT_CHAIN_KEY))"
        )
        clean = {
            "PATH": os.environ.get("PATH", ""),
            "PYTHONDONTWRITEBYTECODE": "1",
            "DJANGO_SETTINGS_MODULE": "config.settings",
            "DJANGO_ENV": "production",
            "ALLOWED_HOSTS": "carebook.example.test",
            "LOG_LEVEL": "ERROR",
            "SECRET_KEY": secrets.token_urlsafe(50),
            "AUDIT_FINGERPRINT_KEY": secrets.token_urlsafe(40),
            **env,
        }
        return subprocess.run(
            [sys.executable, "-c", script],
            cwd=ROOT,
            env=clean,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )

    def test_a_short_or_development_key_is_refused_outside_development(self):
        for bad in ("too-short", "insecure-carebook-audit-chain-key-development-only"):
            result = self.production(AUDIT_CHAIN_KEY=bad)
            assert result.returncode != 0
            assert "AUDIT_CHAIN_KEY" in result.stderr
            assert bad not in result.stderr  # never the value

    def test_the_api_may_start_without_the_key_and_gets_no_default(self):
        # only the worker seals; it refuses without the key (test above)
        result = self.production()
        assert result.returncode == 0, result.stderr[-2000:]
        assert result.stdout.strip() == "''"

    def test_a_real_key_is_taken_as_given(self):
        key = secrets.token_urlsafe(40)
        result = self.production(AUDIT_CHAIN_KEY=key)
        assert result.returncode == 0, result.stderr[-2000:]
        assert result.stdout.strip() == repr(key)
