"""Back office for accounts and hospitals. New users are created by ``user_create``."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.auth import update_session_auth_hash
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin
from django.contrib.auth.forms import BaseUserCreationForm, UserChangeForm
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse

from accounts.models import CLINICIAN_ROLES, ClinicianProfile, Hospital, PatientProfile, Role, User
from accounts.services import (
    HOSPITAL_EDITABLE_FIELDS,
    STAFF_EDITABLE_FIELDS,
    hospital_create,
    hospital_delete,
    hospital_update,
    normalize_email,
    password_reset_link_send,
    user_create,
    user_update,
)
from core.errors import DomainError


class UserAddForm(BaseUserCreationForm):
    """Email, role and password; the password runs Django's validators here and again in
    ``user_create`` (which is what actually creates the account)."""

    class Meta:
        model = User
        fields = ("email", "role", "first_name", "last_name", "time_zone")

    def clean_email(self) -> str:
        email = normalize_email(self.cleaned_data["email"])
        if User.objects.filter(email__iexact=email).exists():
            raise forms.ValidationError(
                "An account with this email address already exists.", code="email_taken"
            )
        return email


class UserEditForm(UserChangeForm):
    class Meta:
        model = User
        fields = "__all__"

    def clean_email(self) -> str:
        return normalize_email(self.cleaned_data["email"])


class PatientProfileInline(admin.StackedInline):
    model = PatientProfile
    can_delete = False
    extra = 0
    max_num = 1


class ClinicianProfileInline(admin.StackedInline):
    model = ClinicianProfile
    can_delete = False
    extra = 0
    max_num = 1
    autocomplete_fields = ["hospital"]


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    add_form = UserAddForm
    form = UserEditForm
    ordering = ("email",)
    list_display = ("email", "full_name", "role", "time_zone", "is_active", "date_joined")
    list_filter = ("role", "is_active", "is_staff", "is_superuser")
    search_fields = ("email", "first_name", "last_name")
    readonly_fields = ("last_login", "date_joined")
    date_hierarchy = "date_joined"
    fieldsets = (
        (None, {"fields": ("email", "password")}),
        ("Personal info", {"fields": ("first_name", "last_name", "time_zone")}),
        ("Role and access", {"fields": ("role", "is_active", "is_staff", "is_superuser")}),
        ("Permissions", {"classes": ("collapse",), "fields": ("groups", "user_permissions")}),
        ("Important dates", {"fields": ("last_login", "date_joined")}),
    )
    add_fieldsets = (
        (
            None,
            {
                "classes": ("wide",),
                "fields": (
                    "email",
                    "role",
                    "first_name",
                    "last_name",
                    "time_zone",
                    "password1",
                    "password2",
                ),
            },
        ),
    )

    actions = ["send_password_reset_link", "deactivate"]

    @admin.display(description="Name", ordering="last_name")
    def full_name(self, obj: User) -> str:
        return obj.full_name

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> Any:
        fields = tuple(super().get_readonly_fields(request, obj))
        if not getattr(request.user, "is_superuser", False):
            # No self-promotion; groups carry admin permissions (the staff group follows
            # the role: accounts.staff_group).
            fields += ("is_superuser", "user_permissions", "groups")
        return fields

    # --- account boundaries: only a superuser changes a superuser ------------------------
    # Change form, password view, delete and every action ask these with the object.

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        if obj is not None and obj.is_superuser and not _is_superuser(request):
            return False
        return super().has_change_permission(request, obj)

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        if obj is not None and obj.is_superuser and not _is_superuser(request):
            return False
        return super().has_delete_permission(request, obj)

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[User]) -> None:
        # The bulk "delete selected" action checks the model permission only.
        if not _is_superuser(request) and queryset.filter(is_superuser=True).exists():
            raise PermissionDenied
        super().delete_queryset(request, queryset)

    def user_change_password(
        self, request: HttpRequest, id: str, form_url: str = ""
    ) -> HttpResponse:
        """Setting another person's password is a superuser's break-glass tool (audited by
        ``User.save``); staff send a reset link (the action) or deactivate instead."""
        if not _is_superuser(request):
            raise PermissionDenied
        return super().user_change_password(request, id, form_url)

    @admin.action(description="Send a password reset link", permissions=["change"])
    def send_password_reset_link(self, request: HttpRequest, queryset: QuerySet[User]) -> None:
        self._each(
            request,
            queryset,
            "password reset link sent",
            lambda user: password_reset_link_send(
                actor=request.user,  # type: ignore[arg-type]
                user=user,
                base_url=request.build_absolute_uri("/"),
            ),
        )

    @admin.action(description="Deactivate (signs them out everywhere)", permissions=["change"])
    def deactivate(self, request: HttpRequest, queryset: QuerySet[User]) -> None:
        self._each(
            request,
            queryset,
            "deactivated",
            lambda user: user_update(
                actor=request.user,  # type: ignore[arg-type]
                user=user,
                data={"is_active": False},
            ),
        )

    def _each(self, request: HttpRequest, queryset: QuerySet[User], done: str, apply: Any) -> None:
        """Run ``apply`` per user through its service; refusals are reported, not raised."""
        succeeded = 0
        for user in queryset.order_by("pk"):
            try:
                apply(user)
            except DomainError as exc:
                self.message_user(request, f"{user.email}: {exc.message}", messages.ERROR)
            else:
                succeeded += 1
        if succeeded:
            self.message_user(request, f"{succeeded} account(s): {done}.", messages.SUCCESS)

    def get_inlines(self, request: HttpRequest, obj: User | None) -> list[type[Any]]:
        # On the add page the service creates the profile; afterwards it is edited inline.
        if obj is None:
            return []
        if obj.role in CLINICIAN_ROLES:
            return [ClinicianProfileInline]
        if obj.role == Role.PATIENT:
            return [PatientProfileInline]
        return []

    def save_model(self, request: HttpRequest, obj: User, form: forms.Form, change: bool) -> None:
        if change:
            # The form has already set the new values on ``obj``; the service validates
            # them again and keeps role, admin access and profiles consistent.
            changed = {
                name: form.cleaned_data[name]
                for name in form.changed_data
                if name in STAFF_EDITABLE_FIELDS
            }
            user_update(actor=request.user, user=obj, data=changed)  # type: ignore[arg-type]
            if obj.pk == request.user.pk:
                # Changing one's own email or role revokes every other session, not this one.
                update_session_auth_hash(request, obj)
            return
        data = form.cleaned_data
        created = user_create(
            actor=request.user,  # type: ignore[arg-type]
            email=data["email"],
            password=data["password1"],
            role=data["role"],
            first_name=data.get("first_name", ""),
            last_name=data.get("last_name", ""),
            time_zone=data.get("time_zone") or "UTC",
        )
        # The admin goes on with ``obj`` (log entry, redirect): make it the saved row.
        obj.pk = created.pk
        obj.password = created.password
        obj.is_staff = created.is_staff
        obj._state.adding = False
        obj._state.db = created._state.db


def _is_superuser(request: HttpRequest) -> bool:
    return bool(getattr(request.user, "is_superuser", False))


@admin.register(Hospital)
class HospitalAdmin(admin.ModelAdmin):
    list_display = ("name", "code", "city", "region", "country", "phone", "updated_at")
    list_filter = ("country", "region")
    search_fields = ("code", "name", "city")
    ordering = ("name",)
    readonly_fields = ("created_at", "updated_at")

    def save_model(
        self, request: HttpRequest, obj: Hospital, form: forms.Form, change: bool
    ) -> None:
        if not change:
            created = hospital_create(
                actor=request.user,  # type: ignore[arg-type]
                data={name: form.cleaned_data[name] for name in HOSPITAL_EDITABLE_FIELDS},
            )
            # The admin goes on with ``obj`` (log entry, redirect): make it the saved row.
            obj.pk = created.pk
            obj.created_at, obj.updated_at = created.created_at, created.updated_at
            obj._state.adding = False
            obj._state.db = created._state.db
            return
        # The form has set the new values on ``obj``; the service compares them with the
        # stored row, validates, saves and audits.
        changed = {
            name: form.cleaned_data[name]
            for name in form.changed_data
            if name in HOSPITAL_EDITABLE_FIELDS
        }
        saved = hospital_update(actor=request.user, hospital=obj, data=changed)  # type: ignore[arg-type]
        obj.updated_at = saved.updated_at

    def delete_model(self, request: HttpRequest, obj: Hospital) -> None:
        hospital_delete(actor=request.user, hospital_id=obj.pk)  # type: ignore[arg-type]

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Hospital]) -> None:
        # The bulk action too: one audited delete per hospital, never a bare DELETE.
        for hospital_id in queryset.order_by("pk").values_list("pk", flat=True):
            hospital_delete(actor=request.user, hospital_id=hospital_id)  # type: ignore[arg-type]
