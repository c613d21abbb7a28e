"""The waitlist in the back office: entries with their offers' history, and the offers.

Every write goes through the services the API calls, with the staff member as actor:
adding an entry is ``services.entry_join`` (its refusals, a second active entry for the
same clinician among them, are errors on the form), removing one is
``services.entry_remove`` (an action on the list, a button on the entry's page). Nothing
is saved, changed or deleted here by the model: an entry's window and priority are fixed
once joined (remove it and add it again), and offers move only by the patient's answer,
the hold's expiry and the sweep.

The pages show scheduling data, no clinical content (no reason, no notes), so they are
not read-audited (as the series admin); who added and who removed an entry is on the
entry, and every step is in the audit trail written by the services.
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import URLPattern, path, reverse
from django.utils.html import format_html

from accounts.models import User
from core.errors import DomainError
from waitlist import services
from waitlist.forms import WEEKDAYS, EntryAddForm
from waitlist.models import WaitlistEntry, WaitlistOffer

PATIENT_SEARCH_FIELDS = ("=id", "patient__email", "patient__first_name", "patient__last_name")
DAY_NAMES = dict(WEEKDAYS)


def actor_of(request: HttpRequest) -> User:
    user = request.user
    assert isinstance(user, User)  # noqa: S101 - the admin only lets staff users in
    return user


def local_time(moment: Any, clinician: User) -> str:
    """A time on the clinic's wall clock: the clinician's zone, named."""
    if moment is None:
        return "-"
    return f"{moment.astimezone(clinician.tzinfo):%a %d %b %Y %H:%M} ({clinician.time_zone})"


def appointment_link(appointment_id: int | None) -> str:
    if appointment_id is None:
        return "-"
    url = reverse("admin:scheduling_appointment_change", args=[appointment_id])
    return format_html('<a href="{}">Appointment #{}</a>', url, appointment_id)


class OfferInline(admin.TabularInline):
    """The entry's offers, oldest first: its history on one page, read-only."""

    model = WaitlistOffer
    fk_name = "entry"
    fields = ("slot_start", "status", "created_at", "expires_at", "responded_at", "booked")
    readonly_fields = fields
    ordering = ("created_at", "id")
    extra = 0
    can_delete = False
    show_change_link = True
    verbose_name_plural = "offers (oldest first)"

    def get_queryset(self, request: HttpRequest) -> QuerySet[WaitlistOffer]:
        return super().get_queryset(request).select_related("slot", "clinician")

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.display(description="Slot")
    def slot_start(self, obj: WaitlistOffer) -> str:
        return local_time(obj.slot.start, obj.clinician)

    @admin.display(description="Appointment")
    def booked(self, obj: WaitlistOffer) -> str:
        return appointment_link(obj.appointment_id)


