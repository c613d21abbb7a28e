"""Celery tasks of the waitlist: the sweep that expires offers nobody answered."""

from __future__ import annotations

from celery import shared_task

from waitlist.services import offers_expire_due


@shared_task(name="waitlist.sweep", acks_late=True)
def waitlist_sweep() -> int:
    """Expire live offers past their deadline and pass each slot on (beat, every 30 s,
    so a slot nobody answered moves on within a minute of its deadline)."""
    return offers_expire_due()
