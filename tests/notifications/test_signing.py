"""The documented signature scheme, and the verification snippet of docs/webhooks.md."""

from __future__ import annotations

import hashlib
import hmac
import re
import time
from pathlib import Path

import pytest

from notifications.signing import (
    SignatureError,
    compute_signature,
    signature_header,
    verify_signature,
)

BODY = b'{"data":{"appointment_id":7},"id":"e1","type":"appointment.scheduled"}'


def test_signature_is_hmac_sha256_over_timestamp_dot_body():
    expected = hmac.new(b"s3cret", b"1700000000." + BODY, hashlib.sha256).hexdigest()

    assert compute_signature("s3cret", 1700000000, BODY) == expected
    assert signature_header(["s3cret"], BODY, timestamp=1700000000) == f"t=1700000000,v1={expected}"


def test_fresh_correct_signature_verifies():
    header = signature_header(["s3cret"], BODY)

    assert verify_signature(BODY, header, "s3cret") == int(header.split(",")[0][2:])


@pytest.mark.parametrize(
    ("header", "body", "secret", "message"),
    [
        ("", BODY, "s3cret", "malformed"),
        ("t=abc,v1=00", BODY, "s3cret", "malformed"),
        ("t=1700000000", BODY, "s3cret", "malformed"),
        (None, BODY + b" ", "s3cret", "no signature matches"),  # body changed
        (None, BODY, "other", "no signature matches"),  # wrong secret
    ],
)
def test_tampered_or_malformed_deliveries_are_refused(header, body, secret, message):
    header = header if header is not None else signature_header(["s3cret"], BODY)

    with pytest.raises(SignatureError, match=message):
        verify_signature(body, header, secret)


def test_timestamps_older_than_five_minutes_are_refused():
    t = int(time.time())
    header = signature_header(["s3cret"], BODY, timestamp=t)

    assert verify_signature(BODY, header, "s3cret", now=t + 300) == t
    with pytest.raises(SignatureError, match="tolerance"):
        verify_signature(BODY, header, "s3cret", now=t + 301)
    with pytest.raises(SignatureError, match="tolerance"):
        verify_signature(BODY, header, "s3cret", now=t - 301)  # from the future


def test_during_rotation_either_secret_verifies():
    header = signature_header(["new-secret", "old-secret"], BODY)

    assert header.count("v1=") == 2
    verify_signature(BODY, header, "new-secret")
    verify_signature(BODY, header, "old-secret")
    with pytest.raises(SignatureError):
        verify_signature(BODY, header, "third")


def test_the_snippet_in_docs_webhooks_md_verifies_our_signature():
    # given the receiver code exactly as published in the docs
    docs = Path(__file__).resolve().parents[2] / "docs" / "webhooks.md"
    snippet = re.search(r"```python\n(.*?)```", docs.read_text(), re.DOTALL)
    assert snippet is not None
    namespace: dict = {}
    exec(compile(snippet.group(1), "docs/webhooks.md", "exec"), namespace)  # noqa: S102
    verify = namespace["verify_carebook_signature"]
    header = signature_header(["new", "old"], BODY)

    # then it accepts our deliveries and refuses tampered or stale ones
    assert verify(BODY, header, "old") is True
    assert verify(BODY + b"x", header, "old") is False
    stale = signature_header(["new"], BODY, timestamp=int(time.time()) - 301)
    assert verify(BODY, stale, "new") is False
