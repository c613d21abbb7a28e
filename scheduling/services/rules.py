"""Weekly availability rules and their expansion into slots, in the rule's time zone."""

from __future__ import annotations

import bisect
import zoneinfo
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from accounts.models import CLINICIAN_ROLES, Hospital, User
from core.audit import audit_record
from core.serialization import api_datetime
from scheduling.errors import InvalidAvailability
from scheduling.events import slots_published, slots_recorded
from scheduling.lock_objects import person_lock
from scheduling.models import AvailabilityRule, Mode, Slot
from scheduling.selectors import slots_overlapping
from scheduling.services._common import require_role
from scheduling.services.availability import (
    MAX_SLOT_MINUTES,
    MIN_SLOT_MINUTES,
    check_capacity,
    default_hospital,
    insert_slots,
)

CalendarRow = tuple[datetime, datetime, int | None, int | None]  # start, end, slot id, rule id


@dataclass
class RuleExpansion:
    """What one expansion did: new slots, candidates refused, local times that never exist."""

    created: list[Slot] = field(default_factory=list)
    already_present: int = 0
    conflicts: list[dict[str, Any]] = field(default_factory=list)
    skipped_nonexistent: list[str] = field(default_factory=list)


def _rule_dates(rule: AvailabilityRule, first: date, last: date) -> Iterator[date]:
    day = first + timedelta(days=(rule.weekday - first.weekday()) % 7)
    while day <= last:
        yield day
        day += timedelta(days=7)


def _wall_clock_starts(rule: AvailabilityRule, day: date) -> Iterator[datetime]:
    """Naive local starts of the day's slots (the rule speaks wall-clock time)."""
    step = timedelta(minutes=rule.slot_minutes + rule.buffer_minutes)
    length = timedelta(minutes=rule.slot_minutes)
    wall = datetime.combine(day, rule.start_time)
    close = datetime.combine(day, rule.end_time)
    while wall + length <= close:
        yield wall
        wall += step


def _to_utc(wall: datetime, zone: zoneinfo.ZoneInfo) -> datetime | None:
    """The instant of a local wall time, or None when the clock skips it (spring forward).

    An ambiguous time (autumn fold) takes its first occurrence (fold=0).
    """
    local = wall.replace(tzinfo=zone)
    instant = local.astimezone(UTC)
    if instant.astimezone(zone).replace(tzinfo=None) != wall:
        return None
    return instant


class _Calendar:
    """A clinician's live slots as sorted, non-overlapping intervals."""

    def __init__(self, rows: list[CalendarRow]) -> None:
        self.rows = sorted(rows)
        self.ends = [row[1] for row in self.rows]

    def find(self, start: datetime, end: datetime) -> CalendarRow | None:
        index = bisect.bisect_right(self.ends, start)  # first interval ending after start
        if index < len(self.rows) and self.rows[index][0] < end:
            return self.rows[index]
        return None

    def add(self, start: datetime, end: datetime) -> None:
        row = (start, end, None, None)
        index = bisect.bisect_left(self.rows, row)
        self.rows.insert(index, row)
        self.ends.insert(index, end)


