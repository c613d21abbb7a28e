"""The waitlist in the back office, through Django's test client as a staff member.

Adding an entry is ``entry_join`` and removing one is ``entry_remove`` (with the staff
member as actor: audit rows name them); the service's refusals are form errors or
messages with nothing changed; offers are read-only history; people who are not staff
get no page.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth.models import Permission
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.models import User
from accounts.staff_group import staff_group_sync
from audit.models import AuditEvent
from core.models import OutboxEvent
from scheduling.models import Slot
from tests.factories import DoctorFactory, PatientFactory, SlotFactory, StaffFactory
from waitlist import services
from waitlist.models import WaitlistEntry, WaitlistOffer

pytestmark = pytest.mark.django_db

ENTRIES = "/admin/waitlist/waitlistentry/"
OFFERS = "/admin/waitlist/waitlistoffer/"
Entry, Offer = WaitlistEntry.Status, WaitlistOffer.Status


@pytest.fixture
def receptionist() -> User:
    """A member of the ``staff`` group (not a superuser): the front desk's rights."""
    person = StaffFactory.create(first_name="Rita", last_name="Desk")
    staff_group_sync()
    return person


@pytest.fixture
def desk(receptionist) -> Client:
    client = Client()
    client.force_login(receptionist)
    return client


@pytest.fixture
def doctor() -> User:
    return DoctorFactory.create(first_name="Dora", last_name="Doctor", time_zone="Europe/Berlin")


@pytest.fixture
def patient() -> User:
    return PatientFactory.create(first_name="Cleo", last_name="Client", email="cleo@example.test")


def text(response) -> str:
    return response.content.decode()


def add_form(patient: User, clinician: User, **fields) -> dict:
    return {
        "patient": patient.pk,
        "clinician": clinician.pk,
        "not_before": "",
        "not_after": "",
        "mode": "",
        "priority": 0,
        **fields,
    }


def joined(patient: User, clinician: User, **fields) -> WaitlistEntry:
    return services.entry_join(patient=patient, clinician=clinician, actor=patient, **fields)


def offered_slot(clinician: User, hours: float = 48) -> Slot:
    """An open slot of ``clinician`` that far ahead, offered to the next waiting entry."""
    start = timezone.now().replace(second=0, microsecond=0) + timedelta(hours=hours)
    slot = SlotFactory.create(clinician=clinician, start=start, end=start + timedelta(minutes=30))
    services.slot_offer_next(slot_id=slot.pk)
    return slot


# --- adding ------------------------------------------------------------------------------


def test_staff_add_an_entry_for_a_patient_through_the_service(desk, receptionist, patient, doctor):
    # given the add form filled for Cleo, Mondays and Wednesdays in the coming month, video
    today = timezone.now().date()
    form = add_form(
        patient,
        doctor,
        not_before=today.isoformat(),
        not_after=(today + timedelta(days=30)).isoformat(),
        weekdays=["2", "0"],
        mode="video",
        priority=5,
    )

    # when the receptionist saves it
    response = desk.post(f"{ENTRIES}add/", form)

    # then the entry waits, made by the staff member, and the audit trail says so
    assert response.status_code == 302, text(response)
    entry = WaitlistEntry.objects.get()
    assert (entry.patient, entry.clinician, entry.status) == (patient, doctor, Entry.ACTIVE)
    assert (entry.weekdays, entry.mode, entry.priority) == ([0, 2], "video", 5)
    assert entry.created_by == receptionist
    row = AuditEvent.objects.get(action="waitlist.join")
    assert (row.actor_id, row.object_id) == (receptionist.pk, str(entry.pk))


def test_a_second_active_entry_is_the_services_409_on_the_form(desk, patient, doctor):
    joined(patient, doctor)

    response = desk.post(f"{ENTRIES}add/", add_form(patient, doctor))

    assert response.status_code == 200  # the form again, with the refusal
    assert "waitlist_duplicate" in text(response)
    assert WaitlistEntry.objects.count() == 1
    assert AuditEvent.objects.filter(action="waitlist.join").count() == 1  # the patient's own


