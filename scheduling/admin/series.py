"""Recurring series in the back office: each course read-only with its occurrences, and
cancelling a course (all of it, or from one occurrence on) through the series service."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import Count, Q, QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html

from scheduling.admin._common import PEOPLE_SEARCH_FIELDS, actor_of, apply_to_each
from scheduling.models import Appointment, AppointmentSeries
from scheduling.services.series import series_cancel


class OccurrenceInline(admin.TabularInline):
    """The series' appointments, each a link to its own page (where it moves on its own)."""

    model = Appointment
    fk_name = "series"
    fields = ("occurrence", "start", "status", "seat", "slot")
    readonly_fields = fields
    ordering = ("start", "id")
    extra = 0
    can_delete = False
    show_change_link = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.display(description="Appointment")
    def occurrence(self, obj: Appointment) -> str:
        url = reverse("admin:scheduling_appointment_change", args=[obj.pk])
        return format_html('<a href="{}">#{}</a>', url, obj.pk)


@admin.register(AppointmentSeries)
class AppointmentSeriesAdmin(admin.ModelAdmin):
    list_display = (
        "id",
        "patient",
        "clinician",
        "first_start",
        "interval_weeks",
        "count",
        "active_occurrences",
        "status",
        "created_by",
        "created_at",
    )
    list_filter = ("status", "interval_weeks", "clinician__role")
    search_fields = PEOPLE_SEARCH_FIELDS
    list_select_related = ("patient", "clinician", "created_by")
    date_hierarchy = "first_start"
    ordering = ("-first_start", "-id")
    # The reason is the patient's words: it stays on the appointments (read-audited there).
    fields = (
        "patient",
        "clinician",
        "first_start",
        "time_zone",
        "interval_weeks",
        "count",
        "on_conflict",
        "skipped",
        "status",
        "created_by",
        "created_at",
        "cancelled_at",
        "cancelled_by",
        "appointments_link",
    )
    readonly_fields = fields
    inlines = (OccurrenceInline,)
    actions = ("cancel_series",)

    def get_queryset(self, request: HttpRequest) -> QuerySet[AppointmentSeries]:
        active = Q(appointments__status__in=Appointment.ACTIVE_STATUSES)
        return super().get_queryset(request).annotate(active=Count("appointments", filter=active))

    @admin.display(description="Active", ordering="active")
    def active_occurrences(self, obj: Any) -> str:
        return f"{obj.active} of {obj.count}"

    @admin.display(description="Appointments")
    def appointments_link(self, obj: AppointmentSeries) -> str:
        url = reverse("admin:scheduling_appointment_changelist")
        return format_html(
            '<a href="{}?series__id__exact={}">In the appointment list</a>', url, obj.pk
        )

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # booked through the API (idempotent, every occurrence checked)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # a course stays as history: it is cancelled

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # Read-only pages; the cancel action asks the change permission itself.
        return obj is None and super().has_change_permission(request, obj)

    @admin.action(
        description="Cancel the selected series (every remaining occurrence)",
        permissions=["cancel"],
    )
    def cancel_series(self, request: HttpRequest, queryset: QuerySet[AppointmentSeries]) -> None:
        actor = actor_of(request)
        apply_to_each(
            self,
            request,
            queryset,
            lambda pk: series_cancel(actor=actor, series_id=pk),
            "Cancelled the remaining occurrences of",
        )

    def has_cancel_permission(self, request: HttpRequest) -> bool:
        return super().has_change_permission(request)
