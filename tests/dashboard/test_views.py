"""Dashboard pages and their writes, through Django's test client."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from django.utils import timezone

from audit.models import AuditEvent
from consultations.models import Consultation, ConsultationAddendum, Prescription
from core.models import Job
from labs.models import LabResult
from reports.services import report_build
from scheduling.models import Appointment, AvailabilityRule, Slot
from tests.dashboard.conftest import book
from tests.dashboard.test_access import prescription_body
from tests.factories import SlotFactory, completed_consultation, in_progress_consultation

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true"}


def text(response) -> str:
    return response.content.decode()


def post_form(client, url: str, body: dict):
    """POST the availability forms, whose fields carry a prefix (two forms, one page)."""
    prefix = "rule" if url.endswith("/rules/") else "slot"
    return client.post(url, {f"{prefix}-{name}": value for name, value in body.items()})


class TestAgenda:
    def test_times_are_in_the_clinicians_zone_and_the_zone_is_named(
        self, web, psychologist, patient, frozen_now
    ):
        # given an appointment at 17:00 UTC, which is 13:00 in New York in June (EDT)
        book(psychologist, patient, start=datetime(2026, 6, 10, 17, 0, tzinfo=UTC))

        # when the psychologist opens today's agenda
        page = text(web(psychologist).get("/dashboard/"))

        # then the row shows local time and the page names the zone
        assert "13:00" in page
        assert "17:00" not in page
        assert "America/New_York" in page
        assert "Cleo Client" in page

    def test_a_day_is_the_clinicians_local_day(self, web, psychologist, patient, frozen_now):
        # 02:00 UTC on the 11th is still the 10th (22:00) in New York
        book(psychologist, patient, start=datetime(2026, 6, 11, 2, 0, tzinfo=UTC))

        today = text(web(psychologist).get("/dashboard/"))
        tomorrow = text(web(psychologist).get("/dashboard/?day=2026-06-11"))

        assert "22:00" in today
        assert "Cleo Client" not in tomorrow

    def test_a_bad_day_parameter_falls_back_to_today(self, web, psychologist, frozen_now):
        response = web(psychologist).get("/dashboard/?day=not-a-date")

        assert response.status_code == 200
        assert "Wednesday 10 June 2026" in text(response)

    def test_start_complete_through_htmx_partials(self, web, psychologist, patient, frozen_now):
        # given an appointment that began ten minutes ago
        appointment = book(psychologist, patient, start=frozen_now - timedelta(minutes=10))
        client = web(psychologist)

        # when the psychologist clicks Start, then Complete (htmx requests)
        started = client.post(f"/dashboard/appointments/{appointment.pk}/start/", **HTMX)
        consultation = Consultation.objects.get(appointment=appointment)
        assert consultation.started_at is not None
        completed = client.post(f"/dashboard/appointments/{appointment.pk}/complete/", **HTMX)

        # then each answer is only the row, in its new state
        assert started.status_code == 200
        assert text(started).lstrip().startswith(f'<tr id="appointment-{appointment.pk}"')
        assert "In progress" in text(started)
        assert ">Complete<" in text(started)
        assert "Completed" in text(completed)
        assert "<button" not in text(completed)
        appointment.refresh_from_db()
        assert appointment.status == Appointment.Status.COMPLETED
        assert AuditEvent.objects.filter(action="consultation.status_change").count() == 2

    def test_no_show(self, web, psychologist, patient, frozen_now):
        appointment = book(psychologist, patient, start=frozen_now - timedelta(minutes=30))

        response = web(psychologist).post(
            f"/dashboard/appointments/{appointment.pk}/no-show/", **HTMX
        )

        assert "No show" in text(response)
        appointment.refresh_from_db()
        assert appointment.status == Appointment.Status.NO_SHOW

    def test_a_refused_move_is_explained_in_the_row(self, web, psychologist, patient, frozen_now):
        # given an appointment that has not started yet, in progress
        appointment = book(psychologist, patient, start=frozen_now + timedelta(hours=2))
        client = web(psychologist)
        client.post(f"/dashboard/appointments/{appointment.pk}/start/", **HTMX)

        # when the psychologist tries to complete it early
        response = client.post(f"/dashboard/appointments/{appointment.pk}/complete/", **HTMX)

        # then the row says why and nothing changed
        assert response.status_code == 200
        assert 'role="alert"' in text(response)
        appointment.refresh_from_db()
        assert appointment.status == Appointment.Status.SCHEDULED

    def test_without_htmx_the_action_redirects_back_to_the_day(
        self, web, psychologist, patient, frozen_now
    ):
        appointment = book(psychologist, patient, start=frozen_now - timedelta(minutes=10))

        response = web(psychologist).post(f"/dashboard/appointments/{appointment.pk}/start/")

        assert response.status_code == 302
        assert response["Location"] == "/dashboard/?day=2026-06-10"

    def test_unknown_action_and_appointment_are_404(self, web, psychologist, patient, frozen_now):
        appointment = book(psychologist, patient, start=frozen_now - timedelta(minutes=10))
        client = web(psychologist)

        assert client.post(f"/dashboard/appointments/{appointment.pk}/delete/").status_code == 404
        assert client.post("/dashboard/appointments/999999/start/").status_code == 404
        assert client.get(f"/dashboard/appointments/{appointment.pk}/start/").status_code == 405
        appointment.refresh_from_db()
        assert appointment.status == Appointment.Status.SCHEDULED

    def test_the_chart_data_counts_completed_sessions_per_week(
        self, web, psychologist, patient, frozen_now
    ):
        book(psychologist, patient, start=frozen_now - timedelta(days=1), status="completed")
        book(psychologist, patient, start=frozen_now - timedelta(days=8), status="completed")
        book(psychologist, patient, start=frozen_now - timedelta(days=2), status="cancelled")

        page = text(web(psychologist).get("/dashboard/"))

        assert '<script id="sessions-data" type="application/json">' in page
        assert '{"week": "2026-06-08", "sessions": 1}' in page
        assert '{"week": "2026-06-01", "sessions": 1}' in page


class TestWeek:
    def test_slots_and_appointments_in_local_days(self, web, psychologist, patient, frozen_now):
        # Monday 8 June 2026 .. Sunday 14 June in New York
        SlotFactory(
            clinician=psychologist,
            start=datetime(2026, 6, 12, 13, 0, tzinfo=UTC),
            end=datetime(2026, 6, 12, 13, 50, tzinfo=UTC),
        )
        book(psychologist, patient, start=datetime(2026, 6, 9, 14, 0, tzinfo=UTC))
        book(
            psychologist, patient, start=datetime(2026, 6, 9, 16, 0, tzinfo=UTC), status="cancelled"
        )

        page = text(web(psychologist).get("/dashboard/week/"))

        assert "Week of 8 June 2026" in page
        assert "09:00" in page  # the open slot, 13:00 UTC
        assert "10:00" in page
        assert "Cleo Client" in page
        assert "12:00" not in page  # the cancelled one is hidden

    def test_navigation_by_week(self, web, psychologist, frozen_now):
        page = text(web(psychologist).get("/dashboard/week/?start=2026-06-17"))

        assert "Week of 15 June 2026" in page
        assert "?start=2026-06-08" in page
        assert "?start=2026-06-22" in page


class TestAvailability:
    def test_a_weekly_rule_publishes_slots_in_local_time(self, web, psychologist, frozen_now):
        response = post_form(
            web(psychologist),
            "/dashboard/availability/rules/",
            {
                "weekday": 3,  # Thursday
                "start_time": "09:00",
                "end_time": "11:00",
                "slot_minutes": 60,
                "valid_from": "2026-06-10",
                "valid_until": "2026-06-24",
            },
        )

        assert response.status_code == 302
        rule = AvailabilityRule.objects.get(clinician=psychologist)
        assert rule.time_zone == "America/New_York"
        starts = sorted(Slot.objects.filter(rule=rule).values_list("start", flat=True))
        # Thursdays 11, 18 June: 09:00 and 10:00 EDT = 13:00 and 14:00 UTC
        assert starts[0] == datetime(2026, 6, 11, 13, 0, tzinfo=UTC)
        assert len(starts) == 4

    def test_single_slots_split_and_publish(self, web, psychologist, frozen_now):
        response = post_form(
            web(psychologist),
            "/dashboard/availability/slots/",
            {"day": "2026-06-12", "start_time": "14:00", "end_time": "15:40", "slot_minutes": 50},
        )

        assert response.status_code == 302
        starts = list(
            Slot.objects.filter(clinician=psychologist)
            .order_by("start")
            .values_list("start", flat=True)
        )
        assert starts == [
            datetime(2026, 6, 12, 18, 0, tzinfo=UTC),
            datetime(2026, 6, 12, 18, 50, tzinfo=UTC),
        ]

    def test_an_overlap_is_refused_and_explained(self, web, psychologist, frozen_now):
        SlotFactory(
            clinician=psychologist,
            start=datetime(2026, 6, 12, 18, 30, tzinfo=UTC),
            end=datetime(2026, 6, 12, 19, 0, tzinfo=UTC),
        )

        response = post_form(
            web(psychologist),
            "/dashboard/availability/slots/",
            {"day": "2026-06-12", "start_time": "14:00", "end_time": "15:00"},
        )

        assert response.status_code == 409
        page = text(response)
        assert "Conflicts" in page
        assert "Fri 12 Jun 2026 14:30" in page  # the clashing slot, in local time
        assert Slot.objects.filter(clinician=psychologist).count() == 1

    def test_a_rule_that_meets_existing_slots_reports_the_skipped_times(
        self, web, psychologist, frozen_now
    ):
        SlotFactory(
            clinician=psychologist,
            start=datetime(2026, 6, 11, 13, 0, tzinfo=UTC),
            end=datetime(2026, 6, 11, 13, 30, tzinfo=UTC),
        )

        response = post_form(
            web(psychologist),
            "/dashboard/availability/rules/",
            {
                "weekday": 3,
                "start_time": "09:00",
                "end_time": "10:00",
                "slot_minutes": 60,
                "valid_from": "2026-06-10",
                "valid_until": "2026-06-18",
            },
        )

        assert response.status_code == 200
        assert "1 times were skipped" in text(response)
        assert "Thu 11 Jun 2026 09:00" in text(response)

    @pytest.mark.parametrize(
        "body",
        [
            {},
            {"day": "2026-06-12", "start_time": "15:00", "end_time": "14:00"},
            {"day": "yesterday", "start_time": "14:00", "end_time": "15:00"},
            {"day": "2026-06-12", "start_time": "14:00", "end_time": "15:00", "slot_minutes": 1},
            {"day": "2026-06-01", "start_time": "14:00", "end_time": "15:00"},  # in the past
        ],
    )
    def test_bad_slot_input_is_400_and_changes_nothing(self, web, psychologist, frozen_now, body):
        response = post_form(web(psychologist), "/dashboard/availability/slots/", body)

        assert response.status_code == 400
        assert not Slot.objects.exists()

    @pytest.mark.parametrize(
        "body",
        [
            {},
            {"weekday": 9, "start_time": "09:00", "end_time": "10:00", "slot_minutes": 30,
             "valid_from": "2026-06-10"},
            {"weekday": 1, "start_time": "10:00", "end_time": "09:00", "slot_minutes": 30,
             "valid_from": "2026-06-10"},
            {"weekday": 1, "start_time": "09:00", "end_time": "09:20", "slot_minutes": 30,
             "valid_from": "2026-06-10"},
        ],
    )  # fmt: skip
    def test_bad_rule_input_is_400_and_changes_nothing(self, web, psychologist, frozen_now, body):
        response = post_form(web(psychologist), "/dashboard/availability/rules/", body)

        assert response.status_code == 400
        assert not AvailabilityRule.objects.exists()
        assert not Slot.objects.exists()

    def test_withdraw_a_free_slot_but_not_a_booked_one(
        self, web, psychologist, patient, frozen_now
    ):
        free = SlotFactory(clinician=psychologist)
        booked = book(psychologist, patient, start=free.end + timedelta(hours=1)).slot
        client = web(psychologist)

        client.post(f"/dashboard/availability/slots/{free.pk}/withdraw/")
        refused = client.post(f"/dashboard/availability/slots/{booked.pk}/withdraw/", follow=True)

        free.refresh_from_db()
        booked.refresh_from_db()
        assert free.status == Slot.Status.WITHDRAWN
        assert booked.status == Slot.Status.BOOKED
        assert "The slot is booked; cancel the appointment before withdrawing it." in text(refused)


class TestClients:
    def test_the_list_shows_only_own_clients(
        self, web, psychologist, other_clinician, patient, frozen_now
    ):
        from tests.factories import PatientFactory

        stranger = PatientFactory(first_name="Stella", last_name="Stranger")
        book(psychologist, patient, start=frozen_now - timedelta(days=3), status="completed")
        book(other_clinician, stranger, start=frozen_now + timedelta(days=3))

        page = text(web(psychologist).get("/dashboard/clients/"))

        assert "Cleo Client" in page
        assert "Stella" not in page

    def test_history_highlights_flags_and_shows_own_notes_and_prescriptions(
        self, web, doctor, patient, frozen_now
    ):
        consultation = completed_consultation(doctor, patient, notes="Chest clear.")
        Prescription.objects.create(
            consultation=consultation, prescriber=doctor, **prescription_body(quantity=21)
        )
        for name, value, flag in [("Potassium", "6.9", "critical"), ("Sodium", "140", "normal")]:
            LabResult.objects.create(
                patient=patient,
                ordering_clinician=doctor,
                test_code=name[:3].upper(),
                test_name=name,
                value_numeric=Decimal(value),
                unit="mmol/L",
                reference_low=Decimal("3.5"),
                reference_high=Decimal("5.1"),
                flag=flag,
                status="final",
                collected_at=timezone.now(),
                reported_at=timezone.now(),
            )

        response = web(doctor).get(f"/dashboard/clients/{patient.pk}/")

        page = text(response)
        assert response.status_code == 200
        assert "Chest clear." in page
        assert "Amoxicillin" in page
        assert '<tr class="flagged flag-critical">' in page
        assert '<strong class="flag flag-critical">Critical</strong>' in page
        assert "1 flagged" in page
        # the read of another person's record is audited, once per page
        read = AuditEvent.objects.get(action="client_record.read")
        assert read.actor_id == doctor.pk
        assert read.metadata == {"surface": "dashboard.client", "patient_id": patient.pk}


class TestConsultation:
    def test_notes_then_complete_then_addendum(self, web, psychologist, patient, frozen_now):
        consultation = in_progress_consultation(psychologist, patient)
        client = web(psychologist)
        url = f"/dashboard/consultations/{consultation.pk}"

        saved = client.post(f"{url}/notes/", {"notes": "Discussed sleep."})
        done = client.post(f"{url}/complete/")
        late = client.post(f"{url}/notes/", {"notes": "Changed after the fact."})
        added = client.post(f"{url}/addenda/", {"text": "Follow-up in two weeks."})

        assert (saved.status_code, done.status_code, added.status_code) == (302, 302, 302)
        # the notes form is valid: the completed consultation refuses the change
        assert late.status_code == 409
        assert "A completed consultation cannot change" in text(late)
        consultation.refresh_from_db()
        assert consultation.notes == "Discussed sleep."
        assert consultation.status == "completed"
        assert ConsultationAddendum.objects.get().text == "Follow-up in two weeks."
        page = text(client.get(f"{url}/"))
        assert "Follow-up in two weeks." in page
        assert "Issue prescription" not in page  # psychologists never prescribe

    def test_a_doctor_prescribes_on_a_completed_consultation(self, web, doctor, patient):
        consultation = completed_consultation(doctor, patient)

        response = web(doctor).post(
            f"/dashboard/consultations/{consultation.pk}/prescriptions/", prescription_body()
        )

        assert response.status_code == 302
        prescription = Prescription.objects.get()
        assert (prescription.prescriber, prescription.consultation) == (doctor, consultation)
        assert AuditEvent.objects.filter(action="prescription.create").count() == 1

    def test_a_psychologist_cannot_prescribe(self, web, psychologist, patient):
        consultation = completed_consultation(psychologist, patient)

        response = web(psychologist).post(
            f"/dashboard/consultations/{consultation.pk}/prescriptions/", prescription_body()
        )

        assert response.status_code == 403
        assert "Only doctors may prescribe" in text(response)
        assert not Prescription.objects.exists()

    def test_no_prescription_before_completion(self, web, doctor, patient, frozen_now):
        consultation = in_progress_consultation(doctor, patient)

        response = web(doctor).post(
            f"/dashboard/consultations/{consultation.pk}/prescriptions/", prescription_body()
        )

        assert response.status_code == 409
        assert not Prescription.objects.exists()

    @pytest.mark.parametrize(
        "overrides",
        [{"quantity": 0}, {"quantity": "many"}, {"route": "telepathy"}, {"medication": ""},
         {"refills": 99}],
    )  # fmt: skip
    def test_bad_prescriptions_are_400(self, web, doctor, patient, overrides):
        consultation = completed_consultation(doctor, patient)

        response = web(doctor).post(
            f"/dashboard/consultations/{consultation.pk}/prescriptions/",
            prescription_body(**overrides),
        )

        assert response.status_code == 400
        assert not Prescription.objects.exists()

    def test_an_agenda_row_opens_the_consultation_its_booking_opened(
        self, web, psychologist, patient, frozen_now
    ):
        # given a visit and the consultation its booking opened (a GET creates none:
        # tests/dashboard/test_no_get_writes.py)
        appointment = book(psychologist, patient, start=frozen_now + timedelta(hours=3))
        consultation = Consultation.objects.create(appointment=appointment)

        response = web(psychologist).get(f"/dashboard/appointments/{appointment.pk}/consultation/")

        assert response["Location"] == f"/dashboard/consultations/{consultation.pk}/"

    def test_unknown_move_is_404(self, web, psychologist, patient, frozen_now):
        consultation = in_progress_consultation(psychologist, patient)

        response = web(psychologist).post(f"/dashboard/consultations/{consultation.pk}/reopen/")

        assert response.status_code == 404


class TestReports:
    def test_request_poll_and_download(self, web, psychologist, patient, frozen_now):
        book(psychologist, patient, start=frozen_now - timedelta(days=2), status="completed")
        client = web(psychologist)

        # when a caseload report is requested
        requested = client.post(
            "/dashboard/reports/",
            {"date_from": "2026-06-01", "date_to": "2026-06-10", "format": "csv"},
        )
        job = Job.objects.get(requested_by=psychologist)
        assert requested["Location"] == f"/dashboard/reports/{job.id}/"

        # then the job page polls while the job is queued
        waiting = text(client.get(f"/dashboard/reports/{job.id}/", **HTMX))
        assert 'hx-trigger="every 1s"' in waiting
        assert "Queued" in waiting

        # and once the worker built it, polling stops and the file downloads
        report_build(job_id=job.id)
        done = text(client.get(f"/dashboard/reports/{job.id}/", **HTMX))
        assert "hx-trigger" not in done
        assert "Download the report" in done
        download = client.get(f"/dashboard/reports/{job.id}/download/")
        assert download.status_code == 200
        body = b"".join(download.streaming_content).decode()
        assert f"{patient.pk},Cleo Client,{patient.email}," in body  # the caseload row

    def test_download_before_the_file_exists_is_404(self, web, psychologist, frozen_now):
        client = web(psychologist)
        client.post(
            "/dashboard/reports/",
            {"date_from": "2026-06-01", "date_to": "2026-06-10", "format": "pdf"},
        )
        job = Job.objects.get()

        assert client.get(f"/dashboard/reports/{job.id}/download/").status_code == 404

    def test_another_users_report_is_404(self, web, psychologist, other_clinician, frozen_now):
        web(other_clinician).post(
            "/dashboard/reports/",
            {"date_from": "2026-06-01", "date_to": "2026-06-10", "format": "csv"},
        )
        job = Job.objects.get()
        report_build(job_id=job.id)

        client = web(psychologist)
        assert client.get(f"/dashboard/reports/{job.id}/").status_code == 404
        assert client.get(f"/dashboard/reports/{job.id}/download/").status_code == 404
        assert client.get("/dashboard/reports/not-a-uuid/").status_code == 404

    @pytest.mark.parametrize(
        "body",
        [
            {},
            {"date_from": "2026-06-10", "date_to": "2026-06-01", "format": "csv"},
            {"date_from": "2025-01-01", "date_to": "2026-06-01", "format": "csv"},
            {"date_from": "2026-06-01", "date_to": "2026-06-10", "format": "xlsx"},
        ],
    )
    def test_bad_requests_are_400_and_queue_nothing(self, web, psychologist, frozen_now, body):
        response = web(psychologist).post("/dashboard/reports/", body)

        assert response.status_code == 400
        assert not Job.objects.exists()
