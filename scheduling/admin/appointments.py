"""Appointments in the back office: the list, the change form, lifecycle actions, and the
front desk's pages (``front_desk``: book, cancel, reschedule for a patient)."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.db.models import Model, QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html

from core.admin_tools import ReadAuditedAdmin
from scheduling import services
from scheduling.admin._common import (
    PEOPLE_SEARCH_FIELDS,
    PeopleSearchAdmin,
    ServiceWriteAdmin,
    actor_of,
    apply_to_each,
)
from scheduling.admin.front_desk import CancelForm, FrontDeskAdmin
from scheduling.models import Appointment
from scheduling.services.series import series_cancel


class InSeriesFilter(admin.SimpleListFilter):
    title = "series"
    parameter_name = "in_series"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("yes", "Part of a series"), ("no", "Single appointment")]

    def queryset(
        self, request: HttpRequest, queryset: QuerySet[Appointment]
    ) -> QuerySet[Appointment]:
        if self.value() == "yes":
            return queryset.filter(series__isnull=False)
        if self.value() == "no":
            return queryset.filter(series__isnull=True)
        return queryset


@admin.register(Appointment)
class AppointmentAdmin(PeopleSearchAdmin, FrontDeskAdmin, ReadAuditedAdmin, ServiceWriteAdmin):
    # The reason and notes of a visit are another person's clinical content.
    read_audit_action = "appointment.read"
    read_audit_patient = "patient_id"
    list_display = (
        "id",
        "start",
        "patient",
        "clinician",
        "status",
        "slot_mode",
        "seat_of_capacity",
        "series_link",
        "confirmed_at",
        "cancelled_at",
    )
    list_filter = ("status", InSeriesFilter, "slot__mode", "clinician__role", "slot__hospital")
    search_fields = PEOPLE_SEARCH_FIELDS  # through indexes: PeopleSearchAdmin
    list_select_related = ("patient", "clinician", "slot")
    date_hierarchy = "start"
    ordering = ("-start",)
    actions = (
        "confirm",
        "cancel_with_reason",
        "cancel_series_from_here",
        "mark_completed",
        "mark_no_show",
    )
    fields = (
        "patient",
        "clinician",
        "slot",
        "seat",
        "series",
        "previous_slot",
        "start",
        "end",
        "status",
        "reason",
        "notes",
        "confirmed_at",
        "cancelled_at",
        "cancelled_by",
        "cancellation_reason",
        "created_at",
        "updated_at",
    )
    # Everything but the free text moves only through the lifecycle actions.
    readonly_fields = tuple(f for f in fields if f not in ("reason", "notes"))

    @admin.display(description="Mode", ordering="slot__mode")
    def slot_mode(self, obj: Appointment) -> str:
        return obj.slot.get_mode_display()

    @admin.display(description="Seat")
    def seat_of_capacity(self, obj: Appointment) -> str:
        """ "3 of 8" in a group session; blank for a one-to-one visit."""
        capacity = obj.slot.capacity
        return f"{obj.seat} of {capacity}" if capacity > 1 else ""

    @admin.display(description="Series", ordering="series")
    def series_link(self, obj: Appointment) -> str:
        if obj.series_id is None:
            return ""
        url = reverse("admin:scheduling_appointmentseries_change", args=[obj.series_id])
        return format_html('<a href="{}">Series #{}</a>', url, obj.series_id)

    def has_add_permission(self, request: HttpRequest) -> bool:
        # Not Django's add form: staff book on the front desk's page (``book_view``),
        # through the booking service.
        return False

    def get_urls(self) -> list[URLPattern]:
        name = f"{self.opts.app_label}_{self.opts.model_name}"
        wrap = self.admin_site.admin_view
        return [
            path("book/", wrap(self.book_view), name=f"{name}_book"),
            path("<path:object_id>/cancel/", wrap(self.cancel_view), name=f"{name}_cancel"),
            path(
                "<path:object_id>/reschedule/",
                wrap(self.reschedule_view),
                name=f"{name}_reschedule",
            ),
            *super().get_urls(),
        ]

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        extra = {**(extra_context or {}), "can_book": self.has_book_permission(request)}
        return super().changelist_view(request, extra)

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        extra = {**(extra_context or {}), "can_move": self.has_change_permission(request)}
        return super().change_view(request, object_id, form_url, extra)

    def run_service(
        self, request: HttpRequest, instance: Any, data: dict[str, Any], change: bool
    ) -> Model:
        return services.appointment_update(
            actor=actor_of(request),
            appointment_id=instance.pk,
            reason=data.get("reason"),
            notes=data.get("notes"),
        )

    @admin.action(description="Confirm selected appointments")
    def confirm(self, request: HttpRequest, queryset: QuerySet[Appointment]) -> None:
        actor = actor_of(request)
        apply_to_each(
            self,
            request,
            queryset,
            lambda pk: services.appointment_confirm(actor=actor, appointment_id=pk),
            "Confirmed",
        )

    @admin.action(description="Cancel this and the following occurrences of its series")
    def cancel_series_from_here(
        self, request: HttpRequest, queryset: QuerySet[Appointment]
    ) -> None:
        actor = actor_of(request)
        starts = dict(queryset.filter(series__isnull=False).values_list("pk", "series_id"))
        single = queryset.filter(series__isnull=True).count()
        if single:
            self.message_user(
                request, f"{single} selected appointment(s) belong to no series.", messages.ERROR
            )
        apply_to_each(
            self,
            request,
            queryset.filter(pk__in=list(starts)),
            lambda pk: series_cancel(actor=actor, series_id=starts[pk], from_appointment_id=pk),
            "Cancelled from the selected occurrence on, in series of",
        )

    @admin.action(description="Mark selected appointments completed")
    def mark_completed(self, request: HttpRequest, queryset: QuerySet[Appointment]) -> None:
        actor = actor_of(request)
        apply_to_each(
            self,
            request,
            queryset,
            lambda pk: services.appointment_complete(actor=actor, appointment_id=pk),
            "Completed",
        )

    @admin.action(description="Mark selected appointments as no-show")
    def mark_no_show(self, request: HttpRequest, queryset: QuerySet[Appointment]) -> None:
        actor = actor_of(request)
        apply_to_each(
            self,
            request,
            queryset,
            lambda pk: services.appointment_mark_no_show(actor=actor, appointment_id=pk),
            "Marked no-show",
        )

    @admin.action(description="Cancel selected appointments (asks for a reason)")
    def cancel_with_reason(
        self, request: HttpRequest, queryset: QuerySet[Appointment]
    ) -> HttpResponse | None:
        form = CancelForm(request.POST if "apply" in request.POST else None)
        if form.is_valid():
            actor, reason = actor_of(request), form.cleaned_data["reason"]
            apply_to_each(
                self,
                request,
                queryset,
                lambda pk: services.appointment_cancel(
                    actor=actor, appointment_id=pk, reason=reason
                ),
                "Cancelled",
            )
            return None
        context = {
            **self.admin_site.each_context(request),
            "title": "Cancel appointments",
            "form": form,
            "appointments": queryset.select_related("patient", "clinician"),
            "action_checkbox_name": ACTION_CHECKBOX_NAME,
            "opts": self.model._meta,
        }
        return TemplateResponse(request, "admin/scheduling/cancel_appointments.html", context)
