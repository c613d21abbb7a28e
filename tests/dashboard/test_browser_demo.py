"""The first start, as a new user sees it: ``seed_demo``, then each demo role signs in
and finds real content on the first page. The pictures in the README come from here:
each run takes them again from the demo data (docs/images/*.png, a fixed 1280x800
viewport, palette PNGs) and checks they are real pictures the README shows.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from datetime import datetime, time, timedelta
from io import StringIO
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
import time_machine
from django.conf import settings
from django.core.management import call_command
from django.utils import timezone
from PIL import Image

from accounts.models import User
from dashboard.demo.people import (
    CLEO,
    DEMO_DOMAIN,
    DEMO_PASSWORD,
    DEMO_TIME_ZONE,
    FRONT_DESK,
    STAFF,
)
from tests.dashboard import test_browser as browser_suite

playwright_sync = pytest.importorskip("playwright.sync_api")
expect = playwright_sync.expect

# The browser suite's fixtures: one chromium for the module, a tab per test.
browser = browser_suite.browser
visit = browser_suite.visit

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.filterwarnings("ignore::celery.exceptions.AlwaysEagerIgnored"),
]

IMAGES = Path(settings.BASE_DIR) / "docs" / "images"
README = Path(settings.BASE_DIR) / "README.md"
VIEWPORT = {"width": 1280, "height": 800}
MIN_BYTES, MAX_BYTES = 8_000, 400_000


@pytest.fixture(autouse=True)
def _late_morning_in_the_clinics_zone() -> Iterator[None]:
    """The demo's today has a visit completed earlier and one in progress at any hour but
    the first few after the clinic's midnight (then they fall on the day before): these
    tests run at 11:00 in the demo's zone, today, with the clock ticking."""
    zone = ZoneInfo(DEMO_TIME_ZONE)
    today = timezone.now().astimezone(zone).date()
    with time_machine.travel(datetime.combine(today, time(11), tzinfo=zone), tick=True):
        yield


@pytest.fixture
def demo() -> str:
    out = StringIO()
    call_command("seed_demo", stdout=out)
    return out.getvalue()


def demo_user(email_local: str) -> User:
    return User.objects.get(email=f"{email_local}@{DEMO_DOMAIN}")


def picture(page: Any, name: str) -> Path:
    """Save the viewport as docs/images/<name>.png (a palette PNG: a few dozen KB) and
    check it is a real picture of the expected size that the README shows."""
    page.set_viewport_size(VIEWPORT)
    page.wait_for_load_state("networkidle")
    shot = Image.open(io.BytesIO(page.screenshot(full_page=False)))
    path = IMAGES / f"{name}.png"
    IMAGES.mkdir(parents=True, exist_ok=True)
    shot.convert("RGB").quantize(colors=256).save(path, optimize=True)
    assert MIN_BYTES < path.stat().st_size < MAX_BYTES, (name, path.stat().st_size)
    with Image.open(path) as saved:
        assert saved.format == "PNG"
        assert saved.size == (VIEWPORT["width"], VIEWPORT["height"])
        assert len(saved.getcolors(maxcolors=256) or []) > 8  # not a blank page
    assert f"docs/images/{name}.png" in README.read_text(), f"README does not show {name}"
    return path


def admin_login(tab: Any, email_local: str) -> None:
    tab.go("/admin/login/")
    tab.page.get_by_label("Email").fill(f"{email_local}@{DEMO_DOMAIN}")
    tab.page.get_by_label("Password").fill(DEMO_PASSWORD)
    tab.page.get_by_role("button", name="Log in").click()
    tab.page.wait_for_load_state("load")


def test_the_psychologist_sees_her_day_and_eight_weeks_of_history(demo, visit):
    cleo = demo_user(CLEO.email_local)
    tab = visit()
    page = tab.page
    tab.go("/dashboard/login/")
    page.get_by_label("Email").fill(cleo.email)
    page.get_by_label("Password").fill(DEMO_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_load_state("load")

    # the first page is today's agenda with visits on it, before and after now
    assert page.url.endswith("/dashboard/")
    rows = page.locator("table.agenda tbody tr[id^=appointment-]")
    assert rows.count() >= 2
    expect(page.locator("table.agenda")).to_contain_text("Completed")
    expect(page.locator("table.agenda")).to_contain_text("In progress")
    # and the chart's eight weeks all have sessions
    weeks = page.locator("section.chart tbody tr td:nth-child(2)").all_text_contents()
    assert len(weeks) == 8
    assert all(int(n) > 0 for n in weeks), weeks
    tab.check("demo-agenda")
    picture(page, "dashboard-agenda")

    # her week, with the weekly series and published slots
    tab.go("/dashboard/week/")
    tab.check("demo-week")
    picture(page, "dashboard-week")


def test_front_desk_staff_see_the_overview_and_their_work_first(demo, visit):
    tab = visit()
    admin_login(tab, FRONT_DESK.email_local)
    page = tab.page

    # the overview card, then the groups, the front desk first with its booking page
    page.get_by_role("heading", name="Clinic overview").wait_for()
    overview = page.locator("section.clinic-overview").inner_text()
    assert "Today's appointments" in overview
    captions = page.locator("#content-main caption").all_text_contents()
    assert captions[0].strip() == "Front desk"
    assert "System" not in [c.strip() for c in captions]
    first_entry = page.locator("div.app-group-front-desk th[scope=row]").first
    assert first_entry.inner_text().strip() == "Book an appointment"
    expect(page.locator("#site-name")).to_contain_text("Carebook back office")

    # the booking page, on the psychologist's next week
    cleo = demo_user(CLEO.email_local)
    day = (timezone.now() + timedelta(days=7)).astimezone(cleo.tzinfo).date()
    tab.go(
        f"/admin/scheduling/appointment/book/?clinician={cleo.pk}&span=week"
        f"&day={day.isoformat()}&q=demo-patient"
    )
    page.get_by_role("heading", name="Book an appointment").wait_for()
    expect(page.locator("#free-slots")).to_contain_text(":")
    picture(page, "admin-booking")


def test_the_superuser_sees_the_overview_and_the_system_group(demo, visit):
    tab = visit()
    admin_login(tab, STAFF.email_local)
    page = tab.page
    page.get_by_role("heading", name="Clinic overview").wait_for()
    captions = [c.strip() for c in page.locator("#content-main caption").all_text_contents()]
    assert captions[0] == "Front desk"
    assert captions[-1] == "System"
    picture(page, "admin-overview")


def test_a_patient_lists_past_and_future_appointments_in_the_api(demo, live_server):
    now = timezone.now()
    with httpx.Client(base_url=live_server.url, timeout=10) as api:
        token = api.post(
            "/api/v1/auth/token/",
            json={"email": f"patient.pat@{DEMO_DOMAIN}", "password": DEMO_PASSWORD},
        )
        assert token.status_code == 200, token.text
        listed = api.get(
            "/api/v1/appointments/",
            headers={"Authorization": f"Bearer {token.json()['access']}"},
        )
    assert listed.status_code == 200, listed.text
    body = listed.json()
    rows = body["results"] if isinstance(body, dict) else body
    starts = [datetime.fromisoformat(row["start"]) for row in rows]
    assert any(start < now for start in starts)
    assert any(start > now for start in starts)
    assert {row["status"] for row in rows} >= {"completed"}


def test_the_api_docs_page(demo, visit):
    tab = visit()
    tab.go("/api/docs/")
    tab.page.locator(".swagger-ui .info .title").wait_for()
    tab.page.locator(".opblock").first.wait_for()
    picture(tab.page, "api-docs")