@admin.register(WaitlistEntry)
class WaitlistEntryAdmin(admin.ModelAdmin):
    list_display = (
        "id",
        "patient",
        "clinician",
        "status",
        "priority",
        "window",
        "days",
        "mode",
        "created_at",
        "created_by",
        "ended_at",
    )
    list_filter = ("status", ("clinician", admin.RelatedOnlyFieldListFilter), "mode")
    search_fields = PATIENT_SEARCH_FIELDS
    list_select_related = ("patient", "clinician", "created_by")
    show_full_result_count = False
    ordering = ("-created_at", "-id")
    autocomplete_fields = ("patient", "clinician")
    form = EntryAddForm
    add_fields = ("patient", "clinician", "not_before", "not_after", "weekdays", "mode", "priority")
    view_fields = (
        "patient",
        "clinician",
        "status",
        "priority",
        "not_before",
        "not_after",
        "days",
        "mode",
        "created_at",
        "created_by",
        "ended_at",
        "ended_by",
        "booked",
    )
    readonly_fields = ("days", "booked")
    inlines = (OfferInline,)
    actions = ("remove_entries",)
    change_form_template = "admin/waitlist/waitlistentry/change_form.html"

    # --- columns -------------------------------------------------------------------

    @admin.display(description="Window")
    def window(self, obj: WaitlistEntry) -> str:
        if obj.not_before is None and obj.not_after is None:
            return "any date"
        first = obj.not_before.isoformat() if obj.not_before else "…"
        last = obj.not_after.isoformat() if obj.not_after else "…"
        return f"{first} to {last}"

    @admin.display(description="Weekdays")
    def days(self, obj: WaitlistEntry) -> str:
        days = obj.weekdays or []
        return ", ".join(DAY_NAMES.get(day, str(day))[:3] for day in days) or "any day"

    @admin.display(description="Appointment")
    def booked(self, obj: WaitlistEntry) -> str:
        return appointment_link(obj.appointment_id)

    # --- pages: add through the service, view only afterwards ------------------------

    def get_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        return self.add_fields if obj is None else self.view_fields

    def get_inlines(self, request: HttpRequest, obj: Any = None) -> Any:
        return self.inlines if obj is not None else ()  # a new entry has no offers yet

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # An entry's page is read-only; the list's remove action asks for ``remove``.
        return obj is None and super().has_change_permission(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False  # history stays: an entry is removed (status), never deleted

    def has_remove_permission(self, request: HttpRequest) -> bool:
        return super().has_change_permission(request)

    def get_form(
        self, request: HttpRequest, obj: Any = None, change: bool = False, **kwargs: Any
    ) -> Any:
        base = super().get_form(request, obj, change, **kwargs)
        if obj is not None:
            return base
        actor = actor_of(request)

        class JoinForm(base):  # type: ignore[valid-type, misc]
            """Valid only once ``entry_join`` has made the entry; its refusal (409 for a
            second active entry, 422 for a window it refuses...) is the form's error."""

            def clean(self) -> dict[str, Any]:
                data: dict[str, Any] = super().clean()
                if self.errors:
                    return data
                try:
                    self.instance = services.entry_join(actor=actor, **self.join_arguments())
                except DomainError as exc:
                    raise ValidationError(f"{exc.message} ({exc.code})", code=exc.code) from exc
                return data

            def _post_clean(self) -> None:
                # The service made the row (the database's constraints back it); the
                # ModelForm's own construction and validation of an instance is not needed.
                pass

        return JoinForm

    def save_form(self, request: HttpRequest, form: Any, change: bool) -> Any:
        return form.instance

    def save_model(self, request: HttpRequest, obj: Any, form: Any, change: bool) -> None:
        """Already saved by ``entry_join`` while the form was validated."""

    def save_related(self, request: HttpRequest, form: Any, formsets: Any, change: bool) -> None:
        """No related rows are edited here."""

    # --- removing ---------------------------------------------------------------------

    def get_urls(self) -> list[URLPattern]:
        name = f"{self.opts.app_label}_{self.opts.model_name}"
        wrap = self.admin_site.admin_view
        return [
            path("<path:object_id>/remove/", wrap(self.remove_view), name=f"{name}_remove"),
            *super().get_urls(),
        ]

    def change_view(
        self,
        request: HttpRequest,
        object_id: str,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        extra = {**(extra_context or {}), "can_remove": self.has_remove_permission(request)}
        return super().change_view(request, object_id, form_url, extra)

    def remove_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """GET: the question; POST: ``entry_remove``, then back to the entry's page."""
        if not self.has_remove_permission(request):
            raise PermissionDenied
        entry = self.get_object(request, object_id)
        if entry is None:
            self.message_user(
                request, f"No waitlist entry with ID “{object_id}”.", messages.WARNING
            )
            return HttpResponseRedirect(reverse("admin:waitlist_waitlistentry_changelist"))
        status = 200
        if request.method == "POST":
            try:
                services.entry_remove(entry_id=entry.pk, actor=actor_of(request))
            except DomainError as exc:
                self.message_user(request, f"{exc.message} ({exc.code})", messages.ERROR)
                status = exc.status
            else:
                self.message_user(request, f"Removed waitlist entry #{entry.pk}.", messages.SUCCESS)
                return HttpResponseRedirect(
                    reverse("admin:waitlist_waitlistentry_change", args=[entry.pk])
                )
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": f"Remove waitlist entry #{entry.pk}",
            "entry": entry,
            "original": entry,
        }
        return TemplateResponse(
            request, "admin/waitlist/waitlistentry/remove.html", context, status=status
        )

    @admin.action(
        description="Remove the selected entries from the waitlist", permissions=["remove"]
    )
    def remove_entries(self, request: HttpRequest, queryset: QuerySet[WaitlistEntry]) -> None:
        actor = actor_of(request)
        done, refused = 0, []
        for pk in queryset.order_by("pk").values_list("pk", flat=True):
            try:
                services.entry_remove(entry_id=pk, actor=actor)
                done += 1
            except DomainError as exc:
                refused.append(f"#{pk}: {exc.message} ({exc.code})")
        if done:
            self.message_user(request, f"Removed {done} entries.", messages.SUCCESS)
        if refused:
            self.message_user(request, "Refused: " + "; ".join(refused), messages.ERROR)


@admin.register(WaitlistOffer)
class WaitlistOfferAdmin(admin.ModelAdmin):
    """Offers, read-only: made by the services when a slot frees, moved by the patient's
    answer, the hold's expiry and the sweep."""

    list_display = (
        "id",
        "patient",
        "clinician",
        "slot_start",
        "status",
        "created_at",
        "expires_at",
        "responded_at",
        "booked",
        "entry_link",
    )
    list_filter = ("status", ("clinician", admin.RelatedOnlyFieldListFilter))
    search_fields = PATIENT_SEARCH_FIELDS
    list_select_related = ("patient", "clinician", "slot")
    show_full_result_count = False
    ordering = ("-created_at", "-id")
    fields = (
        "entry_link",
        "patient",
        "clinician",
        "slot",
        "slot_start",
        "status",
        "created_at",
        "expires_at",
        "responded_at",
        "booked",
    )
    readonly_fields = fields

    @admin.display(description="Slot", ordering="slot__start")
    def slot_start(self, obj: WaitlistOffer) -> str:
        return local_time(obj.slot.start, obj.clinician)

    @admin.display(description="Appointment")
    def booked(self, obj: WaitlistOffer) -> str:
        return appointment_link(obj.appointment_id)

    @admin.display(description="Entry", ordering="entry")
    def entry_link(self, obj: WaitlistOffer) -> str:
        url = reverse("admin:waitlist_waitlistentry_change", args=[obj.entry_id])
        return format_html('<a href="{}">Entry #{}</a>', url, obj.entry_id)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