@pytest.mark.parametrize(
    ("fields", "shown"),
    [
        (
            {"not_before": "2031-05-10", "not_after": "2031-05-01"},
            "The window ends before it starts.",
        ),
        ({"not_after": "2001-01-01"}, "invalid_waitlist"),  # the service: not in the past
        ({"not_before": "yesterday"}, "Enter a valid date."),
        ({"weekdays": ["7"]}, "Select a valid choice."),
        ({"mode": "telepathy"}, "Select a valid choice."),
        ({"priority": "1000"}, "less than or equal to 100"),
        ({"priority": "high"}, "Enter a whole number."),
    ],
)
def test_a_bad_add_form_is_answered_on_the_form_and_saves_nothing(
    desk, patient, doctor, fields, shown
):
    response = desk.post(f"{ENTRIES}add/", add_form(patient, doctor, **fields))

    assert response.status_code == 200
    assert shown in text(response)
    assert not WaitlistEntry.objects.exists()
    assert not AuditEvent.objects.filter(action="waitlist.join").exists()


def test_only_patients_wait_and_only_for_clinicians(desk, patient, doctor):
    another_patient = PatientFactory.create()

    as_patient = desk.post(f"{ENTRIES}add/", add_form(doctor, doctor))
    for_patient = desk.post(f"{ENTRIES}add/", add_form(patient, another_patient))
    unknown = desk.post(f"{ENTRIES}add/", add_form(patient, doctor) | {"clinician": 10**9})

    for response in (as_patient, for_patient, unknown):
        assert response.status_code == 200
        assert "Select a valid choice" in text(response)
    assert not WaitlistEntry.objects.exists()


# --- removing ----------------------------------------------------------------------------


def test_the_remove_action_ends_the_entries_through_the_service(desk, receptionist, doctor):
    entries = [joined(PatientFactory.create(), doctor) for _ in range(3)]
    chosen = [entries[0].pk, entries[2].pk]

    response = desk.post(ENTRIES, {"action": "remove_entries", "_selected_action": chosen})

    assert response.status_code == 302
    removed = WaitlistEntry.objects.filter(status=Entry.REMOVED)
    assert sorted(removed.values_list("pk", flat=True)) == sorted(chosen)
    assert {entry.ended_by for entry in removed} == {receptionist}
    assert WaitlistEntry.objects.get(pk=entries[1].pk).status == Entry.ACTIVE
    actors = AuditEvent.objects.filter(action="waitlist.remove").values_list("actor_id", flat=True)
    assert list(actors) == [receptionist.pk, receptionist.pk]


def test_removing_an_entry_with_a_live_offer_passes_the_slot_on(desk, doctor):
    # given two waiting patients, the first holding the offer of a freed slot
    first = joined(PatientFactory.create(), doctor)
    second = joined(PatientFactory.create(), doctor)
    slot = offered_slot(doctor)
    offer = WaitlistOffer.objects.get(entry=first)

    # when staff remove the first from the waitlist on the entry's own page
    page = desk.get(f"{ENTRIES}{first.pk}/remove/")
    response = desk.post(f"{ENTRIES}{first.pk}/remove/")

    # then the entry ended, its offer was withdrawn, and the second patient holds the slot
    assert page.status_code == 200
    assert "Remove from the waitlist" in text(page)
    assert response.status_code == 302
    assert response["Location"] == f"{ENTRIES}{first.pk}/change/"
    first.refresh_from_db()
    offer.refresh_from_db()
    assert (first.status, offer.status) == (Entry.REMOVED, Offer.DECLINED)
    passed = WaitlistOffer.objects.get(entry=second)
    assert (passed.slot_id, passed.status) == (slot.pk, Offer.OFFERED)


def test_a_fulfilled_entry_cannot_be_removed_and_the_refusal_is_shown(desk, doctor, patient):
    entry = joined(patient, doctor)
    WaitlistEntry.objects.filter(pk=entry.pk).update(
        status=Entry.FULFILLED, ended_at=timezone.now()
    )

    by_page = desk.post(f"{ENTRIES}{entry.pk}/remove/")
    by_action = desk.post(
        ENTRIES, {"action": "remove_entries", "_selected_action": [entry.pk]}, follow=True
    )

    assert by_page.status_code == 409
    assert "waitlist_entry_not_active" in text(by_page)
    assert "waitlist_entry_not_active" in text(by_action)
    assert WaitlistEntry.objects.get(pk=entry.pk).status == Entry.FULFILLED
    assert not AuditEvent.objects.filter(action="waitlist.remove").exists()


