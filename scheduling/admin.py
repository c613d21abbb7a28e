"""Back office for rules, slots and appointments. Every write goes through the services.

A service is called while the admin validates the form, inside the admin's own
transaction: a ``DomainError`` becomes a form error and nothing is half-saved.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME
from django.core.exceptions import ValidationError
from django.db.models import Model, QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse

from accounts.models import User
from core.admin_tools import ReadAuditedAdmin
from core.errors import DomainError
from scheduling import services
from scheduling.models import Appointment, AvailabilityRule, Slot


def _actor(request: HttpRequest) -> User:
    user = request.user
    assert isinstance(user, User)  # noqa: S101 - the admin only lets staff users in
    return user


class ServiceWriteAdmin(admin.ModelAdmin):
    """Saves through ``run_service`` (a service call) instead of ``Model.save``."""

    def run_service(
        self, request: HttpRequest, instance: Any, data: dict[str, Any], change: bool
    ) -> Model:
        raise NotImplementedError

    def get_form(
        self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any
    ) -> Any:
        base = super().get_form(request, obj, change, **kwargs)
        model_admin = self

        class ServiceForm(base):  # type: ignore[valid-type, misc]
            instance: Any

            def clean(self) -> dict[str, Any]:
                data: dict[str, Any] = super().clean()
                if self.errors:
                    return data
                try:
                    # The saved row replaces the unsaved instance so model validation
                    # that follows does not see it as a second, overlapping row.
                    saved = model_admin.run_service(request, self.instance, data, change)
                    self.instance = saved
                except DomainError as exc:
                    raise ValidationError(f"{exc.message} ({exc.code})", code=exc.code) from exc
                return data

            def _post_clean(self) -> None:
                # The service validated and saved the row (the database constraints back
                # it); Django's model validation of an ExclusionConstraint whose condition
                # names a read-only field would crash with FieldError, so it is skipped.
                pass

        return ServiceForm

    def save_form(self, request: HttpRequest, form: Any, change: bool) -> Any:
        return form.instance

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        """Already saved by the service during validation."""

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        """No related rows are edited here."""

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # history stays: slots are withdrawn, appointments cancelled


def _apply(
    model_admin: admin.ModelAdmin,
    request: HttpRequest,
    queryset: QuerySet[Any],
    action: Callable[[int], object],
    verb: str,
) -> None:
    done, failed = 0, []
    for pk in queryset.order_by("pk").values_list("pk", flat=True):
        try:
            action(pk)
            done += 1
        except DomainError as exc:
            failed.append(f"#{pk}: {exc.message} ({exc.code})")
    if done:
        model_admin.message_user(request, f"{verb} {done}.", messages.SUCCESS)
    if failed:
        model_admin.message_user(request, "Refused: " + "; ".join(failed), messages.ERROR)


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
        _apply(self, request, queryset, lambda pk: services.rule_expand(rule_id=pk), "Expanded")


# --- slots -----------------------------------------------------------------------------


@admin.register(Slot)
class SlotAdmin(ServiceWriteAdmin):
    list_display = ("id", "clinician", "start", "end", "mode", "hospital", "status", "rule")
    list_filter = ("status", "mode", "hospital")
    search_fields = ("clinician__email", "clinician__first_name", "clinician__last_name")
    list_select_related = ("clinician", "hospital", "rule")
    autocomplete_fields = ("clinician", "hospital")
    date_hierarchy = "start"
    ordering = ("-start",)
    actions = ("withdraw",)

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        # Status follows bookings; times are fixed once published (withdraw and republish).
        if obj is not None:
            return [f.name for f in self.model._meta.fields]
        return ("status", "rule", "created_at")

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
        )
        return slot

    @admin.action(description="Withdraw selected slots")
    def withdraw(self, request: HttpRequest, queryset: QuerySet[Slot]) -> None:
        actor = _actor(request)
        _apply(
            self,
            request,
            queryset,
            lambda pk: services.slot_withdraw(actor=actor, slot_id=pk),
            "Withdrew",
        )


# --- appointments ----------------------------------------------------------------------


class CancelForm(forms.Form):
    reason = forms.CharField(widget=forms.Textarea, max_length=2000)


@admin.register(Appointment)
class AppointmentAdmin(ReadAuditedAdmin, ServiceWriteAdmin):
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
        "confirmed_at",
        "cancelled_at",
    )
    list_filter = ("status", "slot__mode", "clinician__role", "slot__hospital")
    search_fields = (
        "=id",
        "patient__email",
        "patient__first_name",
        "patient__last_name",
        "clinician__email",
        "clinician__last_name",
        "reason",
    )
    list_select_related = ("patient", "clinician", "slot")
    date_hierarchy = "start"
    ordering = ("-start",)
    actions = ("confirm", "cancel_with_reason", "mark_completed", "mark_no_show")
    fields = (
        "patient",
        "clinician",
        "slot",
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

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False  # patients book through the API (idempotent, policy-checked)

    def run_service(
        self, request: HttpRequest, instance: Any, data: dict[str, Any], change: bool
    ) -> Model:
        return services.appointment_update(
            actor=_actor(request),
            appointment_id=instance.pk,
            reason=data.get("reason"),
            notes=data.get("notes"),
        )

    @admin.action(description="Confirm selected appointments")
    def confirm(self, request: HttpRequest, queryset: QuerySet[Appointment]) -> None:
        actor = _actor(request)
        _apply(
            self,
            request,
            queryset,
            lambda pk: services.appointment_confirm(actor=actor, appointment_id=pk),
            "Confirmed",
        )

    @admin.action(description="Mark selected appointments completed")
    def mark_completed(self, request: HttpRequest, queryset: QuerySet[Appointment]) -> None:
        actor = _actor(request)
        _apply(
            self,
            request,
            queryset,
            lambda pk: services.appointment_complete(actor=actor, appointment_id=pk),
            "Completed",
        )

    @admin.action(description="Mark selected appointments as no-show")
    def mark_no_show(self, request: HttpRequest, queryset: QuerySet[Appointment]) -> None:
        actor = _actor(request)
        _apply(
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
            actor, reason = _actor(request), form.cleaned_data["reason"]
            _apply(
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
