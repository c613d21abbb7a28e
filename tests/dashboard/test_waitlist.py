"""The agenda's waitlist box: how many patients wait for the clinician, and the freed
slots held for one of them now (slot time and deadline on the clinician's wall clock).

Rows are written directly here (as ``book`` writes appointments) so that every status an
offer can have is on the page at once; the whole path from a cancellation to the box is
the browser test's (tests/dashboard/test_browser_waitlist.py).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.models import User
from tests.dashboard.conftest import NOW
from tests.factories import PatientFactory, SlotFactory
from waitlist.models import WaitlistEntry, WaitlistOffer

pytestmark = pytest.mark.django_db

Entry, Offer = WaitlistEntry.Status, WaitlistOffer.Status


def text(response) -> str:
    return response.content.decode()


def waiting(clinician: User, count: int, **fields) -> list[WaitlistEntry]:
    """``count`` patients on the clinician's waitlist (each a new patient)."""
    entries = []
    for n in range(count):
        patient = PatientFactory.create(first_name=f"Wanda{n}", last_name="Waiting")
        entries.append(WaitlistEntry.objects.create(patient=patient, clinician=clinician, **fields))
    return entries


def offer(entry: WaitlistEntry, start: datetime, expires_at: datetime, **fields) -> WaitlistOffer:
    """An offer to ``entry`` of a freed slot of its clinician at ``start``."""
    slot = SlotFactory.create(
        clinician=entry.clinician, start=start, end=start + timedelta(minutes=50)
    )
    return WaitlistOffer.objects.create(
        entry=entry,
        slot=slot,
        patient=entry.patient,
        clinician=entry.clinician,
        expires_at=expires_at,
        **fields,
    )


def ended(entry: WaitlistEntry, status: str) -> WaitlistEntry:
    entry.status, entry.ended_at = status, timezone.now()
    entry.save(update_fields=["status", "ended_at"])
    return entry


class TestWaitlistBox:
    def test_counts_the_waiting_patients_and_lists_the_live_offers_in_local_time(
        self, web, psychologist, other_clinician, frozen_now
    ):
        # given three patients waiting for the psychologist, one who left and one who booked
        entries = waiting(psychologist, 5)
        ended(entries[3], Entry.REMOVED)
        ended(entries[4], Entry.FULFILLED)
        # and two waiting for another clinician, one of them holding an offer
        others = waiting(other_clinician, 2)
        offer(others[0], NOW + timedelta(days=1), NOW + timedelta(minutes=10))
        # and, of the psychologist's offers: one live (a slot at 18:00 UTC tomorrow, 14:00
        # in New York, held until 15:15 UTC, 11:15 in New York), one declined, and one
        # whose deadline passed before the sweep wrote it expired
        live = offer(
            entries[0], datetime(2026, 6, 11, 18, 0, tzinfo=UTC), NOW + timedelta(minutes=15)
        )
        offer(
            entries[1],
            datetime(2026, 6, 12, 18, 0, tzinfo=UTC),
            NOW + timedelta(minutes=5),
            status=Offer.DECLINED,
            responded_at=NOW,
        )
        offer(entries[2], datetime(2026, 6, 13, 18, 0, tzinfo=UTC), NOW - timedelta(seconds=1))

        # when the psychologist opens today's agenda
        response = web(psychologist).get("/dashboard/")

        # then the box counts three waiting and one open offer
        page = text(response)
        assert response.status_code == 200
        summary = response.context["waitlist"]
        assert (summary.waiting, summary.open_offers) == (3, 1)
        assert [o.pk for o in summary.offers] == [live.pk]
        assert '<strong class="waitlist-waiting-count">3</strong> patients waiting' in page
        assert '<strong class="waitlist-offer-count">1</strong> open offer.' in page
        # and the live offer's slot and deadline are on the clinician's wall clock
        assert f'id="offer-{live.pk}"' in page
        assert "Thu 11 Jun, 14:00" in page
        assert "Wed 10 Jun, 11:15" in page
        assert "Wanda0 Waiting" in page
        # and nothing of the other clinician's waitlist or of the dead offers shows
        assert page.count('id="offer-') == 1
        assert "Fri 12 Jun" not in page
        assert "Sat 13 Jun" not in page

    def test_an_empty_waitlist_says_so_without_a_table(self, web, doctor, frozen_now):
        page = text(web(doctor).get("/dashboard/"))

        assert '<strong class="waitlist-waiting-count">0</strong> patients waiting' in page
        assert '<strong class="waitlist-offer-count">0</strong> open offers.' in page
        assert '<table class="waitlist-offers">' not in page

    def test_soonest_deadline_first_and_at_most_five_listed(self, web, doctor, frozen_now):
        entries = waiting(doctor, 7)
        offers = [
            offer(entry, NOW + timedelta(days=1, hours=n), NOW + timedelta(minutes=20 - n))
            for n, entry in enumerate(entries)
        ]

        response = web(doctor).get("/dashboard/")

        summary = response.context["waitlist"]
        assert summary.open_offers == 7
        assert [o.pk for o in summary.offers] == [o.pk for o in offers[::-1][:5]]
        assert "and 2 more." in text(response)

    def test_the_box_costs_the_same_queries_with_one_offer_or_seven(self, web, doctor, frozen_now):
        def queries() -> int:
            client = web(doctor)
            client.get("/dashboard/")  # the session's first use is not the page's cost
            with CaptureQueriesContext(connection) as captured:
                assert client.get("/dashboard/").status_code == 200
            return len(captured)

        entries = waiting(doctor, 7)
        offer(entries[0], NOW + timedelta(days=1), NOW + timedelta(minutes=10))
        one = queries()
        for n, entry in enumerate(entries[1:], start=1):
            offer(entry, NOW + timedelta(days=1, hours=n), NOW + timedelta(minutes=10))

        assert queries() == one

    def test_the_box_is_on_every_day_of_the_agenda(self, web, doctor, frozen_now):
        (entry,) = waiting(doctor, 1)
        offer(entry, NOW + timedelta(days=3), NOW + timedelta(minutes=10))

        page = text(web(doctor).get("/dashboard/?day=2026-06-20"))

        assert '<strong class="waitlist-offer-count">1</strong> open offer.' in page
