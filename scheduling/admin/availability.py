"""Weekly rules and slots in the back office."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import F, Model, QuerySet
from django.http import HttpRequest

from scheduling import services
from scheduling.admin._common import PeopleSearchAdmin, ServiceWriteAdmin, actor_of, apply_to_each
from scheduling.models import AvailabilityRule, Slot

# --- rules -----------------------------------------------------------------------------


@admin.register(AvailabilityRule)
class AvailabilityRuleAdmin(ServiceWriteAdmin):
    list_display = (
        "id",
        "clinician",
        "weekday",
        "start_time",
        "end_time",
        "time_zone",
        "slot_minutes",
        "buffer_minutes",
        "valid_from",
        "valid_until",
        "mode",
        "is_active",
    )
    list_filter = ("is_active", "weekday", "mode", "time_zone")
    search_fields = ("clinician__email", "clinician__first_name", "clinician__last_name")
    list_select_related = ("clinician", "hospital")
    autocomplete_fields = ("clinician", "hospital")
    date_hierarchy = "valid_from"
    actions = ("expand_now",)

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        # A rule is fixed once made; its slots were expanded from exactly these values.
        if obj is not None:
            return [f.name for f in self.model._meta.fields]
        return ("is_active", "created_at")

    def run_service(
        self, request: HttpRequest, instance: Any, data: dict[str, Any], change: bool
    ) -> Model:
        if change:
            return instance
        rule, expansion = services.rule_create(
            clinician=data["clinician"],
            weekday=data["weekday"],
            start_time=data["start_time"],
            end_time=data["end_time"],
            valid_from=data["valid_from"],
            valid_until=data.get("valid_until"),
            time_zone=data.get("time_zone") or None,
            slot_minutes=data["slot_minutes"],
            buffer_minutes=data["buffer_minutes"],
            mode=data["mode"],
            hospital=data.get("hospital"),
        )
        self.message_user(
            request,
            f"Expanded into {len(expansion.created)} slots; "
            f"{len(expansion.conflicts)} clashed with existing slots.",
            messages.INFO,
        )
        return rule

    @admin.action(description="Expand selected rules into slots now")
    def expand_now(self, request: HttpRequest, queryset: QuerySet[AvailabilityRule]) -> None:
        apply_to_each(
            self, request, queryset, lambda pk: services.rule_expand(rule_id=pk), "Expanded"
        )


# --- slots -----------------------------------------------------------------------------


class GroupSessionFilter(admin.SimpleListFilter):
    title = "seats"
    parameter_name = "seats"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("one", "One-to-one"), ("group", "Group session"), ("left", "Group, seats left")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Slot]) -> QuerySet[Slot]:
        if self.value() == "one":
            return queryset.filter(capacity=1)
        if self.value() == "group":
            return queryset.filter(capacity__gt=1)
        if self.value() == "left":
            return queryset.filter(capacity__gt=1, seats_taken__lt=F("capacity"))
        return queryset


@admin.register(Slot)
class SlotAdmin(PeopleSearchAdmin, ServiceWriteAdmin):
    people_fields = ("clinician",)  # searched through indexes: PeopleSearchAdmin
    list_display = (
        "id",
        "clinician",
        "start",
        "end",
        "mode",
        "hospital",
        "status",
        "seats",
        "rule",
    )
    list_filter = ("status", "mode", GroupSessionFilter, "hospital")
    search_fields = ("clinician__email", "clinician__first_name", "clinician__last_name")
    list_select_related = ("clinician", "hospital", "rule")
    autocomplete_fields = ("clinician", "hospital")
    date_hierarchy = "start"
    ordering = ("-start",)
    actions = ("withdraw",)

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        # Status and seats follow bookings; times and capacity are fixed once published
        # (withdraw and republish).
        if obj is not None:
            return [f.name for f in self.model._meta.fields]
        return ("status", "seats_taken", "rule", "created_at")

    @admin.display(description="Seats taken", ordering="seats_taken")
    def seats(self, obj: Slot) -> str:
        """ "3 of 8" for a group session; "1 of 1" or "0 of 1" for a one-to-one visit."""
        return f"{obj.seats_taken} of {obj.capacity}"

    def run_service(
        self, request: HttpRequest, instance: Any, data: dict[str, Any], change: bool
    ) -> Model:
        if change:
            return instance
        (slot,) = services.slot_create(
            clinician=data["clinician"],
            start=data["start"],
            end=data["end"],
            mode=data["mode"],
            hospital=data.get("hospital"),
            capacity=data.get("capacity") or 1,
        )
        return slot

    @admin.action(description="Withdraw selected slots")
    def withdraw(self, request: HttpRequest, queryset: QuerySet[Slot]) -> None:
        actor = actor_of(request)
        apply_to_each(
            self,
            request,
            queryset,
            lambda pk: services.slot_withdraw(actor=actor, slot_id=pk),
            "Withdrew",
        )