def test_the_remove_button_is_on_an_active_entrys_page_only(desk, doctor):
    active = joined(PatientFactory.create(), doctor)
    removed = joined(PatientFactory.create(), doctor)
    services.entry_remove(entry_id=removed.pk, actor=removed.patient)

    assert f"{ENTRIES}{active.pk}/remove/" in text(desk.get(f"{ENTRIES}{active.pk}/change/"))
    assert "/remove/" not in text(desk.get(f"{ENTRIES}{removed.pk}/change/"))


def test_an_unknown_entry_id_is_a_message_not_an_error(desk):
    for object_id in ("999999999", "abc", "0"):
        response = desk.post(f"{ENTRIES}{object_id}/remove/")
        assert response.status_code == 302
        assert response["Location"] == ENTRIES


# --- reading -----------------------------------------------------------------------------


def test_the_entry_page_is_read_only_with_its_offers_oldest_first(desk, doctor, patient):
    # given Cleo's entry, offered one slot she declined and then a second one
    entry = joined(patient, doctor)
    first_slot = offered_slot(doctor, hours=48)
    first = WaitlistOffer.objects.get(slot=first_slot)
    services.offer_decline(offer_id=first.pk, actor=patient)
    second_slot = offered_slot(doctor, hours=72)
    second = WaitlistOffer.objects.get(slot=second_slot)

    # when staff open the entry, and try to change it
    page = text(desk.get(f"{ENTRIES}{entry.pk}/change/"))
    changed = desk.post(f"{ENTRIES}{entry.pk}/change/", {"priority": 9, "status": "removed"})

    # then both offers are listed, oldest first, with their status and deadline, the slot
    # on the clinic's clock (Berlin)
    assert page.index(f"{OFFERS}{first.pk}/change/") < page.index(f"{OFFERS}{second.pk}/change/")
    assert "Declined" in page
    assert "Offered" in page
    local = second_slot.start.astimezone(doctor.tzinfo)
    assert f"{local:%a %d %b %Y %H:%M} (Europe/Berlin)" in page
    assert 'name="priority"' not in page  # nothing to edit
    assert changed.status_code == 403
    entry.refresh_from_db()
    assert (entry.priority, entry.status) == (0, Entry.ACTIVE)


def test_an_accepted_offer_links_its_appointment(desk, doctor, patient):
    entry = joined(patient, doctor)
    offer = WaitlistOffer.objects.get(slot=offered_slot(doctor))

    appointment = services.offer_accept(offer_id=offer.pk, actor=patient)

    link = f"/admin/scheduling/appointment/{appointment.pk}/change/"
    assert link in text(desk.get(f"{ENTRIES}{entry.pk}/change/"))
    assert link in text(desk.get(f"{OFFERS}{offer.pk}/change/"))
    assert link in text(desk.get(OFFERS))


def test_offers_cannot_be_added_changed_or_deleted(desk, doctor, patient):
    joined(patient, doctor)
    offer = WaitlistOffer.objects.get(slot=offered_slot(doctor))

    add = desk.get(f"{OFFERS}add/")
    change = desk.post(f"{OFFERS}{offer.pk}/change/", {"status": "accepted"})
    delete = desk.post(f"{OFFERS}{offer.pk}/delete/", {"post": "yes"})
    entry_delete = desk.post(f"{ENTRIES}{offer.entry_id}/delete/", {"post": "yes"})

    assert (add.status_code, change.status_code, delete.status_code) == (403, 403, 403)
    assert entry_delete.status_code == 403
    offer.refresh_from_db()
    assert offer.status == Offer.OFFERED
    assert WaitlistEntry.objects.count() == 1


def test_lists_filter_by_status_and_clinician_and_search_patients(desk, doctor, patient):
    other_doctor = DoctorFactory.create(last_name="Other")
    mine = joined(patient, doctor)
    theirs = joined(PatientFactory.create(first_name="Zed", last_name="Zulu"), other_doctor)
    ended = joined(PatientFactory.create(), doctor)
    services.entry_remove(entry_id=ended.pk, actor=ended.patient)

    def shown(url: str, **query) -> set[int]:
        response = desk.get(url, query)
        assert response.status_code == 200
        assert response.context["cl"].show_full_result_count is False
        return {obj.pk for obj in response.context["cl"].result_list}

    assert shown(ENTRIES) == {mine.pk, theirs.pk, ended.pk}
    assert shown(ENTRIES, status__exact="active") == {mine.pk, theirs.pk}
    assert shown(ENTRIES, clinician__id__exact=other_doctor.pk) == {theirs.pk}
    assert shown(ENTRIES, q="cleo@example") == {mine.pk}
    assert shown(ENTRIES, q="Zulu") == {theirs.pk}
    offer = WaitlistOffer.objects.get(slot=offered_slot(doctor))
    assert shown(OFFERS, status__exact="offered") == {offer.pk}
    assert shown(OFFERS, q="Cleo") == {offer.pk}
    assert shown(OFFERS, q="Zulu") == set()


