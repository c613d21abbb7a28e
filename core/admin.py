"""Back-office views of the core mechanisms: outbox events and job records (read-only)."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from core.admin_tools import IndexedValuesFilter
from core.models import Job, OutboxDelivery, OutboxEvent
from core.outbox import outbox_event_retry


class ReadOnlyMixin:
    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class OutboxDeliveryInline(ReadOnlyMixin, admin.TabularInline):
    model = OutboxDelivery
    fields = ["subscriber", "delivered_at"]
    readonly_fields = ["subscriber", "delivered_at"]
    extra = 0


class DeliveredFilter(admin.SimpleListFilter):
    title = "delivery"
    parameter_name = "delivered"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("yes", "Delivered"), ("no", "Pending")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        if self.value() in ("yes", "no"):
            return queryset.filter(delivered_at__isnull=self.value() == "no")
        return queryset


@admin.register(OutboxEvent)
class OutboxEventAdmin(ReadOnlyMixin, admin.ModelAdmin):
    list_display = [
        "id",
        "name",
        "aggregate_type",
        "aggregate_id",
        "created_at",
        "attempts",
        "delivered_at",
    ]
    list_filter = [DeliveredFilter, ("name", IndexedValuesFilter)]  # no DISTINCT (#19)
    search_fields = ["=id", "=aggregate_id", "=request_id"]
    readonly_fields = [field.name for field in OutboxEvent._meta.fields]
    inlines = [OutboxDeliveryInline]
    actions = ["retry_delivery"]
    show_full_result_count = False

    @admin.action(description="Retry delivery now (resets the attempt count)")
    def retry_delivery(self, request: HttpRequest, queryset: QuerySet[OutboxEvent]) -> None:
        queued = sum(outbox_event_retry(event_id=event.id) for event in queryset)
        self.message_user(
            request,
            f"{queued} event(s) queued; the rest are delivered or wait for the sweep.",
            messages.INFO,
        )


@admin.register(Job)
class JobAdmin(ReadOnlyMixin, admin.ModelAdmin):
    list_display = [
        "id",
        "kind",
        "status",
        "progress",
        "requested_by",
        "subject_type",
        "subject_id",
        "created_at",
        "finished_at",
    ]
    list_filter = ["status", "kind"]
    search_fields = ["=id", "=subject_id", "=celery_task_id", "requested_by__email"]
    readonly_fields = [field.name for field in Job._meta.fields]
    list_select_related = ["requested_by"]
    show_full_result_count = False
