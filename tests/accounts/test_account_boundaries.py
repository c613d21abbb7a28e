"""Account boundaries (issue #13, item 2).

Only a superuser changes a superuser; staff never set another person's password (they send
a reset link or deactivate); every password, email, role or access change, by any path,
writes an audit row naming the actor and revokes the user's refresh tokens, access tokens
and sessions.
"""

from __future__ import annotations

import re

import pytest
from django.contrib.auth.hashers import make_password
from django.contrib.auth.models import Group
from django.core import mail
from django.core.management import call_command
from django.test import Client
from django.urls import reverse
from rest_framework.test import APIClient
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken

from accounts.models import User
from accounts.services import (
    CREDENTIALS_CHANGED,
    PASSWORD_RESET_LINK_SENT,
    user_password_set,
    user_update,
)
from accounts.staff_group import STAFF_GROUP, staff_group_sync
from audit.models import AuditEvent
from core.errors import NotAllowed
from tests.factories import PASSWORD, DoctorFactory, PatientFactory, StaffFactory

pytestmark = pytest.mark.django_db

NEW_PASSWORD = "An0ther-long-passphrase!"
TOKEN = "/api/v1/auth/token/"
REFRESH = "/api/v1/auth/token/refresh/"
ME = "/api/v1/me/"


@pytest.fixture
def office() -> User:
    """A staff member with the staff group's admin permissions (not a superuser)."""
    staff_group_sync()
    user: User = StaffFactory.create()
    user.groups.add(Group.objects.get(name=STAFF_GROUP))
    return user


@pytest.fixture
def root() -> User:
    return User.objects.create_superuser(email="root@example.test", password=PASSWORD)


def browser(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def signed_in(user: User) -> dict[str, str]:
    response = APIClient().post(TOKEN, {"email": user.email, "password": PASSWORD}, format="json")
    assert response.status_code == 200, response.content
    return response.json()


def change_data(user: User, **overrides: str) -> dict[str, str]:
    data = {
        "email": user.email,
        "first_name": user.first_name,
        "last_name": user.last_name,
        "time_zone": user.time_zone,
        "role": user.role,
        "is_active": "on" if user.is_active else "",
        "date_joined_0": "2024-01-01",
        "date_joined_1": "00:00:00",
        "initial-date_joined_0": "2024-01-01",
        "initial-date_joined_1": "00:00:00",
        "patient_profile-TOTAL_FORMS": "0",
        "patient_profile-INITIAL_FORMS": "0",
        "clinician_profile-TOTAL_FORMS": "0",
        "clinician_profile-INITIAL_FORMS": "0",
    }
    data.update(overrides)
    return {key: value for key, value in data.items() if value != ""}


def assert_revoked(user: User, tokens: dict[str, str]) -> None:
    """Every refresh token of ``user`` is blacklisted; the old access and refresh fail."""
    outstanding = OutstandingToken.objects.filter(user=user)
    assert outstanding.exists()
    assert BlacklistedToken.objects.filter(token__in=outstanding).count() == outstanding.count()
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens['access']}")
    assert api.get(ME).status_code == 401
    refreshed = APIClient().post(REFRESH, {"refresh": tokens["refresh"]}, format="json")
    assert refreshed.status_code == 401
    assert refreshed.json()["error"]["code"] == "authentication_failed"


def credential_rows(user: User) -> list[AuditEvent]:
    return list(
        AuditEvent.objects.filter(
            action=CREDENTIALS_CHANGED, object_type="accounts.user", object_id=str(user.pk)
        ).order_by("id")
    )


class TestSuperusersAreForSuperusers:
    def test_staff_cannot_change_a_superuser_in_the_change_form(self, office, root):
        # when
        response = browser(office).post(
            reverse("admin:accounts_user_change", args=[root.pk]),
            change_data(root, email="mine@example.test", is_active=""),
        )
        # then
        assert response.status_code == 403
        root.refresh_from_db()
        assert (root.email, root.is_active) == ("root@example.test", True)

    def test_staff_cannot_open_a_superusers_password_view(self, office, root):
        url = reverse("admin:auth_user_password_change", args=[root.pk])
        response = browser(office).post(url, {"password1": NEW_PASSWORD, "password2": NEW_PASSWORD})
        assert response.status_code == 403
        root.refresh_from_db()
        assert root.check_password(PASSWORD)

    def test_staff_cannot_bulk_delete_a_superuser(self, office, root):
        patient = PatientFactory()
        response = browser(office).post(
            reverse("admin:accounts_user_changelist"),
            {"action": "delete_selected", "_selected_action": [root.pk, patient.pk], "post": "yes"},
        )
        assert response.status_code == 403
        assert User.objects.filter(pk__in=[root.pk, patient.pk]).count() == 2

    def test_staff_cannot_deactivate_a_superuser_by_an_action(self, office, root):
        browser(office).post(
            reverse("admin:accounts_user_changelist"),
            {"action": "deactivate", "_selected_action": [root.pk]},
        )
        root.refresh_from_db()
        assert root.is_active is True
        assert credential_rows(root) == []

    def test_the_service_refuses_too(self, office, root):
        with pytest.raises(NotAllowed):
            user_update(actor=office, user=root, data={"is_active": False})

    def test_a_superuser_may_change_a_superuser(self, root):
        other = User.objects.create_superuser(email="root2@example.test", password=PASSWORD)
        user_update(actor=root, user=other, data={"is_active": False})
        other.refresh_from_db()
        assert other.is_active is False


