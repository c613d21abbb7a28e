"""The dashboard's "Subscribe in your calendar" page: create, rotate, revoke, details."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import pytest
from django.core.cache import cache
from django.test import Client

from audit.models import AuditEvent
from calendars.models import CalendarFeed
from calendars.services import token_hash

pytestmark = pytest.mark.django_db

PAGE = "/dashboard/calendar/"
FEED_URL = re.compile(r'value="(http://testserver/calendar/[A-Za-z0-9_-]{43}\.ics)"')


@pytest.fixture(autouse=True)
def _fresh_cache():
    cache.clear()
    yield
    cache.clear()


def shown_url(response) -> str:
    (url,) = FEED_URL.findall(response.content.decode())
    return url


def test_the_page_is_in_the_navigation_and_says_there_is_no_feed(web, psychologist):
    page = web(psychologist).get(PAGE)
    assert page.status_code == 200
    html = page.content.decode()
    assert 'href="/dashboard/calendar/" aria-current="page"' in html
    assert "You have no calendar feed." in html
    assert "Create my feed address" in html


def test_creating_shows_the_url_once_and_it_serves_the_feed(web, psychologist):
    client = web(psychologist)

    created = client.post("/dashboard/calendar/new-url/")

    assert created.status_code == 200
    assert created["Cache-Control"] == "no-store"
    url = shown_url(created)
    feed = CalendarFeed.objects.get(owner=psychologist)
    assert feed.token_hash == token_hash(urlsplit(url).path[len("/calendar/") : -len(".ics")])
    assert 'href="webcal://testserver/calendar/' in created.content.decode()
    assert Client().get(urlsplit(url).path).status_code == 200
    # and the page shown again later no longer carries it
    again = client.get(PAGE)
    assert url not in again.content.decode()
    assert "You have a calendar feed" in again.content.decode()


def test_a_new_address_stops_the_old_one(web, psychologist):
    client = web(psychologist)
    old = urlsplit(shown_url(client.post("/dashboard/calendar/new-url/"))).path

    new = urlsplit(shown_url(client.post("/dashboard/calendar/new-url/"))).path

    assert new != old
    assert Client().get(old).status_code == 404
    assert Client().get(new).status_code == 200


def test_details_toggle_and_revoke_go_through_the_services(web, psychologist):
    client = web(psychologist)
    client.post("/dashboard/calendar/new-url/")

    on = client.post("/dashboard/calendar/details/", {"include_details": "on"}, follow=True)
    assert CalendarFeed.objects.get(owner=psychologist).include_details is True
    assert "now shows patient names" in on.content.decode()
    client.post("/dashboard/calendar/details/", {})
    assert CalendarFeed.objects.get(owner=psychologist).include_details is False

    revoked = client.post("/dashboard/calendar/revoke/", follow=True)
    assert "You have no calendar feed." in revoked.content.decode()
    assert not CalendarFeed.objects.exists()
    actions = list(
        AuditEvent.objects.filter(action__startswith="calendar_feed.")
        .order_by("id")
        .values_list("action", flat=True)
    )
    assert actions == [
        "calendar_feed.create",
        "calendar_feed.update",
        "calendar_feed.update",
        "calendar_feed.revoke",
    ]


def test_writes_need_post_and_csrf(psychologist):
    client = Client(enforce_csrf_checks=True)
    client.force_login(psychologist)
    for path in ("/dashboard/calendar/new-url/", "/dashboard/calendar/revoke/"):
        assert client.get(path).status_code == 405
        assert client.post(path).status_code == 403  # no CSRF token
    assert not CalendarFeed.objects.exists()


def test_without_a_feed_details_and_revoke_are_404_pages(web, psychologist):
    client = web(psychologist)
    assert client.post("/dashboard/calendar/revoke/").status_code == 404
    assert client.post("/dashboard/calendar/details/", {"include_details": "on"}).status_code == 404
    assert not CalendarFeed.objects.exists()


def test_patients_staff_and_anonymous_do_not_reach_the_page(web, patient, staff):
    assert web(None).get(PAGE).status_code == 302
    assert web(patient).get(PAGE).status_code == 404
    assert web(staff).get(PAGE)["Location"].startswith("/admin/")
    assert web(patient).post("/dashboard/calendar/new-url/").status_code == 404
    assert not CalendarFeed.objects.exists()
