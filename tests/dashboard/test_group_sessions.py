"""The clinician's dashboard shows group sessions with their attendees and seats left, and
marks the occurrences of a weekly series."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from scheduling import services
from scheduling.models import Slot
from scheduling.services.series import series_book
from tests.dashboard.conftest import local_today_at
from tests.factories import PatientFactory, SlotFactory

pytestmark = pytest.mark.django_db


def group_slot(clinician, start, capacity: int = 8, minutes: int = 90) -> Slot:
    return SlotFactory.create(
        clinician=clinician, start=start, end=start + timedelta(minutes=minutes), capacity=capacity
    )


def attendees(slot: Slot, count: int) -> list:
    booked = []
    for n in range(count):
        person = PatientFactory.create(first_name=f"Member{n}", last_name="Group")
        booked.append(services.appointment_book(patient=person, slot_id=slot.pk))
    return booked


class TestAgenda:
    def test_a_group_session_has_a_heading_with_seats_left_then_its_attendees(
        self, web, psychologist, patient, frozen_now
    ):
        # given a group session of eight with three attendees tomorrow at 10:00 local
        start = local_today_at(psychologist, 10) + timedelta(days=1)
        slot = group_slot(psychologist, start)
        attendees(slot, 3)
        # and a one-to-one visit later that day
        single = SlotFactory.create(
            clinician=psychologist, start=start + timedelta(hours=3), end=start + timedelta(hours=4)
        )
        services.appointment_book(patient=patient, slot_id=single.pk)

        # when the psychologist opens that day
        page = web(psychologist).get(f"/dashboard/?day={start.date().isoformat()}")

        # then the session is one heading with its seats, followed by its three attendees
        html = page.content.decode()
        assert page.status_code == 200
        assert html.count('class="group-heading"') == 1
        assert "3 attending" in html
        assert "5 of 8 seats left" in html
        heading = html.index('class="group-heading"')
        for n in range(3):
            assert html.index(f"Member{n} Group") > heading
        assert "seat 3" in html
        # and the one-to-one visit is an ordinary row, no heading, no seat
        assert "Cleo Client" in html
        assert html.index("Cleo Client") > html.index("Member2 Group")

    def test_a_cancelled_attendee_frees_a_seat_on_the_page(self, web, psychologist, frozen_now):
        start = local_today_at(psychologist, 10) + timedelta(days=1)
        slot = group_slot(psychologist, start, capacity=4)
        first, _ = attendees(slot, 2)
        services.appointment_cancel(actor=psychologist, appointment_id=first.pk, reason="ill")

        html = web(psychologist).get(f"/dashboard/?day={start.date().isoformat()}").content
        page = html.decode()

        assert "1 attending" in page
        assert "3 of 4 seats left" in page

    def test_the_agenda_does_not_grow_a_query_per_group(self, web, psychologist, frozen_now):
        start = local_today_at(psychologist, 8) + timedelta(days=1)
        day = start.date().isoformat()
        client = web(psychologist)

        group_slot(psychologist, start, minutes=60)
        attendees(Slot.objects.get(), 2)
        with CaptureQueriesContext(connection) as one_group:
            client.get(f"/dashboard/?day={day}")
        for hour in (2, 4, 6):
            more = group_slot(psychologist, start + timedelta(hours=hour), minutes=60)
            for _ in range(3):
                services.appointment_book(patient=PatientFactory.create(), slot_id=more.pk)
        with CaptureQueriesContext(connection) as four_groups:
            client.get(f"/dashboard/?day={day}")

        assert len(four_groups) == len(one_group)


class TestWeek:
    def test_a_group_session_is_one_entry_with_its_attendees(self, web, psychologist, frozen_now):
        start = local_today_at(psychologist, 10) + timedelta(days=1)
        slot = group_slot(psychologist, start)
        attendees(slot, 2)

        page = web(psychologist).get(f"/dashboard/week/?start={start.date().isoformat()}")

        html = page.content.decode()
        assert page.status_code == 200
        assert html.count('<li class="chip group">') == 1
        assert "2 attending, 6 of 8 seats left" in html
        assert "Member0 Group" in html
        assert "Member1 Group" in html
        assert '<li class="chip open">' not in html  # not listed again as a free slot
        assert '<li class="chip appt' not in html  # nor its attendees as separate visits

    def test_a_full_group_session_still_shows_its_attendees(self, web, psychologist, frozen_now):
        start = local_today_at(psychologist, 10) + timedelta(days=1)
        slot = group_slot(psychologist, start, capacity=2)
        attendees(slot, 2)
        slot.refresh_from_db()
        assert slot.status == Slot.Status.BOOKED

        html = web(psychologist).get(f"/dashboard/week/?start={start.date().isoformat()}")

        page = html.content.decode()
        assert "2 attending, 0 of 2 seats left" in page
        assert "Member1 Group" in page

    def test_an_empty_group_session_shows_all_its_seats(self, web, psychologist, frozen_now):
        start = local_today_at(psychologist, 10) + timedelta(days=1)
        group_slot(psychologist, start, capacity=6)

        html = web(psychologist).get(f"/dashboard/week/?start={start.date().isoformat()}")

        assert "0 attending, 6 of 6 seats left" in html.content.decode()


class TestSeries:
    def test_series_occurrences_are_marked_on_the_agenda_and_the_week(
        self, web, psychologist, patient, frozen_now
    ):
        # given a weekly series of three from tomorrow 10:00 local, and a single visit
        start = local_today_at(psychologist, 10) + timedelta(days=1)
        first = SlotFactory.create(
            clinician=psychologist, start=start, end=start + timedelta(minutes=50)
        )
        for week in (1, 2):
            later = start + timedelta(weeks=week)
            SlotFactory.create(
                clinician=psychologist, start=later, end=later + timedelta(minutes=50)
            )
        series_book(patient=patient, slot_id=first.pk, count=3)
        single = SlotFactory.create(
            clinician=psychologist, start=start + timedelta(hours=2), end=start + timedelta(hours=3)
        )
        services.appointment_book(patient=PatientFactory.create(), slot_id=single.pk)
        client = web(psychologist)

        # when the psychologist opens that day and the week after
        day = client.get(f"/dashboard/?day={start.date().isoformat()}").content.decode()
        next_week = (start + timedelta(weeks=1)).date().isoformat()
        week = client.get(f"/dashboard/week/?start={next_week}").content.decode()

        # then the occurrence is badged, the single visit is not
        assert day.count('<span class="badge series">Weekly series</span>') == 1
        assert week.count('<span class="badge series">Weekly series</span>') == 2  # + legend