class TestPasswordsOfOthers:
    @pytest.mark.parametrize("target", [StaffFactory, DoctorFactory, PatientFactory])
    def test_staff_may_not_set_anyones_password_in_the_admin(self, office, target):
        # given a staff member, a clinician or a patient
        user = target()
        url = reverse("admin:auth_user_password_change", args=[user.pk])
        # when a non-superuser staff member opens or posts the password view
        client = browser(office)
        assert client.get(url).status_code == 403
        response = client.post(url, {"password1": NEW_PASSWORD, "password2": NEW_PASSWORD})
        # then it is refused and nothing changed
        assert response.status_code == 403
        user.refresh_from_db()
        assert user.check_password(PASSWORD)

    def test_the_service_refuses_staff_setting_a_clinicians_password(self, office):
        doctor = DoctorFactory()
        with pytest.raises(NotAllowed) as refused:
            user_password_set(actor=office, user=doctor, password=NEW_PASSWORD, via="api")
        assert refused.value.code == "password_set_not_allowed"

    def test_staff_may_not_change_a_clinicians_email(self, office):
        doctor = DoctorFactory(email="doc@example.test")
        with pytest.raises(NotAllowed) as refused:
            user_update(actor=office, user=doctor, data={"email": "attacker@example.test"})
        assert refused.value.code == "email_change_not_allowed"
        doctor.refresh_from_db()
        assert doctor.email == "doc@example.test"

    def test_a_superuser_sets_a_password_audited_and_revoking(self, root):
        # given a doctor signed in on the API and in a browser
        doctor = DoctorFactory()
        tokens = signed_in(doctor)
        session = browser(doctor)
        # when a superuser sets the doctor's password in the admin
        url = reverse("admin:auth_user_password_change", args=[doctor.pk])
        response = browser(root).post(
            url,
            {"password1": NEW_PASSWORD, "password2": NEW_PASSWORD, "usable_password": "true"},
        )
        # then
        assert response.status_code == 302
        doctor.refresh_from_db()
        assert doctor.check_password(NEW_PASSWORD)
        [row] = credential_rows(doctor)
        assert row.actor_id == root.pk
        assert row.metadata["fields"] == ["password"]
        assert doctor.password not in str(row.changes) + str(row.metadata)
        assert_revoked(doctor, tokens)
        assert session.get(reverse("admin:index")).status_code == 302  # signed out


class TestResetLinkAndDeactivation:
    def test_staff_send_a_reset_link_that_sets_the_password_through_the_service(
        self, office, django_capture_on_commit_callbacks
    ):
        # given a signed-in doctor
        doctor = DoctorFactory()
        tokens = signed_in(doctor)
        # when staff send the reset link (mail leaves after commit)
        with django_capture_on_commit_callbacks(execute=True):
            response = browser(office).post(
                reverse("admin:accounts_user_changelist"),
                {"action": "send_password_reset_link", "_selected_action": [doctor.pk]},
            )
        assert response.status_code == 302
        # then one email with a link, an audit row naming staff, and nothing revoked yet
        [message] = mail.outbox
        assert message.to == [doctor.email]
        sent = AuditEvent.objects.get(action=PASSWORD_RESET_LINK_SENT, object_id=str(doctor.pk))
        assert sent.actor_id == office.pk
        assert credential_rows(doctor) == []
        # when the doctor follows it and chooses a password
        link = re.search(r"https?://[^/]+(/account/password-reset/\S+)", message.body)
        assert link is not None
        anonymous = Client()
        form = anonymous.get(link.group(1))
        assert form.status_code == 302  # Django moves the token into the session
        response = anonymous.post(
            form["Location"], {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD}
        )
        # then the password is set by the user themself, audited, and old tokens die
        assert response.status_code == 302
        doctor.refresh_from_db()
        assert doctor.check_password(NEW_PASSWORD)
        [row] = credential_rows(doctor)
        assert (row.actor_id, row.metadata["via"]) == (doctor.pk, "reset_link")
        assert_revoked(doctor, tokens)
        # and the link works once
        assert anonymous.get(link.group(1)).status_code == 200
        assert b"invalid" in anonymous.get(link.group(1)).content.lower()

    def test_staff_deactivate_a_clinician_which_signs_them_out_everywhere(self, office):
        doctor = DoctorFactory()
        tokens = signed_in(doctor)
        browser(office).post(
            reverse("admin:accounts_user_changelist"),
            {"action": "deactivate", "_selected_action": [doctor.pk]},
        )
        doctor.refresh_from_db()
        assert doctor.is_active is False
        [row] = credential_rows(doctor)
        assert row.actor_id == office.pk
        assert row.changes == {"is_active": {"before": True, "after": False}}
        assert_revoked(doctor, tokens)


