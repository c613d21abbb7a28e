"""Read-only admin for the audit trail: the database refuses changes anyway."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import Q, QuerySet
from django.http import HttpRequest

from audit.models import AuditEvent, AuditSeal
from core.admin_tools import IndexedValuesFilter


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
    # Each filter's values by a loose index scan, not a DISTINCT over the trail (#19).
    list_filter = [
        ("action", IndexedValuesFilter),
        ("actor_role", IndexedValuesFilter),
        ("object_type", IndexedValuesFilter),
        ("occurred_at", admin.DateFieldListFilter),
    ]
    # Exact matches only, each served by its own index (get_search_results below).
    search_fields = ["=actor_id", "=object_id", "=request_id", "=action"]
    date_hierarchy = "occurred_at"
    readonly_fields = [field.name for field in AuditEvent._meta.fields]
    list_per_page = 100
    show_full_result_count = False  # the trail grows large; skip the full COUNT(*)

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[AuditEvent], search_term: str
    ) -> tuple[QuerySet[AuditEvent], bool]:
        """The rows whose object id, request id or action is the term, or whose actor id
        is it (a number): one index each, where Django's ``=`` lookups would compare
        ``UPPER(column::text)`` and read the whole trail."""
        term = search_term.strip()
        if not term:
            return queryset, False
        match = Q(object_id=term) | Q(request_id=term) | Q(action=term)
        if term.isdigit() and int(term) < 2**63:
            match |= Q(actor_id=int(term))
        return queryset.filter(match), False


@admin.register(AuditSeal)
class AuditSealAdmin(ReadOnlyAdmin):
    list_display = ["id", "event", "hash", "sealed_at"]
    readonly_fields = ["event", "prev_hash", "hash", "sealed_at"]
    list_per_page = 100
    show_full_result_count = False
