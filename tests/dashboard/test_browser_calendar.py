""" "Subscribe in your calendar" in a real browser (Debian's chromium through Playwright):
the clinician makes a feed address, a calendar client (httpx) subscribes to it, the
clinician turns patient names on, gets a new address, and revokes it.

The browser, the tab and the page checks (axe-core, CSP, screenshots) are
tests/dashboard/test_browser.py's.
"""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import urlsplit

import httpx
import pytest
from django.utils import timezone
from icalendar import Calendar

from tests.dashboard.test_browser import browser, visit  # noqa: F401
from tests.factories import PatientFactory, PsychologistFactory, SlotFactory

pytest.importorskip("playwright.sync_api")

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.filterwarnings("ignore::celery.exceptions.AlwaysEagerIgnored"),
]


def subscribe(base_url: str, feed_url: str) -> httpx.Response:
    """What a calendar app does with the address: GET it, no login."""
    with httpx.Client(base_url=base_url, timeout=10) as calendar_app:
        return calendar_app.get(urlsplit(feed_url).path)


def summaries(response: httpx.Response) -> list[str]:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "text/calendar; charset=utf-8"
    return [str(e["SUMMARY"]) for e in Calendar.from_ical(response.content).walk("VEVENT")]


def test_a_clinician_subscribes_renews_and_revokes_a_calendar_feed(visit, live_server):  # noqa: F811
    # given a psychologist with one booked session
    from scheduling.services import appointment_book

    psychologist = PsychologistFactory(first_name="Pia", last_name="Psych")
    patient = PatientFactory(first_name="Cleo", last_name="Clientname")
    start = (timezone.now() + timedelta(days=2)).replace(minute=0, second=0, microsecond=0)
    slot = SlotFactory(clinician=psychologist, start=start, end=start + timedelta(minutes=50))
    appointment_book(patient=patient, slot_id=slot.pk, reason="Sleep trouble")
    tab = visit()
    page = tab.page
    tab.login(psychologist)

    # when she opens the page from the navigation
    page.get_by_role("navigation").get_by_role("link", name="Calendar").click()
    page.get_by_role("heading", name="Subscribe in your calendar").wait_for()
    assert "You have no calendar feed." in page.locator("#feed-status").inner_text()
    tab.check("calendar-none")

    # and creates her feed address: it is shown once
    page.get_by_role("button", name="Create my feed address").click()
    address = page.get_by_role("textbox", name="Feed address")
    address.wait_for()
    first_url = address.input_value()
    assert first_url.startswith(live_server.url + "/calendar/")
    tab.check("calendar-created")

    # then a calendar app reads her session, with no patient name
    assert summaries(subscribe(live_server.url, first_url)) == ["Appointment"]

    # when she turns patient names on
    page.get_by_label("Show patient names and reasons in my calendar").check()
    page.get_by_role("button", name="Save").click()
    page.get_by_text("Your calendar now shows patient names and reasons.").wait_for()
    assert page.get_by_label("Show patient names and reasons in my calendar").is_checked()
    assert page.get_by_role("textbox", name="Feed address").count() == 0  # shown only once
    tab.check("calendar-details-on")
    assert summaries(subscribe(live_server.url, first_url)) == ["Appointment with Cleo Clientname"]

    # and gets a new address: the old one stops at once
    page.get_by_role("button", name="Get a new address").click()
    second_url = page.get_by_role("textbox", name="Feed address").input_value()
    assert second_url != first_url
    assert subscribe(live_server.url, first_url).status_code == 404
    assert summaries(subscribe(live_server.url, second_url)) == ["Appointment with Cleo Clientname"]

    # and revokes it
    page.get_by_role("button", name="Revoke").click()
    page.get_by_text("Your calendar feed is revoked").wait_for()
    assert "You have no calendar feed." in page.locator("#feed-status").inner_text()
    tab.check("calendar-revoked")
    assert subscribe(live_server.url, second_url).status_code == 404
