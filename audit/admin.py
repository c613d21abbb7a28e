"""Read-only admin for the audit trail: the database refuses changes anyway."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest

from audit.models import AuditEvent, AuditSeal


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdmin):
    list_display = [
        "id",
        "occurred_at",
        "action",
        "actor_id",
        "actor_role",
        "object_type",
        "object_id",
        "request_id",
    ]
    list_filter = [
        "action",
        "actor_role",
        "object_type",
        ("occurred_at", admin.DateFieldListFilter),
    ]
    search_fields = ["=actor_id", "=object_id", "=request_id", "action"]
    date_hierarchy = "occurred_at"
    readonly_fields = [field.name for field in AuditEvent._meta.fields]
    list_per_page = 100
    show_full_result_count = False  # the trail grows large; skip the full COUNT(*)


@admin.register(AuditSeal)
class AuditSealAdmin(ReadOnlyAdmin):
    list_display = ["id", "event", "hash", "sealed_at"]
    readonly_fields = ["event", "prev_hash", "hash", "sealed_at"]
    list_per_page = 100
    show_full_result_count = False
