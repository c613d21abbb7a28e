"""The admin shows the audit trail and the outbox read-only."""

from __future__ import annotations

import pytest
from django.db import transaction
from django.test import Client

from audit.models import AuditEvent
from core.audit import audit_record
from core.models import OutboxEvent
from core.outbox import event_publish
from tests.factories import StaffFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client():
    client = Client()
    client.force_login(StaffFactory(is_superuser=True))
    return client


def test_audit_events_listed_and_viewable_but_not_editable(admin_client):
    with transaction.atomic():
        row = audit_record(actor=None, action="thing.touch", obj=("test.thing", 1))
    listing = admin_client.get("/admin/audit/auditevent/?action=thing.touch")
    assert listing.status_code == 200
    assert b"thing.touch" in listing.content
    detail = admin_client.get(f"/admin/audit/auditevent/{row.pk}/change/")
    assert detail.status_code == 200
    assert b'name="_save"' not in detail.content  # no save button: read-only
    assert admin_client.get("/admin/audit/auditevent/add/").status_code == 403
    response = admin_client.post(f"/admin/audit/auditevent/{row.pk}/delete/", {"post": "yes"})
    assert response.status_code == 403
    assert AuditEvent.objects.filter(pk=row.pk).exists()


def test_outbox_admin_retry_action_resets_attempts(admin_client):
    with transaction.atomic():
        event = event_publish(name="test.admin", payload={})
    OutboxEvent.objects.filter(id=event.id).update(attempts=25)
    listing = admin_client.get("/admin/core/outboxevent/?delivered=no")
    assert listing.status_code == 200
    assert b"test.admin" in listing.content
    admin_client.post(
        "/admin/core/outboxevent/",
        {"action": "retry_delivery", "_selected_action": [str(event.id)]},
    )
    assert OutboxEvent.objects.get(id=event.id).attempts == 0


def test_job_admin_lists(admin_client):
    assert admin_client.get("/admin/core/job/").status_code == 200
