"""The dashboard in a real browser: Playwright driving Debian's chromium against live_server.

One browser for the module; each test gets a fresh context (cookies) and page. Every page
visited is checked with axe-core (no serious or critical violation), must log no CSP
violation, and is saved as a screenshot under artifacts/screenshots/ (not committed).

Celery runs eagerly in this module: the report build a request starts runs in the live
server's thread. The outbox's after-commit publishes go through ``send_task``, which eager
mode does not cover (Celery warns so): they reach the broker as in production, and no test
here waits for their delivery.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest
import time_machine
from django.conf import settings
from django.test import Client
from django.utils import timezone

from accounts.models import User
from accounts.staff_group import staff_group_sync
from audit.models import AuditEvent
from config.celery import app as celery_app
from consultations.models import Consultation, Prescription
from core.jobs import job_create
from core.models import Job
from reports.services import report_build
from scheduling.models import Appointment, Slot
from tests.dashboard.conftest import book
from tests.factories import (
    PASSWORD,
    DoctorFactory,
    PatientFactory,
    PsychologistFactory,
    SlotFactory,
    StaffFactory,
)

playwright_sync = pytest.importorskip("playwright.sync_api")
expect = playwright_sync.expect

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.filterwarnings("ignore::celery.exceptions.AlwaysEagerIgnored"),
]

CHROMIUM = os.environ.get("CAREBOOK_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
AXE = Path(__file__).parent / "vendor" / "axe-4.14.1.min.js"
SCREENSHOTS = Path(settings.BASE_DIR) / "artifacts" / "screenshots"
TIMEOUT_MS = 10_000

# Zones around the world: the psychologist gets one where it is now mid-morning, so the
# session published "in 90 minutes" starts and ends on the same local day.
ZONES = [
    "Pacific/Honolulu",
    "America/Los_Angeles",
    "America/New_York",
    "America/Sao_Paulo",
    "Europe/London",
    "Europe/Istanbul",
    "Asia/Kolkata",
    "Asia/Singapore",
    "Asia/Tokyo",
    "Pacific/Auckland",
]


def mid_morning_zone() -> str:
    now = timezone.now()
    for name in ZONES:
        if 7 <= now.astimezone(ZoneInfo(name)).hour < 13:
            return name
    raise AssertionError("no zone is mid-morning now")  # the list covers every hour


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not Path(CHROMIUM).exists():
        missing = f"chromium not installed at {CHROMIUM} (apt-get install chromium)"
        if os.environ.get("CAREBOOK_REQUIRE_SERVICES") == "1":  # CI: .ci/run installs it
            pytest.fail(missing)
        pytest.skip(missing)
    # Playwright's sync API runs an event loop in this thread; the ORM calls the tests
    # make between browser steps are plain synchronous code all the same.
    previous_async = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    eager = celery_app.conf.task_always_eager
    celery_app.conf.task_always_eager = True
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    with playwright_sync.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()
    celery_app.conf.task_always_eager = eager
    if previous_async is None:
        os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
    else:
        os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = previous_async


class Visit:
    """A browser tab on the live server that records CSP violations and checks pages."""

    def __init__(self, browser: Any, base_url: str, *, width: int = 1280) -> None:
        self.base_url = base_url
        self.context = browser.new_context(
            base_url=base_url, viewport={"width": width, "height": 900}, accept_downloads=True
        )
        self.context.set_default_timeout(TIMEOUT_MS)
        # axe-core arrives through the DevTools protocol, which the page's CSP does not govern.
        self.context.add_init_script(path=str(AXE))
        self.page = self.context.new_page()
        self.csp_violations: list[str] = []
        self.page.on("console", self._console)

    def _console(self, message: Any) -> None:
        if "Content Security Policy" in message.text:
            self.csp_violations.append(message.text)

    def go(self, path: str) -> Any:
        response = self.page.goto(path)
        self.page.wait_for_load_state("load")
        return response

    def check(self, name: str) -> None:
        """Screenshot, no serious/critical axe violation, no CSP violation so far."""
        self.page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)
        result = self.page.evaluate(
            """async () => {
                const r = await axe.run(document, {
                    runOnly: {type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa",
                                                     "best-practice"]}});
                return r.violations.map(v => ({id: v.id, impact: v.impact,
                    nodes: v.nodes.slice(0, 3).map(n => n.target.join(" "))}));
            }"""
        )
        bad = [v for v in result if v["impact"] in ("serious", "critical")]
        assert not bad, f"{name}: accessibility violations {bad}"
        assert not self.csp_violations, f"{name}: CSP violations {self.csp_violations}"

    def login(self, user: User) -> None:
        self.go("/dashboard/login/")
        self.page.get_by_label("Email").fill(user.email)
        self.page.get_by_label("Password").fill(PASSWORD)
        self.page.get_by_role("button", name="Sign in").click()
        self.page.wait_for_load_state("load")

    def close(self) -> None:
        self.context.close()


@pytest.fixture
def visit(browser, live_server) -> Iterator[Any]:
    opened: list[Visit] = []

    def open_tab(width: int = 1280) -> Visit:
        tab = Visit(browser, live_server.url, width=width)
        opened.append(tab)
        return tab

    yield open_tab
    for tab in opened:
        tab.close()


def book_through_the_api(base_url: str, patient: User, clinician: User) -> dict[str, Any]:
    """The patient's app: sign in, find the clinician's open slot, book it."""
    with httpx.Client(base_url=base_url, timeout=10) as api:
        token = api.post(
            "/api/v1/auth/token/", json={"email": patient.email, "password": PASSWORD}
        ).json()["access"]
        auth = {"Authorization": f"Bearer {token}"}
        listed = api.get(
            "/api/v1/availability/",
            params={"clinician": clinician.pk, "status": "open"},
            headers=auth,
        ).json()
        slots = listed["results"] if isinstance(listed, dict) else listed
        booked = api.post(
            "/api/v1/appointments/",
            json={"slot": slots[0]["id"], "reason": "Sleep trouble"},
            headers={**auth, "Idempotency-Key": str(uuid.uuid4())},
        )
    assert booked.status_code == 201, booked.text
    return booked.json()


def test_a_psychologists_day(visit, live_server):
    # given a psychologist somewhere it is mid-morning, and a patient with the app
    zone = mid_morning_zone()
    psychologist = PsychologistFactory(time_zone=zone, first_name="Pia", last_name="Psych")
    patient = PatientFactory(first_name="Cleo", last_name="Client")
    tab = visit()
    page = tab.page

    # the login page itself
    tab.go("/dashboard/login/")
    tab.check("login")

    # when she signs in, she lands on today's agenda, with her time zone named
    tab.login(psychologist)
    assert page.url.endswith("/dashboard/")
    assert zone in page.locator("header").inner_text()
    tab.check("agenda-empty")

    # and publishes a 50-minute session starting in about 90 minutes, in her own time
    local_start = (timezone.now() + timedelta(minutes=90)).astimezone(ZoneInfo(zone))
    local_start = local_start.replace(minute=local_start.minute // 5 * 5, second=0, microsecond=0)
    local_end = local_start + timedelta(minutes=50)
    tab.go("/dashboard/availability/")
    tab.check("availability")
    slot_form = page.locator("form", has=page.get_by_role("button", name="Publish slots"))
    slot_form.get_by_label("Date").fill(local_start.date().isoformat())
    slot_form.get_by_label("From").fill(local_start.strftime("%H:%M"))
    slot_form.get_by_label("Until").fill(local_end.strftime("%H:%M"))
    slot_form.get_by_role("button", name="Publish slots").click()
    page.get_by_text("1 slot(s) published.").wait_for()
    slot = Slot.objects.get(clinician=psychologist)
    assert slot.start == local_start
    # a second, overlapping publication is refused and the clash is explained
    slot_form = page.locator("form", has=page.get_by_role("button", name="Publish slots"))
    slot_form.get_by_label("Date").fill(local_start.date().isoformat())
    slot_form.get_by_label("From").fill(local_start.strftime("%H:%M"))
    slot_form.get_by_label("Until").fill(local_end.strftime("%H:%M"))
    slot_form.get_by_role("button", name="Publish slots").click()
    page.get_by_role("heading", name="Conflicts").wait_for()
    tab.check("availability-conflict")
    # and a weekly rule for next month
    rule_form = page.locator("form", has=page.get_by_role("button", name="Publish weekly"))
    rule_form.get_by_label("Weekday").select_option("Friday")
    rule_form.get_by_label("From").fill("09:00")
    rule_form.get_by_label("Until").fill("12:00")
    rule_form.get_by_label("Minutes per slot").fill("60")
    rule_form.get_by_label("Starting on").fill(
        (local_start.date() + timedelta(days=28)).isoformat()
    )
    rule_form.get_by_label("Ending on (optional)").fill(
        (local_start.date() + timedelta(days=34)).isoformat()
    )
    rule_form.get_by_role("button", name="Publish weekly availability").click()
    page.get_by_text("Weekly availability saved: 3 slots published.").wait_for()

    # when the patient books the first open slot through the API
    booked = book_through_the_api(live_server.url, patient, psychologist)
    assert Appointment.objects.get(pk=booked["id"]).slot_id == slot.pk

    # then it is on her agenda for that day, at her local time
    day = local_start.date().isoformat()
    tab.go(f"/dashboard/?day={day}")
    row = page.locator("tr", has_text="Cleo Client")
    assert local_start.strftime("%H:%M") in row.inner_text()
    tab.check("agenda")
    tab.go(f"/dashboard/week/?start={day}")
    assert "Cleo Client" in page.locator("main").inner_text()
    tab.check("week")

    # when the session time comes, she starts it with one click (an htmx partial update)
    with time_machine.travel(slot.start + timedelta(minutes=5), tick=True):
        tab.go(f"/dashboard/?day={day}")
        row = page.locator("tr", has_text="Cleo Client")
        row.get_by_role("button", name="Start").click()
        row.get_by_text("In progress").wait_for()
        assert page.url.endswith(f"?day={day}")  # no page load: only the row was swapped

        # writes her notes on the consultation page and completes the session
        row.get_by_role("link", name="Consultation").click()
        page.get_by_role("textbox", name="Notes").fill(
            "Discussed sleep hygiene; follow up in two weeks."
        )
        page.get_by_role("button", name="Save notes").click()
        page.get_by_text("Notes saved.").wait_for()
        tab.check("consultation-in-progress")
        page.get_by_role("button", name="Complete session").click()
        page.get_by_text("Consultation completed.").wait_for()
        assert "Completed" in page.locator("#consultation-status").inner_text()
        assert "Issue prescription" not in page.content()  # psychologists never prescribe
        tab.check("consultation-completed")

    appointment = Appointment.objects.get(patient=patient)
    assert appointment.status == Appointment.Status.COMPLETED
    consultation = Consultation.objects.get(appointment=appointment)
    assert consultation.notes.startswith("Discussed sleep hygiene")

    # the client list and the client's history
    tab.go("/dashboard/clients/")
    tab.check("clients")
    page.get_by_role("link", name="Cleo Client").click()
    page.get_by_role("heading", name="Cleo Client").wait_for()
    assert "Discussed sleep hygiene" in page.locator("main").inner_text()
    tab.check("client")

    # when she requests a caseload report, it is built and she downloads it
    tab.go("/dashboard/reports/")
    tab.check("reports")
    page.get_by_label("From", exact=True).fill((local_start.date() - timedelta(days=7)).isoformat())
    page.get_by_label("To (inclusive)").fill((local_start.date() + timedelta(days=1)).isoformat())
    page.get_by_label("Format").select_option("csv")
    page.get_by_role("button", name="Request report").click()
    link = page.get_by_role("link", name="Download the report")
    link.wait_for()
    tab.check("report")
    with page.expect_download() as download_info:
        link.click()
    content = Path(download_info.value.path()).read_text()
    assert f"{patient.pk},Cleo Client,{patient.email}," in content  # the caseload row
    assert Job.objects.get(requested_by=psychologist).status == "succeeded"


def test_report_progress_is_polled_until_the_file_is_ready(visit):
    # given a report job the worker has not picked up yet
    psychologist = PsychologistFactory()
    job = job_create(kind="report", requested_by=psychologist)
    today = timezone.now().date()
    window = {"kind": "caseload", "from": str(today - timedelta(days=7)), "to": str(today)}
    Job.objects.filter(id=job.id).update(result={"request": {**window, "format": "csv"}})
    tab = visit()
    tab.login(psychologist)

    # when she watches its page
    tab.go(f"/dashboard/reports/{job.id}/")
    tab.page.get_by_text("Queued").wait_for()

    # then, once the worker builds it, the page updates itself with the download link
    report_build(job_id=job.id)
    tab.page.get_by_role("link", name="Download the report").wait_for(timeout=5_000)
    assert "Succeeded" in tab.page.locator("#job-status").inner_text()


def test_a_doctor_completes_a_consultation_and_prescribes(visit):
    # given a doctor whose patient arrived twenty minutes ago
    doctor = DoctorFactory(time_zone="UTC", first_name="Dora", last_name="Doctor")
    patient = PatientFactory(first_name="Pat", last_name="Ient")
    start = timezone.now().replace(second=0, microsecond=0) - timedelta(minutes=20)
    book(doctor, patient, start=start, reason="Sore throat")
    tab = visit()
    page = tab.page
    tab.login(doctor)

    # when she starts, writes notes and completes the consultation
    tab.go(f"/dashboard/?day={start.date().isoformat()}")
    row = page.locator("tr", has_text="Pat Ient")
    row.get_by_role("button", name="Start").click()
    row.get_by_text("In progress").wait_for()
    # keyboard users keep their place: focus moves to the row's next action, and the
    # change is announced through the status region
    expect(row.get_by_role("button", name="Complete")).to_be_focused()
    expect(page.locator("#agenda-announcer")).to_have_text("Pat Ient: In progress")
    row.get_by_role("link", name="Consultation").click()
    page.get_by_role("textbox", name="Notes").fill("Tonsillitis.")
    page.get_by_role("button", name="Save notes").click()
    page.get_by_text("Notes saved.").wait_for()
    page.get_by_role("button", name="Complete session").click()
    page.get_by_text("Consultation completed.").wait_for()

    # and prescribes on the completed consultation
    page.get_by_label("Medication").fill("Phenoxymethylpenicillin")
    page.get_by_label("Dose").fill("500 mg")
    page.get_by_label("Route").select_option("oral")
    page.get_by_label("Frequency").fill("four times daily")
    page.get_by_label("Duration").fill("10 days")
    page.get_by_label("Quantity").fill("40")
    page.get_by_role("button", name="Issue prescription").click()
    page.get_by_text("Prescription issued.").wait_for()
    tab.check("consultation-prescribed")

    # then the prescription is recorded and listed
    prescription = Prescription.objects.get()
    assert prescription.prescriber == doctor
    assert prescription.consultation.appointment.patient == patient
    assert "Phenoxymethylpenicillin" in page.locator("main").inner_text()


def test_patients_and_staff_cannot_reach_the_dashboard(visit, live_server):
    patient = PatientFactory()
    staff = StaffFactory()

    # a patient cannot sign in here
    tab = visit()
    tab.login(patient)
    assert "Clients use the Carebook app" in tab.page.locator("main").inner_text()
    response = tab.go("/dashboard/clients/")
    assert "/dashboard/login/" in tab.page.url
    assert response.status == 200

    # and a patient's session from elsewhere meets a 404 page
    session = Client()
    session.force_login(patient)
    tab.context.add_cookies(
        [{"name": "sessionid", "value": session.cookies["sessionid"].value, "url": live_server.url}]
    )
    response = tab.go("/dashboard/")
    assert response.status == 404
    assert "Carebook app" in tab.page.locator("main").inner_text()
    tab.check("not-for-patients")

    # staff are sent to the admin, where the clinic overview is
    staff_tab = visit()
    staff_tab.login(staff)
    assert staff_tab.page.url.endswith("/admin/")
    staff_tab.go("/dashboard/clients/")
    assert staff_tab.page.url.endswith("/admin/")
    assert "Clinic overview" in staff_tab.page.locator("body").inner_text()
    staff_tab.page.screenshot(path=str(SCREENSHOTS / "admin-index.png"), full_page=True)


def test_a_clinician_cannot_open_another_clinicians_client(visit):
    mine, theirs = PsychologistFactory(), PsychologistFactory()
    patient = PatientFactory(first_name="Secret", last_name="Client")
    book(theirs, patient, start=timezone.now() + timedelta(days=2))
    tab = visit()
    tab.login(mine)

    response = tab.go(f"/dashboard/clients/{patient.pk}/")

    assert response.status == 404
    assert "Secret" not in tab.page.content()
    tab.check("not-found")


def test_pages_fit_a_phone_screen(visit):
    doctor = DoctorFactory()
    patient = PatientFactory()
    appointment = book(doctor, patient, start=timezone.now() + timedelta(hours=3))
    consultation = Consultation.objects.create(appointment=appointment)
    tab = visit(width=390)
    tab.login(doctor)
    day = appointment.start.astimezone(doctor.tzinfo).date().isoformat()

    for name, path in [
        ("phone-agenda", f"/dashboard/?day={day}"),
        ("phone-week", "/dashboard/week/"),
        ("phone-availability", "/dashboard/availability/"),
        ("phone-consultation", f"/dashboard/consultations/{consultation.pk}/"),
    ]:
        tab.go(path)
        overflow = tab.page.evaluate(
            "document.documentElement.scrollWidth - document.documentElement.clientWidth"
        )
        assert overflow <= 0, f"{name} scrolls sideways by {overflow}px"
        tab.check(name)


def test_the_admin_works_under_the_content_security_policy(visit):
    # given a staff member and an appointment to look at
    staff = User.objects.create_superuser("desk@example.test", PASSWORD)
    appointment = book(DoctorFactory(), PatientFactory(), start=timezone.now() + timedelta(days=1))
    tab = visit()
    tab.go("/admin/login/")
    tab.page.get_by_label("Email").fill(staff.email)
    tab.page.get_by_label("Password").fill(PASSWORD)
    tab.page.get_by_role("button", name="Log in").click()
    tab.page.get_by_role("heading", name="Clinic overview").wait_for()

    # when they use the overview, a list, a change form and an add form
    for name, path in [
        ("admin-overview", "/admin/"),
        ("admin-appointments", "/admin/scheduling/appointment/"),
        ("admin-appointment", f"/admin/scheduling/appointment/{appointment.pk}/change/"),
        ("admin-user-add", "/admin/accounts/user/add/"),
    ]:
        assert tab.go(path).status == 200
        tab.page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)

    # then the policy blocked nothing the admin needs (no script, no style violation)
    assert not tab.csp_violations


def test_a_receptionist_books_a_patient_through_the_admin(visit):
    # given a receptionist of the staff group (not a superuser), a psychologist in Berlin
    # with a free session and a group session the day after tomorrow, and a patient who
    # phones in
    receptionist = StaffFactory(first_name="Rita", last_name="Desk")
    staff_group_sync()
    zone = ZoneInfo("Europe/Berlin")
    psychologist = PsychologistFactory(
        time_zone="Europe/Berlin", first_name="Pia", last_name="Psych"
    )
    patient = PatientFactory(first_name="Cleo", last_name="Client")
    other = PatientFactory(first_name="Otto", last_name="Caller")
    start = (timezone.now() + timedelta(days=2)).astimezone(zone)
    start = start.replace(hour=10, minute=0, second=0, microsecond=0)
    slot = SlotFactory(clinician=psychologist, start=start, end=start + timedelta(minutes=50))
    SlotFactory(
        clinician=psychologist,
        start=start + timedelta(hours=2),
        end=start + timedelta(hours=3, minutes=30),
        capacity=8,
    )
    tab = visit()
    page = tab.page
    tab.go("/admin/login/")
    page.get_by_label("Email").fill(receptionist.email)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Log in").click()
    page.get_by_role("heading", name="Clinic overview").wait_for()

    # when she opens the appointments, then the booking page, and asks for that day
    tab.go("/admin/scheduling/appointment/")
    # (the list's own button; the sidebar's "Front desk" group links the same page)
    page.locator("#content-main").get_by_role("link", name="Book an appointment").click()
    page.get_by_role("heading", name="Book an appointment").wait_for()
    page.get_by_label("Clinician").select_option(str(psychologist.pk))
    page.get_by_label("From").fill(start.date().isoformat())
    page.get_by_label("Find a patient").fill("client")
    page.get_by_role("button", name="Show free slots and patients").click()

    # then she sees the free slots at the psychologist's local times, the group's seats,
    # and the patient she searched for
    free = page.locator("#free-slots")
    expect(free).to_contain_text("10:00")
    expect(free).to_contain_text("Group: 8 of 8 seats left")
    expect(page.get_by_label("Cleo Client")).to_be_checked()  # the only match
    tab.check("admin-book")

    # and a second tab of hers, for another caller, offers the same session meanwhile
    second = visit()
    second.context.add_cookies(tab.context.cookies())
    second.go(
        f"/admin/scheduling/appointment/book/?clinician={psychologist.pk}"
        f"&day={start.date().isoformat()}&q=caller"
    )
    session_label = f"{start:%a} {start.day} {start:%b %H:%M}"
    second.page.get_by_label(session_label).check()

    # when she picks the 10:00 session for Cleo and books
    page.get_by_label(session_label).check()
    page.get_by_label("Reason").fill("Phoned in: trouble sleeping")
    page.get_by_role("button", name="Book the appointment").click()

    # then she lands on the new appointment with the confirmation message
    page.get_by_text("Booked Cleo Client with Pia Psych").wait_for()
    appointment = Appointment.objects.get(patient=patient)
    assert appointment.slot_id == slot.pk
    assert page.get_by_role("link", name="Cancel appointment").is_visible()
    booked = AuditEvent.objects.get(action="appointment.book")
    assert booked.actor_id == receptionist.pk
    # (Django's own change form: screenshot only, as in the admin CSP test below; axe
    # flags the stock admin breadcrumbs' link colour, which is not this page's markup)
    page.screenshot(path=str(SCREENSHOTS / "admin-booked.png"), full_page=True)

    # and when the second tab books the session that is now taken, the refusal is a
    # message on the page, not an error page
    second.page.get_by_role("button", name="Book the appointment").click()
    second.page.get_by_text("slot_unavailable").wait_for()
    assert not Appointment.objects.filter(patient=other).exists()

    # when she moves Cleo into the group session from the appointment's page
    tab.go(f"/admin/scheduling/appointment/{appointment.pk}/change/")
    page.get_by_role("link", name="Reschedule").click()
    page.get_by_role("heading", name=f"Reschedule appointment #{appointment.pk}").wait_for()
    tab.check("admin-reschedule")
    group_start = (start + timedelta(hours=2)).astimezone(zone)
    page.get_by_label(f"{group_start:%a} {group_start.day} {group_start:%b %H:%M}").check()
    page.get_by_role("button", name="Move the appointment").click()
    page.get_by_text(f"Rescheduled appointment #{appointment.pk}.").wait_for()
    appointment.refresh_from_db()
    assert (appointment.slot.capacity, appointment.seat) == (8, 1)

    # and then cancels it with the patient's reason
    page.get_by_role("link", name="Cancel appointment").click()
    tab.check("admin-cancel")
    page.get_by_label("Reason").fill("Patient phoned: cannot come")
    page.get_by_role("button", name="Cancel the appointment").click()
    page.get_by_text(f"Cancelled appointment #{appointment.pk}.").wait_for()
    appointment.refresh_from_db()
    assert (appointment.status, appointment.cancelled_by) == ("cancelled", receptionist)
    assert not tab.csp_violations
    assert not second.csp_violations
