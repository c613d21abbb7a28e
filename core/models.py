from __future__ import annotations

import uuid

from django.conf import settings
from django.core.validators import MaxValueValidator
from django.db import models
from django.utils import timezone


class IdempotencyRecord(models.Model):
    """A client's Idempotency-Key, scoped to the user and the endpoint (IETF draft)."""

    class State(models.TextChoices):
        IN_PROGRESS = "in_progress", "In progress"
        COMPLETED = "completed", "Completed"

    # No index of its own: the unique (user, scope, key) starts with it (issue #18).
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, db_index=False)
    scope = models.CharField(max_length=200, help_text="HTTP method and route.")
    key = models.CharField(max_length=255)
    fingerprint = models.CharField(max_length=64, help_text="SHA-256 of the request body.")
    state = models.CharField(max_length=16, choices=State.choices, default=State.IN_PROGRESS)
    response_status = models.PositiveSmallIntegerField(null=True, blank=True)
    response_body = models.JSONField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(
        db_index=True,
        help_text="In progress: end of the claim's lease (a killed request frees the key then). "
        "Completed: end of the replay window.",
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["user", "scope", "key"], name="uniq_idempotency_key_per_user_scope"
            )
        ]

    def __str__(self) -> str:
        return f"{self.scope} {self.key} ({self.state})"


class OutboxEvent(models.Model):
    """A domain event, written in the same transaction as the change it announces.

    Celery delivers it to every subscriber after commit; a periodic sweep delivers
    anything left behind (broker or worker down). ``delivered_at`` is set once every
    subscriber has its ``OutboxDelivery`` row.
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    name = models.CharField(max_length=100, db_index=True, help_text='e.g. "appointment.scheduled"')
    payload = models.JSONField(default=dict)
    aggregate_type = models.CharField(max_length=100, blank=True)
    aggregate_id = models.CharField(max_length=64, blank=True)
    request_id = models.CharField(max_length=128, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    attempts = models.PositiveIntegerField(default=0)
    last_attempt_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["created_at"]
        indexes = [
            models.Index(fields=["aggregate_type", "aggregate_id"]),
            # The sweep and the pending count read only undelivered rows.
            models.Index(
                fields=["created_at"],
                name="outbox_undelivered_idx",
                condition=models.Q(delivered_at__isnull=True),
            ),
            # The admin's change list in its order, delivered rows too (issue #19).
            models.Index(fields=["created_at"], name="outbox_created_at_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.name} {self.id}"


class OutboxDelivery(models.Model):
    """One subscriber's handling of one event: the row that makes redelivery harmless."""

    # No index of its own: the unique (event, subscriber) starts with it (issue #18).
    event = models.ForeignKey(
        OutboxEvent, on_delete=models.CASCADE, related_name="deliveries", db_index=False
    )
    subscriber = models.CharField(max_length=100)
    delivered_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["event", "subscriber"], name="uniq_outbox_delivery_per_subscriber"
            )
        ]

    def __str__(self) -> str:
        return f"{self.subscriber} ← {self.event_id}"


def job_file_path(instance: Job, filename: str) -> str:
    return f"jobs/{instance.id}/{filename}"


class Job(models.Model):
    """One record for every long or asynchronous piece of work (imports, reports, tasks)."""

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"

    FINISHED_STATUSES = (Status.SUCCEEDED, Status.FAILED)

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    kind = models.CharField(max_length=100, db_index=True, help_text='e.g. "hospital_import"')
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    progress = models.PositiveSmallIntegerField(
        default=0, validators=[MaxValueValidator(100)], help_text="Percent, 0-100."
    )
    result = models.JSONField(null=True, blank=True)
    errors = models.JSONField(default=list, blank=True)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="jobs",
    )
    idempotency_key = models.CharField(max_length=255, blank=True)
    celery_task_id = models.CharField(max_length=255, blank=True)
    # How a launched job is run and recovered (core.jobs: claim, lease, sweep).
    task_name = models.CharField(
        max_length=200, blank=True, help_text="The Celery task that runs it; the sweep re-sends it."
    )
    dispatched_at = models.DateTimeField(
        null=True, blank=True, help_text="When its task was last sent to the broker."
    )
    attempt = models.PositiveIntegerField(
        default=0, help_text="Claims so far; only the latest claim's worker may write the job."
    )
    lapses = models.PositiveSmallIntegerField(
        default=0, help_text="Times a worker stopped renewing its lease before finishing."
    )
    lease_owner = models.CharField(max_length=200, blank=True, help_text="host:pid of the worker.")
    lease_expires_at = models.DateTimeField(null=True, blank=True)
    subject_type = models.CharField(
        max_length=100, blank=True, help_text='What the job is about, e.g. "scheduling.appointment"'
    )
    subject_id = models.CharField(max_length=64, blank=True)
    file = models.FileField(upload_to=job_file_path, blank=True, max_length=300)
    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [
            models.Index(fields=["subject_type", "subject_id"]),
            models.Index(fields=["requested_by", "-created_at"]),
            # The sweep reads only unfinished jobs that a task runs.
            models.Index(
                fields=["dispatched_at"],
                name="job_unfinished_dispatch_idx",
                condition=models.Q(status__in=["queued", "running"]) & ~models.Q(task_name=""),
            ),
        ]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(progress__gte=0, progress__lte=100), name="job_progress_0_100"
            ),
            models.UniqueConstraint(
                fields=["requested_by", "kind", "idempotency_key"],
                condition=~models.Q(idempotency_key="") & models.Q(requested_by__isnull=False),
                name="uniq_job_key_per_user_kind",
            ),
            # Jobs the system starts itself (no user) are keyed by kind alone.
            models.UniqueConstraint(
                fields=["kind", "idempotency_key"],
                condition=~models.Q(idempotency_key="") & models.Q(requested_by__isnull=True),
                name="uniq_job_key_per_kind_system",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.id} ({self.status})"
