"""Who reaches which dashboard page (view level; the browser tests repeat the key ones)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse

from audit.models import AuditEvent
from consultations.models import Consultation, Prescription
from scheduling.models import Appointment, Slot
from tests.dashboard.conftest import book
from tests.factories import PASSWORD, SlotFactory, completed_consultation, in_progress_consultation

pytestmark = pytest.mark.django_db

PAGES = [
    "/dashboard/",
    "/dashboard/week/",
    "/dashboard/availability/",
    "/dashboard/clients/",
    "/dashboard/reports/",
]


class TestWhoReachesTheDashboard:
    @pytest.mark.parametrize("url", PAGES)
    def test_anonymous_visitors_are_sent_to_the_login_page(self, web, url):
        response = web(None).get(url)

        assert response.status_code == 302
        assert response["Location"] == f"/dashboard/login/?next={url}"

    def test_an_expired_session_sends_htmx_requests_to_the_login_page(self, web):
        response = web(None).get("/dashboard/reports/", HTTP_HX_REQUEST="true")

        assert response.status_code == 200
        assert response["HX-Redirect"] == "/dashboard/login/"

    @pytest.mark.parametrize("url", PAGES)
    def test_patients_get_a_404_page_pointing_to_the_app(self, web, patient, url):
        response = web(patient).get(url)

        assert response.status_code == 404
        assert "Carebook app" in response.content.decode()

    @pytest.mark.parametrize("url", PAGES)
    def test_staff_are_sent_to_the_admin(self, web, staff, url):
        response = web(staff).get(url)

        assert response.status_code == 302
        assert response["Location"] == reverse("admin:index")

    @pytest.mark.parametrize("url", PAGES)
    def test_clinicians_see_every_page(self, web, psychologist, doctor, url):
        assert web(psychologist).get(url).status_code == 200
        assert web(doctor).get(url).status_code == 200

    def test_an_inactive_clinician_is_treated_as_signed_out(self, web, psychologist):
        client = web(psychologist)
        psychologist.is_active = False
        psychologist.save()

        response = client.get("/dashboard/")

        assert response.status_code == 302
        assert response["Location"].startswith("/dashboard/login/")


class TestAnotherCliniciansRecordsAre404:
    def test_another_clinicians_client(self, web, psychologist, other_clinician, patient):
        book(other_clinician, patient, start=SlotFactory.build().start)

        response = web(psychologist).get(f"/dashboard/clients/{patient.pk}/")

        assert response.status_code == 404
        assert "Cleo" not in response.content.decode()
        assert not AuditEvent.objects.filter(action="client_record.read").exists()

    def test_an_unknown_client(self, web, psychologist):
        assert web(psychologist).get("/dashboard/clients/999999/").status_code == 404

    def test_another_clinicians_consultation(self, web, psychologist, other_clinician, patient):
        consultation = in_progress_consultation(other_clinician, patient, notes="private")

        page = web(psychologist).get(f"/dashboard/consultations/{consultation.pk}/")
        notes = web(psychologist).post(
            f"/dashboard/consultations/{consultation.pk}/notes/", {"notes": "overwritten"}
        )
        done = web(psychologist).post(f"/dashboard/consultations/{consultation.pk}/complete/")

        assert (page.status_code, notes.status_code, done.status_code) == (404, 404, 404)
        consultation.refresh_from_db()
        assert consultation.notes == "private"
        assert consultation.completed_at is None

    def test_a_shared_clients_consultation_of_another_clinician_is_404_too(
        self, web, psychologist, other_clinician, patient
    ):
        # given the patient sees both clinicians
        book(psychologist, patient, start=SlotFactory.build().start + timedelta(days=2))
        theirs = completed_consultation(other_clinician, patient, notes="their notes")

        # when the psychologist opens the other clinician's consultation
        response = web(psychologist).get(f"/dashboard/consultations/{theirs.pk}/")

        # then it is not theirs to open; the client's history hides the notes
        assert response.status_code == 404
        history = web(psychologist).get(f"/dashboard/clients/{patient.pk}/").content.decode()
        assert "their notes" not in history
        assert "kept by the treating clinician" in history

    def test_agenda_action_on_another_clinicians_appointment(
        self, web, psychologist, other_clinician, patient
    ):
        appointment = book(other_clinician, patient, start=SlotFactory.build().start)

        response = web(psychologist).post(f"/dashboard/appointments/{appointment.pk}/no-show/")

        assert response.status_code == 404
        appointment.refresh_from_db()
        assert appointment.status == Appointment.Status.SCHEDULED
        assert not Consultation.objects.filter(appointment=appointment).exists()

    def test_withdrawing_another_clinicians_slot(self, web, psychologist, other_clinician):
        slot = SlotFactory(clinician=other_clinician)

        response = web(psychologist).post(f"/dashboard/availability/slots/{slot.pk}/withdraw/")

        assert response.status_code == 404
        slot.refresh_from_db()
        assert slot.status == Slot.Status.OPEN

    def test_prescribing_on_another_doctors_consultation(self, web, doctor, patient):
        from tests.factories import DoctorFactory

        theirs = completed_consultation(DoctorFactory(), patient)

        response = web(doctor).post(
            f"/dashboard/consultations/{theirs.pk}/prescriptions/", prescription_body()
        )

        assert response.status_code == 404
        assert not Prescription.objects.exists()


def prescription_body(**overrides: object) -> dict[str, object]:
    body: dict[str, object] = {
        "medication": "Amoxicillin",
        "dose": "500 mg",
        "route": "oral",
        "frequency": "three times daily",
        "duration": "7 days",
        "quantity": 21,
        "refills": 0,
        "instructions": "",
    }
    body.update(overrides)
    return body


class TestLogin:
    def test_a_clinician_signs_in_and_lands_on_the_agenda(self, psychologist):
        client = Client()

        response = client.post(
            "/dashboard/login/", {"email": psychologist.email, "password": PASSWORD}
        )

        assert response.status_code == 302
        assert response["Location"] == "/dashboard/"
        assert client.get("/dashboard/").status_code == 200

    def test_next_is_followed_only_within_the_site(self, psychologist):
        inside = Client().post(
            "/dashboard/login/",
            {"email": psychologist.email, "password": PASSWORD, "next": "/dashboard/week/"},
        )
        outside = Client().post(
            "/dashboard/login/",
            {"email": psychologist.email, "password": PASSWORD, "next": "https://evil.example/"},
        )

        assert inside["Location"] == "/dashboard/week/"
        assert outside["Location"] == "/dashboard/"

    def test_a_wrong_password_is_refused(self, psychologist):
        client = Client()

        response = client.post("/dashboard/login/", {"email": psychologist.email, "password": "x"})

        assert response.status_code == 400
        assert "not right" in response.content.decode()
        assert "_auth_user_id" not in client.session

    def test_a_patient_is_not_signed_in(self, patient):
        client = Client()

        response = client.post("/dashboard/login/", {"email": patient.email, "password": PASSWORD})

        assert response.status_code == 400
        assert "Carebook app" in response.content.decode()
        assert "_auth_user_id" not in client.session

    def test_staff_are_signed_in_and_sent_to_the_admin(self, staff):
        response = Client().post("/dashboard/login/", {"email": staff.email, "password": PASSWORD})

        assert response.status_code == 302
        assert response["Location"] == reverse("admin:index")

    @pytest.mark.parametrize("body", [{}, {"email": "not-an-email", "password": "x"}])
    def test_malformed_forms_are_400(self, body):
        assert Client().post("/dashboard/login/", body).status_code == 400

    def test_the_lockout_is_shared_with_the_api(self, settings, psychologist, api_client):
        # given failed logins through the API up to the limit
        for _ in range(settings.AXES_FAILURE_LIMIT):
            api_client.post(
                "/api/v1/auth/token/", {"email": psychologist.email, "password": "wrong"}
            )

        # when the right password is tried on the dashboard
        client = Client()
        response = client.post(
            "/dashboard/login/", {"email": psychologist.email, "password": PASSWORD}
        )

        # then the account is locked there too, answered with a page
        assert response.status_code == 429
        assert "Account locked" in response.content.decode()
        assert "_auth_user_id" not in client.session

    def test_dashboard_failures_lock_the_api_too(self, settings, psychologist, api_client):
        for _ in range(settings.AXES_FAILURE_LIMIT):
            Client().post("/dashboard/login/", {"email": psychologist.email, "password": "bad"})

        response = api_client.post(
            "/api/v1/auth/token/", {"email": psychologist.email, "password": PASSWORD}
        )

        assert response.status_code == 429
        assert response.json()["error"]["code"] == "account_locked"

    def test_logout_needs_a_post(self, web, psychologist):
        client = web(psychologist)

        assert client.get("/dashboard/logout/").status_code == 405
        assert client.post("/dashboard/logout/").status_code == 302
        assert client.get("/dashboard/").status_code == 302


class TestWebSecurity:
    def test_forms_need_the_csrf_token(self, psychologist):
        client = Client(enforce_csrf_checks=True)
        client.force_login(psychologist)

        response = client.post("/dashboard/availability/slots/", {})

        assert response.status_code == 403
        assert not Slot.objects.exists()

    def test_the_login_form_needs_the_csrf_token(self, psychologist):
        client = Client(enforce_csrf_checks=True)

        response = client.post(
            "/dashboard/login/", {"email": psychologist.email, "password": PASSWORD}
        )

        assert response.status_code == 403

    def test_headers_forbid_inline_script_and_framing(self, web, psychologist):
        response = web(psychologist).get("/dashboard/")

        policy = response["Content-Security-Policy"]
        directives = dict(part.strip().split(" ", 1) for part in policy.split(";"))
        assert directives["script-src"] == "'self'"
        assert "unsafe-inline" not in policy
        assert "unsafe-eval" not in policy
        assert directives["frame-ancestors"] == "'none'"
        assert response["X-Frame-Options"] == "DENY"
        assert response["X-Content-Type-Options"] == "nosniff"

    def test_the_session_cookie_is_http_only_and_same_site(self, psychologist):
        client = Client()
        client.post("/dashboard/login/", {"email": psychologist.email, "password": PASSWORD})

        cookie = client.cookies["sessionid"]

        assert cookie["httponly"] is True
        assert cookie["samesite"] == "Lax"

    def test_pages_carry_no_inline_script(self, web, doctor, patient):
        consultation = completed_consultation(doctor, patient)
        client = web(doctor)
        urls = [*PAGES, f"/dashboard/consultations/{consultation.pk}/", "/dashboard/login/"]

        for url in urls:
            html = client.get(url).content.decode()
            # every <script> has a src (data for scripts travels in json_script blocks)
            for tag in html.split("<script")[1:]:
                head = tag.split(">", 1)[0]
                assert "src=" in head or 'type="application/json"' in head, (url, head)


class TestAdminLoginSharesTheLockout:
    def test_admin_failures_lock_the_account_everywhere(self, settings, staff, api_client):
        # given failed admin logins up to the limit (the admin form says "username")
        for _ in range(settings.AXES_FAILURE_LIMIT):
            Client().post("/admin/login/", {"username": staff.email.upper(), "password": "x"})

        # when the right password is used on the API and on the admin
        api = api_client.post("/api/v1/auth/token/", {"email": staff.email, "password": PASSWORD})
        admin = Client().post("/admin/login/", {"username": staff.email, "password": PASSWORD})

        # then the account is locked on both
        assert api.status_code == 429
        assert admin.status_code == 429

    def test_admin_failures_of_one_account_do_not_lock_another(self, settings, staff):
        from tests.factories import StaffFactory

        other = StaffFactory.create()
        for _ in range(settings.AXES_FAILURE_LIMIT):
            Client().post("/admin/login/", {"username": staff.email, "password": "x"})

        client = Client()
        response = client.post("/admin/login/", {"username": other.email, "password": PASSWORD})

        assert response.status_code == 302
        assert client.session["_auth_user_id"] == str(other.pk)
