"""me/calendar-feed/: issue, rotate, change, revoke; every refusal a 4xx in the envelope
that changes nothing."""

from __future__ import annotations

import threading
from urllib.parse import urlsplit

import pytest
from django.db import connection

from audit.models import AuditEvent
from calendars.models import CalendarFeed
from calendars.services import token_hash
from tests.calendars.conftest import FEED_API, issue_feed, read_feed
from tests.factories import DoctorFactory, PatientFactory, PsychologistFactory, StaffFactory

pytestmark = pytest.mark.django_db


def assert_error(response, status: int, code: str) -> dict:
    assert response.status_code == status, response.content
    error = response.json()["error"]
    assert error["code"] == code
    assert set(error) == {"code", "message", "details", "request_id"}
    return error


def token_of(path: str) -> str:
    return path.removeprefix("/calendar/").removesuffix(".ics")


@pytest.mark.parametrize("factory", [PatientFactory, DoctorFactory, PsychologistFactory])
def test_a_patient_or_clinician_gets_a_secret_url_shown_once(client_for, factory):
    # given a signed-in patient or clinician
    user = factory()
    client = client_for(user)

    # when they ask for a feed
    response = client.post(FEED_API, {}, format="json")

    # then 201 with the absolute URL; only the token's SHA-256 is stored
    assert response.status_code == 201
    body = response.json()
    assert set(body) == {"url", "include_details", "created_at", "rotated_at"}
    assert body["include_details"] is False
    assert body["rotated_at"] is None
    token = token_of(urlsplit(body["url"]).path)
    assert len(token) == 43
    feed = CalendarFeed.objects.get(owner=user)
    assert feed.token_hash == token_hash(token)
    assert token not in feed.token_hash
    # and GET says a feed exists, without its URL
    shown = client.get(FEED_API)
    assert shown.status_code == 200
    assert "url" not in shown.json()
    assert token not in shown.content.decode()


def test_a_second_post_rotates_and_keeps_the_details_setting(client_for):
    doctor = DoctorFactory()
    client = client_for(doctor)
    first = issue_feed(client, include_details=True)

    second = client.post(FEED_API, format="json")  # no body at all

    assert second.status_code == 201
    assert second.json()["include_details"] is True
    assert second.json()["rotated_at"] is not None
    assert urlsplit(second.json()["url"]).path != first
    assert CalendarFeed.objects.filter(owner=doctor).count() == 1
    assert read_feed(first).status_code == 404


def test_changes_are_audited_without_the_token(client_for):
    doctor = DoctorFactory()
    client = client_for(doctor)
    first = issue_feed(client)
    second = issue_feed(client)
    assert client.patch(FEED_API, {"include_details": True}, format="json").status_code == 200
    feed_hash = CalendarFeed.objects.get(owner=doctor).token_hash
    assert client.delete(FEED_API).status_code == 204

    rows = AuditEvent.objects.filter(action__startswith="calendar_feed.").order_by("id")
    assert [r.action for r in rows] == [
        "calendar_feed.create",
        "calendar_feed.rotate",
        "calendar_feed.update",
        "calendar_feed.revoke",
    ]
    assert {r.actor_id for r in rows} == {doctor.pk}
    assert rows[2].changes == {"include_details": {"before": False, "after": True}}
    everything = " ".join(f"{r.changes} {r.metadata}" for r in rows)
    for secret in (token_of(first), token_of(second), feed_hash):
        assert secret not in everything


def test_patch_turns_details_on_and_off_and_keeps_the_url(client_for):
    client = client_for(DoctorFactory())
    path = issue_feed(client)

    on = client.patch(FEED_API, {"include_details": True}, format="json")
    off = client.patch(FEED_API, {"include_details": False}, format="json")

    assert on.status_code == 200
    assert on.json()["include_details"] is True
    assert off.json()["include_details"] is False
    assert read_feed(path).status_code == 200


def test_without_a_feed_get_patch_and_delete_are_404(client_for):
    client = client_for(PatientFactory())
    assert_error(client.get(FEED_API), 404, "calendar_feed_not_found")
    patched = client.patch(FEED_API, {"include_details": True}, format="json")
    assert_error(patched, 404, "calendar_feed_not_found")
    assert_error(client.delete(FEED_API), 404, "calendar_feed_not_found")
    assert not CalendarFeed.objects.exists()


