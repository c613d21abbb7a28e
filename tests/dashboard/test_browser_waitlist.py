"""The waitlist box of the agenda in a real browser (Debian's chromium through Playwright),
fed by the real path: a patient joins the waitlist through the API, another cancels
through the API, the freed slot is offered and held; the clinician sees it on the first
page after signing in, and sees it go when the offer is declined.

The browser, the tab and the page checks (axe-core, CSP, screenshots) are
tests/dashboard/test_browser.py's.
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
from django.utils import timezone

from accounts.models import User
from tests.dashboard.test_browser import browser, mid_morning_zone, visit  # noqa: F401
from tests.factories import PASSWORD, DoctorFactory, PatientFactory, SlotFactory
from waitlist.models import WaitlistOffer

pytest.importorskip("playwright.sync_api")

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.filterwarnings("ignore::celery.exceptions.AlwaysEagerIgnored"),
]


class PatientApp:
    """A patient's app on the live server: signed in with their own token."""

    def __init__(self, base_url: str, patient: User) -> None:
        self.api = httpx.Client(base_url=base_url, timeout=10)
        token = self.api.post(
            "/api/v1/auth/token/", json={"email": patient.email, "password": PASSWORD}
        ).json()["access"]
        self.api.headers["Authorization"] = f"Bearer {token}"

    def post(self, path: str, body: dict[str, Any], **headers: str) -> httpx.Response:
        return self.api.post(path, json=body, headers=headers)

    def get(self, path: str) -> httpx.Response:
        return self.api.get(path)

    def close(self) -> None:
        self.api.close()


def listed(response: httpx.Response) -> list[dict[str, Any]]:
    body = response.json()
    return body["results"] if isinstance(body, dict) else body


def test_a_cancellation_shows_up_as_an_open_offer_on_the_clinicians_agenda(
    visit,  # noqa: F811
    live_server,
):
    # given a doctor somewhere it is mid-morning, with a slot in two days booked by Cleo
    # (past the 24 hours before a visit a patient may still cancel)
    zone = mid_morning_zone()
    doctor = DoctorFactory(time_zone=zone, first_name="Dora", last_name="Doctor")
    start = (timezone.now() + timedelta(days=2)).replace(second=0, microsecond=0)
    slot = SlotFactory(clinician=doctor, start=start, end=start + timedelta(minutes=30))
    cleo = PatientApp(live_server.url, PatientFactory(first_name="Cleo", last_name="Client"))
    wanda_user = PatientFactory(first_name="Wanda", last_name="Waiting")
    wanda = PatientApp(live_server.url, wanda_user)
    booked = cleo.post(
        "/api/v1/appointments/", {"slot": slot.pk}, **{"Idempotency-Key": str(uuid.uuid4())}
    )
    assert booked.status_code == 201, booked.text
    # and Wanda on the doctor's waitlist, through her app
    joined = wanda.post("/api/v1/waitlist/", {"clinician": doctor.pk})
    assert joined.status_code == 201, joined.text

    # when Cleo cancels through her app
    cancelled = cleo.post(f"/api/v1/appointments/{booked.json()['id']}/cancel/", {})
    assert cancelled.status_code == 200, cancelled.text

    # then Wanda has the offer of that slot
    (offer,) = listed(wanda.get("/api/v1/waitlist/offers/"))
    assert (offer["slot"], offer["status"]) == (slot.pk, "offered")

    # and the doctor, signing in, sees one waiting and one open offer on her first page,
    # with the slot's time and the hold's end on her own wall clock
    tab = visit()
    page = tab.page
    tab.login(doctor)
    assert page.url.endswith("/dashboard/")
    box = page.get_by_role("region", name="Waitlist")
    assert box.locator(".waitlist-waiting-count").inner_text() == "1"
    assert box.locator(".waitlist-offer-count").inner_text() == "1"
    row = box.get_by_role("row", name="Wanda Waiting")
    local_start = slot.start.astimezone(ZoneInfo(zone))
    expires = WaitlistOffer.objects.get(pk=offer["id"]).expires_at.astimezone(ZoneInfo(zone))
    assert (
        row.locator("td").nth(0).inner_text()
        == f"{local_start:%a} {local_start.day} {local_start:%b, %H:%M}"
    )
    assert (
        row.locator("td").nth(2).inner_text() == f"{expires:%a} {expires.day} {expires:%b, %H:%M}"
    )
    tab.check("agenda-waitlist-offer")

    # when Wanda declines, the doctor's next look shows no open offer
    declined = wanda.post(f"/api/v1/waitlist/offers/{offer['id']}/decline/", {})
    assert declined.status_code == 200, declined.text
    tab.go("/dashboard/")
    box = page.get_by_role("region", name="Waitlist")
    assert box.locator(".waitlist-offer-count").inner_text() == "0"
    assert box.get_by_role("table").count() == 0
    tab.check("agenda-waitlist-none-open")
    cleo.close()
    wanda.close()
