"""Periodic scheduling work (Celery beat)."""

from __future__ import annotations

import logging

from celery import shared_task
from django.db.models import Q
from django.utils import timezone

from core.errors import DomainError
from scheduling.models import AvailabilityRule
from scheduling.services import rule_expand

logger = logging.getLogger(__name__)


@shared_task(name="scheduling.expand_rules", acks_late=True, soft_time_limit=600, time_limit=660)
def rules_expand_active() -> int:
    """Roll every active weekly rule forward to the moving horizon; returns slots created.

    Each rule expands in its own transaction, so one clinician's clash or a deleted rule
    does not hold back the others. Re-running is harmless (expansion is idempotent).
    """
    today = timezone.now().date()
    rule_ids = AvailabilityRule.objects.filter(
        Q(valid_until__isnull=True) | Q(valid_until__gte=today), is_active=True
    ).values_list("pk", flat=True)
    created = 0
    for rule_id in list(rule_ids):
        try:
            created += len(rule_expand(rule_id=rule_id).created)
        except (DomainError, AvailabilityRule.DoesNotExist) as exc:
            logger.warning("rule %s not expanded: %s", rule_id, exc)
    return created
