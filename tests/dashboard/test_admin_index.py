"""The back office's index: Carebook's header and titles, sections by what staff do
(front desk first), the machinery under "System" for superusers only, and a model no
group names listed under "More" instead of disappearing."""

from __future__ import annotations

import re

import pytest
from django.contrib import admin
from django.contrib.auth.models import Group
from django.test import Client, RequestFactory

from accounts.models import Role, User
from accounts.services import user_create
from accounts.staff_group import staff_group_sync
from core.admin_index import (
    IndexGroup,
    IndexLayout,
    IndexLink,
    grouped_app_list,
)
from tests.factories import PASSWORD

pytestmark = pytest.mark.django_db

GROUP_ORDER = ["Front desk", "Clinicians and patients", "Records", "Imports and reports"]
MACHINERY = ["Access attempts", "Task results", "Periodic tasks", "Outstanding Tokens"]


@pytest.fixture
def superuser() -> User:
    return User.objects.create_superuser("boss@example.test", PASSWORD)


@pytest.fixture
def front_desk(superuser) -> User:
    staff_group_sync()
    return user_create(
        actor=superuser, email="desk@example.test", password=PASSWORD, role=Role.STAFF
    )


def index_of(user: User) -> str:
    client = Client()
    client.force_login(user)
    response = client.get("/admin/")
    assert response.status_code == 200
    return response.content.decode()


def section_names(html: str) -> list[str]:
    return re.findall(r'<span class="section" id="group-[a-z-]+">([^<]+)</span>', html)


def test_the_back_office_has_carebooks_header_and_title(superuser):
    html = index_of(superuser)
    assert "Carebook back office" in html
    assert "<title>" in html
    assert re.search(r"<title>[^<]*Carebook back office</title>", html)
    assert "Django administration" not in html
    assert "Django site admin" not in html


def test_a_superuser_sees_every_group_in_order_with_the_machinery_last(superuser):
    html = index_of(superuser)
    names = section_names(html)
    assert names[: len(GROUP_ORDER)] == GROUP_ORDER
    assert names[-1] == "System"
    system = html[html.index('id="group-system"') :]
    for model in MACHINERY:
        assert model in system
    # the front desk's first entry is the booking page
    front = html[html.index('id="group-front-desk"') : html.index('id="group-people"')]
    assert front.index("Book an appointment") < front.index("Appointments")
    assert "/admin/scheduling/appointment/book/" in front
    # a page, not a model list: no change link beside it
    booking_row = front[front.index("Book an appointment") : front.index("Appointments")]
    assert "changelink" not in booking_row


def test_front_desk_staff_see_their_work_first_and_no_machinery(front_desk):
    assert front_desk.groups.filter(name="staff").exists()
    html = index_of(front_desk)
    names = section_names(html)
    assert names[0] == "Front desk"
    assert "System" not in names
    for model in MACHINERY:
        assert model not in html
    assert "Book an appointment" in html
    # an app's own index page is Django's, unchanged
    client = Client()
    client.force_login(front_desk)
    assert client.get("/admin/scheduling/").status_code == 200


def test_staff_without_the_booking_permission_get_no_booking_link(superuser):
    clerk = user_create(
        actor=superuser, email="clerk@example.test", password=PASSWORD, role=Role.STAFF
    )
    clerk.groups.set([Group.objects.create(name="nothing")])
    clerk = User.objects.get(pk=clerk.pk)
    client = Client()
    client.force_login(clerk)
    html = client.get("/admin/").content.decode()
    assert "Book an appointment" not in html


def test_a_model_no_group_names_falls_into_the_default_group(superuser):
    request = RequestFactory().get("/admin/")
    request.user = superuser
    layout = IndexLayout(
        groups=(
            IndexGroup("people", "People", members=("accounts.user",)),
            IndexGroup("more", "More"),
        ),
        default_key="more",
    )
    # Django's own lists of two apps (an app label asks for Django's list, ungrouped)
    app_list = admin.site.get_app_list(request, "auth") + admin.site.get_app_list(
        request, "accounts"
    )
    grouped = grouped_app_list(app_list, layout, request)
    names = {g["name"]: [m["object_name"] for m in g["models"]] for g in grouped}
    assert names["People"] == ["User"]
    assert sorted(names["More"]) == ["Group", "Hospital"]


def test_links_need_their_permission_and_a_real_page(superuser, front_desk):
    layout = IndexLayout(
        groups=(
            IndexGroup(
                "desk",
                "Desk",
                links=(
                    IndexLink(
                        "Book", "admin:scheduling_appointment_book", "scheduling.add_appointment"
                    ),
                    IndexLink("Nowhere", "admin:no_such_page", "scheduling.add_appointment"),
                ),
            ),
        ),
        default_key="desk",
    )
    request = RequestFactory().get("/admin/")
    request.user = front_desk
    (desk,) = grouped_app_list([], layout, request)
    assert [m["name"] for m in desk["models"]] == ["Book"]
    request.user = User.objects.create_user("nobody@example.test", PASSWORD)
    assert grouped_app_list([], layout, request) == []


def test_every_registered_model_is_listed_for_a_superuser(superuser):
    request = RequestFactory().get("/admin/")
    request.user = superuser
    grouped = admin.site.get_app_list(request)
    listed = {m["model"] for g in grouped for m in g["models"] if "model" in m}
    assert listed == set(admin.site._registry)