def test_delete_revokes_and_a_second_delete_is_404(client_for):
    client = client_for(PatientFactory())
    path = issue_feed(client)

    assert client.delete(FEED_API).status_code == 204

    assert read_feed(path).status_code == 404
    assert_error(client.delete(FEED_API), 404, "calendar_feed_not_found")


def test_staff_get_403_and_anonymous_401(client_for, api_client):
    staff = client_for(StaffFactory())
    for method in ("get", "post", "patch", "delete"):
        response = getattr(staff, method)(FEED_API, {}, format="json")
        assert_error(response, 403, "permission_denied")
        response = getattr(api_client, method)(FEED_API, {}, format="json")
        assert_error(response, 401, "not_authenticated")
    assert not CalendarFeed.objects.exists()


@pytest.mark.parametrize(
    ("method", "body", "content_type"),
    [
        ("post", b"{not json", "application/json"),
        ("post", b"null", "application/json"),
        ("post", b"123", "application/json"),
        ("patch", b"null", "application/json"),
        ("post", b"[]", "application/json"),
        ("post", b'"yes"', "application/json"),
        ("post", b'{"include_details": "yes"}', "application/json"),
        ("post", b'{"include_details": 1}', "application/json"),
        ("post", b'{"include_details": null}', "application/json"),
        ("post", b'{"url": "x"}', "application/json"),
        ("patch", b"{}", "application/json"),
        ("patch", b'{"include_details": "true"}', "application/json"),
        ("patch", b'{"include_details": true, "owner": 1}', "application/json"),
        ("patch", b"\xff\xfe", "application/json"),
    ],
)
def test_malformed_bodies_are_400_and_change_nothing(client_for, method, body, content_type):
    # given a feed with details off
    doctor = DoctorFactory()
    client = client_for(doctor)
    path = issue_feed(client)
    before = CalendarFeed.objects.get(owner=doctor)

    # when a malformed body is sent
    response = getattr(client, method)(FEED_API, body, content_type=content_type)

    # then 400 in the envelope, and the feed is as it was
    assert response.status_code == 400, response.content
    assert response.json()["error"]["code"] in ("malformed_request", "validation_error")
    after = CalendarFeed.objects.get(owner=doctor)
    assert (after.token_hash, after.include_details) == (before.token_hash, False)
    assert read_feed(path).status_code == 200


def test_a_form_body_is_415(client_for):
    response = client_for(DoctorFactory()).post(
        FEED_API, "include_details=true", content_type="application/x-www-form-urlencoded"
    )
    assert_error(response, 415, "unsupported_media_type")
    assert not CalendarFeed.objects.exists()


def test_one_user_cannot_touch_another_users_feed(client_for):
    # given two clinicians with feeds
    mine, theirs = DoctorFactory(), DoctorFactory()
    my_path = issue_feed(client_for(mine))
    their_path = issue_feed(client_for(theirs))

    # when one rotates and revokes, it is always their own feed
    client = client_for(mine)
    issue_feed(client)
    client.delete(FEED_API)

    assert read_feed(my_path).status_code == 404
    assert read_feed(their_path).status_code == 200
    assert CalendarFeed.objects.filter(owner=theirs).exists()


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_concurrent_first_posts_make_one_feed_whose_last_url_works(client_for):
    # given a clinician without a feed, and six clients of theirs at once
    doctor = DoctorFactory()
    clients = [client_for(doctor) for _ in range(6)]
    answers: list = []
    barrier = threading.Barrier(len(clients))

    def post(client) -> None:
        try:
            barrier.wait()
            answers.append(client.post(FEED_API, {}, format="json"))
        finally:
            connection.close()

    # when all POST together
    threads = [threading.Thread(target=post, args=(c,)) for c in clients]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)

    # then every one is 201, one feed exists, and exactly one URL (the last) opens it
    assert sorted(a.status_code for a in answers) == [201] * 6
    assert CalendarFeed.objects.filter(owner=doctor).count() == 1
    paths = [urlsplit(a.json()["url"]).path for a in answers]
    assert [read_feed(p).status_code for p in paths].count(200) == 1
    actions = AuditEvent.objects.filter(action__startswith="calendar_feed.").values_list(
        "action", flat=True
    )
    assert sorted(actions) == ["calendar_feed.create"] + ["calendar_feed.rotate"] * 5
