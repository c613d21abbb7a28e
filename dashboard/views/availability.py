"""Availability: weekly rules, single slots, withdrawing a free slot."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from core.errors import DomainError, NotFound
from dashboard import selectors
from dashboard.access import clinician_required
from dashboard.forms import RuleForm, SlotForm
from dashboard.views._common import clinician_of
from scheduling.errors import SlotOverlap
from scheduling.services import rule_create, slot_create, slot_withdraw


def _availability_page(
    request: HttpRequest,
    *,
    rule_form: RuleForm | None = None,
    slot_form: SlotForm | None = None,
    conflicts: list[Any] | None = None,
    status: int = 200,
) -> HttpResponse:
    user = clinician_of(request)
    today = selectors.today_for(user)
    context = {
        "rule_form": rule_form or RuleForm(prefix="rule", initial={"valid_from": today}),
        "slot_form": slot_form
        or SlotForm(prefix="slot", initial={"day": today + timedelta(days=1)}),
        "slots": selectors.upcoming_slots(clinician=user),
        "conflicts": conflicts or [],
    }
    return render(request, "dashboard/availability.html", context, status=status)


@require_GET
@clinician_required
def availability(request: HttpRequest) -> HttpResponse:
    return _availability_page(request)


def _field_errors(form: Any, exc: DomainError) -> None:
    """Put a service's field problems next to the form's fields."""
    fields = exc.details.get("fields", {}) if isinstance(exc.details, dict) else {}
    names = {"start": "start_time", "end": "end_time"}
    placed = False
    for name, problem in fields.items():
        target = names.get(name, name)
        if target in form.fields:
            form.add_error(target, str(problem))
            placed = True
    if not placed:
        form.add_error(None, exc.message)


@require_POST
@clinician_required
def rule_add(request: HttpRequest) -> HttpResponse:
    user = clinician_of(request)
    form = RuleForm(request.POST, prefix="rule")
    if not form.is_valid():
        return _availability_page(request, rule_form=form, status=400)
    try:
        _rule, expansion = rule_create(
            clinician=user, time_zone=user.time_zone, **form.cleaned_data
        )
    except DomainError as exc:
        _field_errors(form, exc)
        return _availability_page(request, rule_form=form, status=400)
    text = f"Weekly availability saved: {len(expansion.created)} slots published."
    if expansion.conflicts:
        text += f" {len(expansion.conflicts)} times were skipped: they overlap existing slots."
        ids = [conflict["conflicting_slot"] for conflict in expansion.conflicts[:20]]
        messages.success(request, text)
        conflicts = selectors.slots_by_ids(clinician=user, slot_ids=ids)
        return _availability_page(request, conflicts=conflicts)
    messages.success(request, text)
    return redirect("dashboard:availability")


@require_POST
@clinician_required
def slot_add(request: HttpRequest) -> HttpResponse:
    user = clinician_of(request)
    form = SlotForm(request.POST, prefix="slot")
    if not form.is_valid():
        return _availability_page(request, slot_form=form, status=400)
    start, end = form.interval(user.tzinfo)
    try:
        slots = slot_create(
            clinician=user, start=start, end=end, slot_minutes=form.cleaned_data["slot_minutes"]
        )
    except SlotOverlap as exc:
        form.add_error(None, exc.message)
        ids = list(exc.details.get("conflicting_slots", []))
        conflicts = selectors.slots_by_ids(clinician=user, slot_ids=ids)
        return _availability_page(request, slot_form=form, conflicts=conflicts, status=409)
    except DomainError as exc:
        _field_errors(form, exc)
        return _availability_page(request, slot_form=form, status=400)
    messages.success(request, f"{len(slots)} slot(s) published.")
    return redirect("dashboard:availability")


@require_POST
@clinician_required
def slot_remove(request: HttpRequest, slot_id: int) -> HttpResponse:
    user = clinician_of(request)
    try:
        slot_withdraw(actor=user, slot_id=slot_id)
    except NotFound:
        raise
    except DomainError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, "The slot was withdrawn.")
    return redirect("dashboard:availability")
