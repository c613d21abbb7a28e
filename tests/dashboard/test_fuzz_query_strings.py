"""No query string gets a 500 from the dashboard or the admin.

* Hypothesis fuzzes the GET parameters (and the record ids in the path) of every
  dashboard page, signed in as a clinician, as tests/test_fuzz_api.py fuzzes the API.
* Every registered ModelAdmin's change list is opened with junk parameters (search with
  NUL bytes, ordering junk, huge pages, date-hierarchy dates out of range, malformed
  filters) and its change form with junk ids, signed in as a superuser.
* Then one regression test per case found: extreme days and weeks, out-of-range date
  hierarchies, NUL bytes in filters and in an autocomplete term.

Bounded: ``CAREBOOK_FUZZ_EXAMPLES`` examples per page (default 25).
"""

from __future__ import annotations

import os
from datetime import UTC, date, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

import pytest
from django.contrib import admin
from django.db import DatabaseError, transaction
from django.test import Client
from hypothesis import HealthCheck, Phase, example, given, settings
from hypothesis import strategies as st

from reports.services import Kind, ReportRequest, report_request
from tests.dashboard.conftest import book
from tests.factories import (
    AppointmentFactory,
    DoctorFactory,
    PatientFactory,
    SlotFactory,
    StaffFactory,
    completed_consultation,
)

pytestmark = [pytest.mark.django_db, pytest.mark.postgres]

FUZZ_EXAMPLES = int(os.environ.get("CAREBOOK_FUZZ_EXAMPLES", "25"))
FUZZ = settings(
    max_examples=FUZZ_EXAMPLES,
    deadline=None,
    database=None,  # nothing written to .hypothesis/
    phases=[Phase.explicit, Phase.generate],
    suppress_health_check=list(HealthCheck),
)


def get(client: Client, url: str) -> Any:
    """GET inside a savepoint: a handled database error (answered 4xx) would otherwise
    abort the test's transaction for the requests that follow."""
    response = None
    try:
        with transaction.atomic():
            response = client.get(url)
    except DatabaseError:
        pass
    assert response is not None
    return response


def assert_below_500(response: Any, url: str) -> None:
    assert response.status_code < 500, f"{url!r} answered {response.status_code}"


# --- what the fuzzer sends ----------------------------------------------------------------

DASHBOARD_PARAMS = ["day", "start", "next", "page", "p", "q", "o", "status", "format", "id"]

# Days at Python's bounds come up often: the steps a page takes past them (next day, a
# week's seventh day, a zone's offset) are where it used to overflow.
edge_days = st.sampled_from(
    [date.min + timedelta(days=n) for n in range(10)]
    + [date.max - timedelta(days=n) for n in range(10)]
)
any_day = st.one_of(edge_days, st.dates()).map(date.isoformat)
junk_text = st.text(max_size=40)  # any code point, NUL included
huge_number = st.integers(min_value=-(10**30), max_value=10**30).map(str)
value = st.one_of(any_day, junk_text, huge_number, st.sampled_from(["", "0", "-1", "null"]))
# The parameters pages read are each present half the time; any others may come along.
query = st.builds(
    lambda known, other: {**other, **known},
    st.fixed_dictionaries({}, optional=dict.fromkeys(DASHBOARD_PARAMS, value)),
    st.dictionaries(st.text(min_size=1, max_size=10), value, max_size=2),
)
record_id = st.one_of(st.just("real"), st.integers(min_value=0, max_value=10**30).map(str))


@pytest.fixture
def clinic() -> dict[str, Any]:
    """A doctor with a patient, an appointment, a consultation and a report job."""
    doctor = DoctorFactory.create(time_zone="Pacific/Kiritimati")  # UTC+14: the widest offset
    patient = PatientFactory.create()
    appointment = book(doctor, patient, start=datetime(2026, 6, 10, 15, 0, tzinfo=UTC))
    consultation = completed_consultation(doctor, patient)
    job = report_request(
        user=doctor,
        request=ReportRequest(
            kind=Kind.CASELOAD,
            date_from=date(2026, 6, 1),
            date_to=date(2026, 6, 10),
            format="csv",
        ),
    )
    client = Client()
    client.force_login(doctor)
    return {
        "client": client,
        "ids": {
            "patient": patient.pk,
            "appointment": appointment.pk,
            "consultation": consultation.pk,
            "job": job.id,
        },
    }


DASHBOARD_PAGES = {
    "/dashboard/": None,
    "/dashboard/week/": None,
    "/dashboard/availability/": None,
    "/dashboard/clients/": None,
    "/dashboard/reports/": None,
    "/dashboard/login/": None,
    "/dashboard/clients/{}/": "patient",
    "/dashboard/consultations/{}/": "consultation",
    "/dashboard/appointments/{}/consultation/": "appointment",
    "/dashboard/reports/{}/": "job",
    "/dashboard/reports/{}/download/": "job",
}


@pytest.mark.parametrize("page", list(DASHBOARD_PAGES))
@FUZZ
@given(params=query, path_id=record_id)
@example(params={"day": "9999-12-31", "start": "9999-12-31"}, path_id="real")
@example(params={"day": "0001-01-01", "start": "0001-01-01"}, path_id="real")
@example(params={"page": "999999999999999999999", "p": "-1"}, path_id="9" * 30)
def test_no_dashboard_query_string_gets_a_500(clinic, page, params, path_id):
    # given a signed-in clinician and a page, with a real or a junk id in its path
    kind = DASHBOARD_PAGES[page]
    if kind is not None:
        real = clinic["ids"][kind]
        uuid_page = kind == "job"  # a junk id does not match a uuid route: a 404
        page = page.format(real if path_id == "real" or uuid_page else path_id)
    url = f"{page}?{urlencode(params)}"

    # when they open it with whatever query string
    response = get(clinic["client"], url)

    # then the answer is never a server error
    assert_below_500(response, url)


