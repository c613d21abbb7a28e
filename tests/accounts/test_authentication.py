"""JWT authentication reuses a user row for a few seconds per process (accounts/authentication)."""

from __future__ import annotations

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts import authentication
from accounts.authentication import forget_all_users
from accounts.models import Role, User
from tests.clocks import SteppingClock
from tests.factories import PatientFactory

pytestmark = pytest.mark.django_db

ME = "/api/v1/me/"


@pytest.fixture
def cache_seconds(settings):
    def set_ttl(seconds: float) -> None:
        settings.AUTH_USER_CACHE_SECONDS = seconds

    forget_all_users()
    yield set_ttl
    forget_all_users()


def user_reads(client) -> tuple[int, int]:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(ME)
    reads = sum('FROM "accounts_user"' in q["sql"] for q in queries.captured_queries)
    return response.status_code, reads


def test_a_second_request_within_the_ttl_reuses_the_row(client_for, cache_seconds):
    cache_seconds(5)
    client = client_for(PatientFactory())
    status, first_reads = user_reads(client)
    assert status == 200
    status, second_reads = user_reads(client)
    assert status == 200
    assert second_reads == first_reads - 1


def test_with_ttl_zero_every_request_reads_the_row(client_for, cache_seconds):
    cache_seconds(0)
    client = client_for(PatientFactory())
    assert user_reads(client)[1] == user_reads(client)[1] >= 1


def test_each_request_gets_its_own_instance(client_for, cache_seconds, rf):
    cache_seconds(5)
    from accounts.authentication import CachedUserJWTAuthentication

    patient = PatientFactory()
    client_for(patient).get(ME)  # fills the cache
    token = client_for(patient)._credentials["HTTP_AUTHORIZATION"]
    auth = CachedUserJWTAuthentication()
    first, _ = auth.authenticate(rf.get(ME, HTTP_AUTHORIZATION=token))
    second, _ = auth.authenticate(rf.get(ME, HTTP_AUTHORIZATION=token))
    assert first == second == patient
    assert first is not second
    first.first_name = "Changed in one request"
    assert second.first_name == patient.first_name


def test_a_deactivation_saved_in_this_process_takes_effect_at_once(client_for, cache_seconds):
    cache_seconds(60)
    patient = PatientFactory()
    client = client_for(patient)
    assert client.get(ME).status_code == 200
    patient.is_active = False
    patient.save()
    response = client.get(ME)
    assert response.status_code == 401
    assert response.json()["error"]["code"]


def test_a_change_made_elsewhere_takes_effect_within_the_ttl(
    client_for, cache_seconds, monkeypatch
):
    # given a cached row, and a change that this process hears nothing of (another
    # process's save, or a queryset update)
    clock = SteppingClock()
    monkeypatch.setattr(authentication, "clock", clock)
    cache_seconds(5)
    patient = PatientFactory()
    client = client_for(patient)
    assert client.get(ME).json()["role"] == Role.PATIENT
    User.objects.filter(pk=patient.pk).update(is_active=False)
    # when the TTL has passed, then the request is refused
    clock.advance(5.1)
    assert client.get(ME).status_code == 401


def test_a_deleted_user_is_refused_at_once(client_for, cache_seconds):
    cache_seconds(60)
    patient = PatientFactory()
    client = client_for(patient)
    assert client.get(ME).status_code == 200
    patient.delete()
    assert client.get(ME).status_code == 401


@pytest.mark.parametrize("claim", ["not-a-number", str(2**64), "-1", "0"])
def test_a_signed_token_naming_no_valid_user_id_is_401(api_client, claim):
    from rest_framework_simplejwt.tokens import AccessToken

    token = AccessToken()
    token["user_id"] = claim
    response = api_client.get(ME, HTTP_AUTHORIZATION=f"Bearer {token}")
    assert response.status_code == 401
    assert response.json()["error"]["code"]


def test_the_row_read_on_a_miss_is_the_whole_user(client_for, cache_seconds):
    cache_seconds(0)
    patient = PatientFactory(first_name="Émile", time_zone="Europe/Paris")
    body = client_for(patient).get(ME).json()
    assert body["id"] == patient.pk
    assert body["email"] == patient.email
    from rest_framework_simplejwt.tokens import AccessToken

    from accounts.authentication import CachedUserJWTAuthentication

    user = CachedUserJWTAuthentication().get_user(AccessToken.for_user(patient))
    for field in User._meta.concrete_fields:
        assert getattr(user, field.attname) == getattr(patient, field.attname), field.name
    assert user._state.adding is False


def bearer(token) -> dict[str, str]:
    return {"HTTP_AUTHORIZATION": f"Bearer {token}"}


def test_a_token_verified_once_is_still_refused_once_it_expires(client, cache_seconds):
    from datetime import timedelta

    from rest_framework_simplejwt.tokens import AccessToken

    token = AccessToken.for_user(PatientFactory())
    token.set_exp(lifetime=timedelta(seconds=60))
    assert client.get(ME, **bearer(token)).status_code == 200
    assert client.get(ME, **bearer(token)).status_code == 200  # the decoded claims, reused
    with time_machine.travel(timezone.now() + timedelta(seconds=61), tick=False):
        response = client.get(ME, **bearer(token))
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "authentication_failed"  # as any refused token


def test_only_the_exact_bytes_verified_are_reused(client, cache_seconds):
    from rest_framework_simplejwt.tokens import AccessToken

    token = str(AccessToken.for_user(PatientFactory()))
    assert client.get(ME, **bearer(token)).status_code == 200
    header, payload, signature = token.split(".")
    forged = f"{header}.{payload}.{signature[:-4]}AAAA"
    assert client.get(ME, **bearer(forged)).status_code == 401
    assert client.get(ME, **bearer(token)).status_code == 200


def test_a_reused_token_carries_the_claims_it_was_verified_with(cache_seconds):
    from rest_framework_simplejwt.tokens import AccessToken

    from accounts.authentication import CachedUserJWTAuthentication

    raw = str(AccessToken.for_user(PatientFactory())).encode()
    auth = CachedUserJWTAuthentication()
    first, again = auth.get_validated_token(raw), auth.get_validated_token(raw)
    assert again is not first
    assert again.payload == first.payload
    assert type(again) is type(first)