class TestEveryPathIsAuditedAndRevokes:
    def test_a_role_change_in_the_admin(self, root):
        patient = PatientFactory()
        tokens = signed_in(patient)
        response = browser(root).post(
            reverse("admin:accounts_user_change", args=[patient.pk]),
            change_data(patient, role="doctor"),
        )
        assert response.status_code == 302
        [row] = credential_rows(patient)
        assert row.actor_id == root.pk
        assert row.changes["role"] == {"before": "patient", "after": "doctor"}
        assert_revoked(patient, tokens)

    def test_staff_change_a_patients_email(self, office):
        patient = PatientFactory(email="old@example.test")
        tokens = signed_in(patient)
        user_update(actor=office, user=patient, data={"email": "New@Example.test"})
        [row] = credential_rows(patient)
        assert row.changes["email"] == {"before": "old@example.test", "after": "new@example.test"}
        assert row.actor_id == office.pk
        assert_revoked(patient, tokens)

    def test_a_plain_save_outside_any_service(self):
        # e.g. a shell session or a third-party app: the model records it as the system
        patient = PatientFactory()
        tokens = signed_in(patient)
        patient.set_password(NEW_PASSWORD)
        patient.save()
        [row] = credential_rows(patient)
        assert row.actor_id is None
        assert row.metadata["via"] == "save"
        assert_revoked(patient, tokens)

    def test_the_changepassword_management_command(self, monkeypatch):
        patient = PatientFactory()
        tokens = signed_in(patient)
        monkeypatch.setattr("getpass.getpass", lambda prompt="": NEW_PASSWORD)
        call_command("changepassword", patient.email, stdout=None)
        patient.refresh_from_db()
        assert patient.check_password(NEW_PASSWORD)
        assert len(credential_rows(patient)) == 1
        assert_revoked(patient, tokens)

    def test_the_admins_own_password_change_keeps_the_current_session_only(self, root):
        client = browser(root)
        other_session = browser(root)
        response = client.post(
            reverse("admin:password_change"),
            {
                "old_password": PASSWORD,
                "new_password1": NEW_PASSWORD,
                "new_password2": NEW_PASSWORD,
            },
        )
        assert response.status_code == 302
        [row] = credential_rows(root)
        assert row.actor_id == root.pk  # the request's user, through the middleware
        assert client.get(reverse("admin:index")).status_code == 200
        assert other_session.get(reverse("admin:index")).status_code == 302

    def test_a_login_that_upgrades_the_password_hash_revokes_nothing(self, settings):
        # given a password stored under an older hasher (the preferred one is the first)
        settings.PASSWORD_HASHERS = [
            *settings.PASSWORD_HASHERS,
            "django.contrib.auth.hashers.PBKDF2PasswordHasher",
        ]
        patient = PatientFactory()
        old_hash = make_password(PASSWORD, hasher="pbkdf2_sha256")
        User.objects.filter(pk=patient.pk).update(password=old_hash)
        first = signed_in(patient)
        # when the same password signs in again, Django re-hashes it under the preferred one
        second = signed_in(patient)
        # then that is no credential change: nothing audited, nothing revoked
        patient.refresh_from_db()
        assert patient.password != old_hash
        assert credential_rows(patient) == []
        for tokens in (first, second):
            api = APIClient()
            api.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens['access']}")
            assert api.get(ME).status_code == 200