@transaction.atomic
def rule_expand(*, rule_id: int) -> RuleExpansion:
    """Turn a weekly rule into slots from now up to SCHEDULING_RULE_HORIZON_DAYS.

    Slots start at the same local wall-clock time every week, whatever the UTC offset
    (so across a daylight-saving change the UTC time moves, the local time does not).
    Re-running is harmless: slots the rule already made are counted, not duplicated, and
    a clash with another slot is reported instead of failing the expansion.
    """
    rule = AvailabilityRule.objects.select_related("clinician").get(pk=rule_id)
    result = RuleExpansion()
    if not rule.is_active:
        return result
    zone = zoneinfo.ZoneInfo(rule.time_zone)
    now = timezone.now()
    today = now.astimezone(zone).date()
    last = today + timedelta(days=settings.SCHEDULING_RULE_HORIZON_DAYS)
    if rule.valid_until is not None:
        last = min(last, rule.valid_until)
    first = max(rule.valid_from, today)
    if first > last:
        return result
    person_lock(rule.clinician_id)
    window_start = datetime.combine(first, time.min, tzinfo=zone) - timedelta(days=1)
    window_end = datetime.combine(last, time.max, tzinfo=zone) + timedelta(days=1)
    calendar = _Calendar(
        list(
            slots_overlapping(
                clinician_id=rule.clinician_id, start=window_start, end=window_end
            ).values_list("start", "end", "pk", "rule_id")
        )
    )
    length = timedelta(minutes=rule.slot_minutes)
    new_slots: list[Slot] = []
    for day in _rule_dates(rule, first, last):
        for wall in _wall_clock_starts(rule, day):
            start = _to_utc(wall, zone)
            if start is None:
                result.skipped_nonexistent.append(wall.isoformat())
                continue
            if start <= now:
                continue
            end = start + length
            clash = calendar.find(start, end)
            if clash is not None and clash[3] == rule.pk and clash[0] == start and clash[1] == end:
                result.already_present += 1
            elif clash is not None:
                result.conflicts.append(
                    {
                        "start": api_datetime(start, UTC),
                        "end": api_datetime(end, UTC),
                        "conflicting_slot": clash[2],
                    }
                )
            else:
                calendar.add(start, end)
                new_slots.append(
                    Slot(
                        clinician_id=rule.clinician_id,
                        start=start,
                        end=end,
                        mode=rule.mode,
                        hospital_id=rule.hospital_id,
                        capacity=rule.capacity,
                        rule=rule,
                    )
                )
    result.created = insert_slots(new_slots)
    # Expansion runs for the rule's clinician (at creation) or on beat (no actor).
    slots_recorded(
        actor=None, action="slot.create", slots=result.created, metadata={"rule_id": rule.pk}
    )
    slots_published(clinician_id=rule.clinician_id, slots=result.created)
    return result


def _minutes(moment: time) -> int:
    return moment.hour * 60 + moment.minute


@transaction.atomic
def rule_create(
    *,
    clinician: User,
    weekday: int,
    start_time: time,
    end_time: time,
    valid_from: date,
    valid_until: date | None = None,
    time_zone: str | None = None,
    slot_minutes: int = 30,
    buffer_minutes: int = 0,
    mode: str = Mode.IN_PERSON,
    hospital: Hospital | None = None,
    capacity: int = 1,
) -> tuple[AvailabilityRule, RuleExpansion]:
    """Save a weekly rule (in the clinician's time zone unless given) and expand it; each
    slot it publishes has ``capacity`` seats."""
    require_role(clinician, *CLINICIAN_ROLES)
    check_capacity(capacity)
    zone_name = time_zone or clinician.time_zone
    problems: dict[str, str] = {}
    try:
        zoneinfo.ZoneInfo(zone_name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        problems["time_zone"] = "Use an IANA time zone such as Europe/London."
    if not 0 <= weekday <= 6:
        problems["weekday"] = "Use 0 (Monday) to 6 (Sunday)."
    if not MIN_SLOT_MINUTES <= slot_minutes <= MAX_SLOT_MINUTES:
        problems["slot_minutes"] = f"Use {MIN_SLOT_MINUTES}-{MAX_SLOT_MINUTES}."
    if not 0 <= buffer_minutes <= 240:
        problems["buffer_minutes"] = "Use 0-240."
    if end_time <= start_time:
        problems["end_time"] = "The end time must be after the start time."
    elif _minutes(end_time) - _minutes(start_time) < slot_minutes:
        problems["slot_minutes"] = "The daily window is shorter than one slot."
    if valid_until is not None and valid_until < valid_from:
        problems["valid_until"] = "valid_until must not be before valid_from."
    if problems:
        raise InvalidAvailability(details={"fields": problems})
    rule = AvailabilityRule.objects.create(
        clinician=clinician,
        weekday=weekday,
        start_time=start_time,
        end_time=end_time,
        time_zone=zone_name,
        slot_minutes=slot_minutes,
        buffer_minutes=buffer_minutes,
        valid_from=valid_from,
        valid_until=valid_until,
        mode=mode,
        hospital=hospital or default_hospital(clinician, mode),
        capacity=capacity,
    )
    audit_record(actor=clinician, action="availability_rule.create", obj=rule)
    return rule, rule_expand(rule_id=rule.pk)