def test_a_bad_filter_is_answered_without_an_error(desk):
    for query in ({"status__exact": "x" * 5000}, {"clinician__id__exact": "abc"}, {"o": "99"}):
        response = desk.get(ENTRIES, query)
        assert response.status_code in (200, 302)


def test_the_entry_list_costs_the_same_queries_with_three_rows_or_thirty(desk, doctor):
    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert desk.get(ENTRIES).status_code == 200
        return len(captured)

    for _ in range(3):
        joined(PatientFactory.create(), doctor)
    few = queries()
    for _ in range(27):
        joined(PatientFactory.create(), DoctorFactory.create())

    assert queries() == few


# --- who gets in -------------------------------------------------------------------------


@pytest.mark.parametrize("url", [ENTRIES, f"{ENTRIES}add/", OFFERS])
def test_patients_and_clinicians_get_no_admin_page(url, patient, doctor):
    for person in (patient, doctor):
        client = Client()
        client.force_login(person)
        response = client.get(url)
        assert response.status_code == 302
        assert response["Location"].startswith("/admin/login/")


def test_a_non_staff_user_cannot_add_or_remove(patient, doctor):
    entry = joined(patient, doctor)
    client = Client()
    client.force_login(PatientFactory.create())

    added = client.post(f"{ENTRIES}add/", add_form(PatientFactory.create(), doctor))
    removed = client.post(f"{ENTRIES}{entry.pk}/remove/")

    assert added.status_code == removed.status_code == 302
    assert WaitlistEntry.objects.count() == 1
    assert WaitlistEntry.objects.get().status == Entry.ACTIVE


def test_staff_who_may_only_view_entries_cannot_remove_them(patient, doctor):
    entry = joined(patient, doctor)
    viewer = StaffFactory.create()  # not in the staff group: only what is granted here
    viewer.user_permissions.add(Permission.objects.get(codename="view_waitlistentry"))
    client = Client()
    client.force_login(viewer)

    listed = client.get(ENTRIES)
    removed = client.post(f"{ENTRIES}{entry.pk}/remove/")
    added = client.get(f"{ENTRIES}add/")

    assert listed.status_code == 200
    assert "remove_entries" not in text(listed)
    assert (removed.status_code, added.status_code) == (403, 403)
    assert WaitlistEntry.objects.get().status == Entry.ACTIVE


def test_the_admin_adds_as_the_api_does_same_audit_row_same_event(
    desk, receptionist, doctor, client_for
):
    # given two patients, one added by the front desk's form, one by staff through the API
    by_form, by_api = PatientFactory.create(), PatientFactory.create()

    form = desk.post(f"{ENTRIES}add/", add_form(by_form, doctor, weekdays=["4"]))
    api = client_for(receptionist).post(
        "/api/v1/waitlist/",
        {"clinician": doctor.pk, "patient": by_api.pk, "weekdays": [4]},
        format="json",
    )

    # then both entries were made the same way: the same audit row and the same event,
    # each naming the staff member as actor and its own patient
    assert (form.status_code, api.status_code) == (302, 201)
    rows = {
        row.metadata["patient_id"]: row for row in AuditEvent.objects.filter(action="waitlist.join")
    }
    events = {
        event.payload["patient_id"]: event
        for event in OutboxEvent.objects.filter(name="waitlist.joined")
    }
    for patient in (by_form, by_api):
        entry = WaitlistEntry.objects.get(patient=patient)
        assert (entry.created_by, entry.weekdays) == (receptionist, [4])
        row, event = rows[patient.pk], events[patient.pk]
        assert (row.actor_id, row.object_id) == (receptionist.pk, str(entry.pk))
        assert event.payload["actor_id"] == receptionist.pk
        assert event.payload["entry_id"] == entry.pk
    assert set(rows[by_form.pk].metadata) == set(rows[by_api.pk].metadata)
    assert set(events[by_form.pk].payload) == set(events[by_api.pk].payload)
