"""Mail backends for the mail path's tests (selected with override_settings)."""

from __future__ import annotations

from collections.abc import Sequence

from django.core.mail import EmailMessage
from django.core.mail.backends.locmem import EmailBackend as LocmemBackend
from django.db import connection


class TransactionWatchingBackend(LocmemBackend):
    """locmem, noting every message sent while a database transaction was open.

    It records rather than raises: the old code paths swallowed or rolled back around a
    raising backend, which would hide the very thing the test looks for.
    """

    sent_in_transaction: list[str] = []

    def send_messages(self, email_messages: Sequence[EmailMessage]) -> int:
        if connection.in_atomic_block:
            type(self).sent_in_transaction.extend(str(m.subject) for m in email_messages)
        return super().send_messages(email_messages)


class FailingBackend(LocmemBackend):
    """A backend whose server is gone: every send raises (as smtplib does)."""

    def send_messages(self, email_messages: Sequence[EmailMessage]) -> int:
        raise ConnectionRefusedError(111, "Connection refused")