# --- every ModelAdmin's change list and change form ---------------------------------------


def junk_changelist_params(model_admin: admin.ModelAdmin) -> list[dict[str, str]]:
    params: list[dict[str, str]] = [
        {"q": "a\x00b"},
        {"q": "x" * 3000},
        {"q": "9" * 40},
        {"o": "zz.-x.999"},
        {"o": "-"},
        {"p": "999999999999999999999"},
        {"p": "-1"},
        {"p": "abc"},
        {"all": "", "p": "2"},
        {"e": "1"},
        {"id__exact": "9" * 30},
        {"id__exact": "abc"},
        {"id__in": "1,x,"},
        {"pk__gt": "\x00"},
        {"unknown_field": "x"},
        {"_to_field": "password"},
        {"_popup": "1", "_to_field": "id"},
    ]
    for spec in model_admin.list_filter:
        if isinstance(spec, str):
            params += [
                {f"{spec}__exact": "\x00junk"},
                {f"{spec}__id__exact": "9" * 30},
                {f"{spec}__isnull": "maybe"},
                {spec: "junk"},
            ]
    hierarchy = model_admin.date_hierarchy
    if hierarchy:
        for year, month, day in [
            ("9999", None, None),
            ("9999", "12", None),
            ("9999", "12", "31"),
            ("1", "1", "1"),
            ("0", None, None),
            ("99999999999999999999", None, None),
            ("2026", "13", None),
            ("2026", "2", "30"),
            ("x", None, None),
        ]:
            params.append(
                {
                    f"{hierarchy}__{part}": text
                    for part, text in (("year", year), ("month", month), ("day", day))
                    if text is not None
                }
            )
    return params


REGISTERED = sorted(
    (model._meta.app_label, model._meta.model_name, model_admin)
    for model, model_admin in admin.site._registry.items()
)


@pytest.fixture
def superuser_client() -> Client:
    client = Client()
    client.force_login(StaffFactory.create(is_superuser=True))
    return client


@pytest.mark.parametrize(
    ("app", "model", "model_admin"),
    REGISTERED,
    ids=[f"{app}.{model}" for app, model, _ in REGISTERED],
)
def test_no_admin_change_list_query_string_gets_a_500(superuser_client, app, model, model_admin):
    # given some rows, so that lists, filters and hierarchies have something to show
    AppointmentFactory()
    SlotFactory()
    for params in junk_changelist_params(model_admin):
        url = f"/admin/{app}/{model}/?{urlencode(params)}"

        response = get(superuser_client, url)

        assert_below_500(response, url)


@pytest.mark.parametrize(("app", "model"), [(app, model) for app, model, _ in REGISTERED], ids=str)
def test_no_admin_change_form_id_gets_a_500(superuser_client, app, model):
    for junk in ["abc", "9" * 30, "-1", "%00", "1%00", "0"]:
        url = f"/admin/{app}/{model}/{junk}/change/"

        response = get(superuser_client, url)

        assert_below_500(response, url)


# --- regressions: each 500 the fuzzing found ----------------------------------------------


@pytest.fixture
def doctor_client() -> Client:
    client = Client()
    client.force_login(DoctorFactory.create(time_zone="America/New_York"))
    return client


@pytest.mark.parametrize(
    ("query_string", "shown"),
    [
        ("day=9999-12-31", "31 December 9998"),
        ("day=9999-12-30", "31 December 9998"),
        ("day=0001-01-01", "1 January 1900"),
        ("day=0001-01-02", "1 January 1900"),
    ],
)
def test_an_agenda_day_past_the_calendar_shows_the_nearest_day(doctor_client, query_string, shown):
    # when the agenda is asked for a day whose neighbour Python cannot represent
    response = doctor_client.get(f"/dashboard/?{query_string}")

    # then it shows the nearest day a page can show (it was an OverflowError)
    assert response.status_code == 200
    assert shown in response.content.decode()


@pytest.mark.parametrize(
    "start", ["9999-12-31", "9999-12-24", "0001-01-01", "0001-01-08", "1900-01-01"]
)
def test_a_week_past_the_calendar_shows_the_nearest_week(doctor_client, start):
    response = doctor_client.get(f"/dashboard/week/?start={start}")

    assert response.status_code == 200


@pytest.mark.parametrize(
    "params",
    [
        "start__year=9999",
        "start__year=9999&start__month=12",
        "start__year=9999&start__month=12&start__day=31",
        "start__year=99999999999999999999",
    ],
)
def test_an_admin_date_hierarchy_out_of_range_is_the_bad_filter_redirect(superuser_client, params):
    # when the appointment list is filtered to a date whose end Python cannot represent
    response = superuser_client.get(f"/admin/scheduling/appointment/?{params}")

    # then the admin answers as for any bad filter: back to the list with ?e=1
    assert response.status_code == 302
    assert response["Location"] == "/admin/scheduling/appointment/?e=1"


@pytest.mark.parametrize(
    "url",
    [
        "/admin/scheduling/appointment/?status__exact=%00",
        "/admin/accounts/user/?q=a%00b",
        "/admin/autocomplete/?app_label=scheduling&model_name=slot&field_name=clinician&term=%00",
        "/dashboard/?day=%00",
    ],
)
def test_a_nul_byte_in_a_query_string_is_a_400_envelope(superuser_client, url):
    # when a query parameter carries a NUL byte (PostgreSQL refuses it in text)
    response = superuser_client.get(url)

    # then the answer is a 400 naming the parameter, in the error envelope
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "validation_error"
    assert error["details"]["fields"]
    assert response["X-Request-ID"]
