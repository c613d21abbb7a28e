"""Back office: read-only notification and delivery logs; endpoints written through services."""

from __future__ import annotations

from typing import Any, cast

from django import forms
from django.contrib import admin, messages
from django.db import models
from django.db.models import QuerySet
from django.http import HttpRequest

from accounts.models import User
from core.errors import DomainError
from core.resilience import BreakerState
from notifications.egress import webhook_url_check
from notifications.models import (
    Notification,
    NotificationPreference,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
)
from notifications.services import notification_resend
from notifications.webhook_delivery import endpoint_breaker, webhook_delivery_redeliver
from notifications.webhook_endpoints import (
    webhook_endpoint_reset_circuit,
    webhook_endpoint_rotate_secret,
    webhook_endpoint_save,
)


class ReadOnlyAdmin(admin.ModelAdmin):
    """Logs are written by the system only."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Notification)
class NotificationAdmin(ReadOnlyAdmin):
    """Every email Carebook sends (appointments, reminders, critical lab alerts, reports)."""

    list_display = (
        "created_at", "kind", "recipient", "channel", "status", "not_before", "attempts",
        "sent_at", "last_error",
    )  # fmt: skip
    list_filter = ("status", "kind", "channel")
    search_fields = ("recipient__email", "event_id")
    list_select_related = ("recipient",)
    date_hierarchy = "created_at"
    actions = ("resend",)

    @admin.action(description="Send again (a fresh set of attempts)")
    def resend(self, request: HttpRequest, queryset: QuerySet[Notification]) -> None:
        unsent = queryset.exclude(status=Notification.Status.SENT)
        for notification in unsent:
            notification_resend(notification=notification, actor=cast(User, request.user))
        self.message_user(request, f"Queued {len(unsent)} notification(s).", messages.SUCCESS)


@admin.register(NotificationPreference)
class NotificationPreferenceAdmin(ReadOnlyAdmin):
    """What each person chose (changed by them, through ``me/notification-preferences/``)."""

    list_display = ("user", "email", "quiet_start", "quiet_end", "updated_at")
    list_filter = ("email",)
    search_fields = ("user__email",)
    list_select_related = ("user",)


class WebhookEndpointForm(forms.ModelForm):
    """Refuses a loopback, private or metadata URL on the form (the service checks too).

    No Meta: the admin builds the model form's fields from its fieldsets.
    """

    def clean_url(self) -> str:
        url: str = self.cleaned_data["url"]
        try:
            webhook_url_check(url)
        except DomainError as exc:
            raise forms.ValidationError(exc.message, code=exc.code) from exc
        return url


@admin.register(WebhookEndpoint)
class WebhookEndpointAdmin(admin.ModelAdmin):
    list_display = ("name", "url", "is_active", "rate_per_second", "circuit", "updated_at")
    list_filter = ("is_active",)
    search_fields = ("name", "url")
    readonly_fields = ("previous_secret", "created_by", "created_at", "updated_at", "circuit")
    actions = ("rotate_secret", "reset_circuit")
    form = WebhookEndpointForm
    # A URL typed without a scheme is an https one (Django 6's default; 5.2 still says http).
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}
    fieldsets = (
        (None, {"fields": ("name", "url", "events", "is_active")}),
        (
            "Signing",
            {
                "fields": ("secret", "previous_secret"),
                "description": "Leave the secret empty to generate one. Rotate with the "
                "list action: the previous secret keeps signing until you clear it.",
            },
        ),
        (
            "Delivery policy",
            {
                "fields": (
                    "rate_per_second",
                    "timeout_seconds",
                    "max_attempts",
                    "breaker_threshold",
                    "breaker_cooldown_seconds",
                    "circuit",
                )
            },
        ),
        (None, {"fields": ("created_by", "created_at", "updated_at")}),
    )

    def get_form(
        self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any
    ) -> Any:
        form = super().get_form(request, obj, change=change, **kwargs)
        form.base_fields["secret"].required = False
        return form

    @admin.display(description="Circuit")
    def circuit(self, endpoint: WebhookEndpoint) -> str:
        if endpoint.pk is None:
            return "-"
        try:
            state = endpoint_breaker(endpoint).state
        except Exception:  # Redis unreachable: the page must still open
            return "unknown"
        return {
            BreakerState.CLOSED: "closed",
            BreakerState.OPEN: "OPEN",
            BreakerState.HALF_OPEN: "half-open",
        }[state]

    def save_model(
        self, request: HttpRequest, obj: WebhookEndpoint, form: Any, change: bool
    ) -> None:
        webhook_endpoint_save(endpoint=obj, actor=request.user)

    @admin.action(description="Rotate the signing secret")
    def rotate_secret(self, request: HttpRequest, queryset: QuerySet[WebhookEndpoint]) -> None:
        for endpoint in queryset:
            webhook_endpoint_rotate_secret(endpoint=endpoint, actor=request.user)
        self.message_user(request, f"Rotated {queryset.count()} secret(s).", messages.SUCCESS)

    @admin.action(description="Close the circuit now and send waiting deliveries")
    def reset_circuit(self, request: HttpRequest, queryset: QuerySet[WebhookEndpoint]) -> None:
        for endpoint in queryset:
            webhook_endpoint_reset_circuit(endpoint=endpoint, actor=request.user)
        self.message_user(request, f"Closed {queryset.count()} circuit(s).", messages.SUCCESS)


class WebhookAttemptInline(admin.TabularInline):
    model = WebhookAttempt
    extra = 0
    can_delete = False
    fields = ("number", "started_at", "duration_ms", "status_code", "succeeded", "error")
    readonly_fields = fields

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(WebhookDelivery)
class WebhookDeliveryAdmin(ReadOnlyAdmin):
    list_display = (
        "created_at",
        "event_type",
        "endpoint",
        "status",
        "attempts",
        "last_status_code",
        "next_attempt_at",
        "redelivery_of",
    )
    list_filter = ("status", "event_type", "endpoint")
    search_fields = ("event_id",)
    list_select_related = ("endpoint",)
    inlines = (WebhookAttemptInline,)
    actions = ("redeliver",)

    @admin.action(description="Redeliver the selected deliveries")
    def redeliver(self, request: HttpRequest, queryset: QuerySet[WebhookDelivery]) -> None:
        done = 0
        for delivery in queryset.select_related("endpoint"):
            try:
                webhook_delivery_redeliver(delivery=delivery, actor=request.user)
            except DomainError as exc:
                self.message_user(request, f"Delivery {delivery.pk}: {exc.message}", messages.ERROR)
                continue
            done += 1
        self.message_user(request, f"Queued {done} redelivery(ies).", messages.SUCCESS)
