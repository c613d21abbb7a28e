"""The project's admin site and the admin building blocks apps use; core knows no domain.

* ``CarebookAdminSite`` (Django's default site here, through ``CarebookAdminConfig``):
  every ModelAdmin registered on it, the project's and third-party apps' alike (axes,
  celery beat and results), gets ``SafeChangeListAdmin``'s guarded change list, so a
  date-hierarchy date out of range (``?start__year=9999``) is answered like any other bad
  filter, with Django's "?e=1" redirect, instead of a 500.
* ``ReadAuditedAdmin``: the change list and change form of a model holding clinical
  content write a read row (``core.read_audit.audit_read``) for every record they show.
* ``ReadOnlyAuditedAdmin``: the same, with no add, change or delete (clinical records are
  written by clinicians through their services, never by staff in the admin).
"""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.contrib.admin.options import IncorrectLookupParameters
from django.contrib.admin.views.main import ChangeList
from django.db import models
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse

from core.read_audit import Read, ReadSurface, audit_read


class GuardedChangeList(ChangeList):
    def get_filters(self, request: HttpRequest) -> Any:
        # Django 5.2 builds the date hierarchy's range outside its own try block: year
        # 9999 (+1 year), 9999-12 (+32 days), 9999-12-31 (+1 day) or a 20-digit year
        # raise ValueError/OverflowError. Fixed upstream after 5.2 (Django ticket #37357).
        try:
            return super().get_filters(request)
        except (OverflowError, ValueError) as exc:
            raise IncorrectLookupParameters(exc) from exc


class SafeChangeListAdmin(admin.ModelAdmin):
    def get_changelist(self, request: HttpRequest, **kwargs: Any) -> type[ChangeList]:
        return GuardedChangeList


class CarebookAdminSite(admin.AdminSite):
    def register(self, model_or_iterable: Any, admin_class: Any = None, **options: Any) -> None:
        admin_class = admin_class or admin.ModelAdmin
        if not issubclass(admin_class, SafeChangeListAdmin):
            # Placed just above ModelAdmin in the MRO: an admin's own overrides still win.
            admin_class = type(
                admin_class.__name__,
                (admin_class, SafeChangeListAdmin),
                {"__module__": admin_class.__module__},
            )
        super().register(model_or_iterable, admin_class, **options)


class ReadAuditedAdmin(admin.ModelAdmin):
    """Every record a change list shows, the record a change form shows and every row a
    CSV export writes is a staff read of someone's clinical record: one
    ``read_audit_action`` row each (one INSERT per page, whatever its size), with surface
    and patient id.

    ``read_audit_patient`` is the lookup path from the record to its patient's id
    (``"appointment__patient_id"``); a change list reaches it through
    ``list_select_related``, so auditing a page costs no query per row.
    """

    read_audit_action = ""
    read_audit_patient = ""

    def read_audit_patient_id(self, obj: Any) -> int | None:
        value = obj
        for name in self.read_audit_patient.split("__"):
            value = getattr(value, name)
        return int(value) if value is not None else None

    def audit_export(self, request: HttpRequest, queryset: QuerySet[Any]) -> None:
        """An export of ``queryset`` reads every row of it (ids only are loaded here)."""
        label = queryset.model._meta.label_lower
        rows = queryset.order_by().values_list("pk", self.read_audit_patient)
        audit_read(
            actor=request.user,
            surface=ReadSurface.ADMIN_EXPORT,
            reads=(
                Read(self.read_audit_action, (label, pk), patient_id)
                for pk, patient_id in rows.iterator(chunk_size=2000)
            ),
        )

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        response = super().changelist_view(request, extra_context)
        context = getattr(response, "context_data", None) or {}
        changelist = context.get("cl")
        if isinstance(changelist, ChangeList):
            # The template iterates this same queryset, so listing it here costs no query.
            shown = list(changelist.result_list)
            self._audit_reads(request, shown, ReadSurface.ADMIN_CHANGE_LIST)
        return response

    def render_change_form(
        self,
        request: HttpRequest,
        context: dict[str, Any],
        add: bool = False,
        change: bool = False,
        form_url: str = "",
        obj: Any = None,
    ) -> HttpResponse:
        if obj is not None:
            self._audit_reads(request, [obj], ReadSurface.ADMIN_CHANGE_FORM)
        return super().render_change_form(request, context, add, change, form_url, obj)

    def _audit_reads(
        self, request: HttpRequest, shown: list[models.Model], surface: ReadSurface
    ) -> None:
        audit_read(
            actor=request.user,
            surface=surface,
            reads=[
                Read(self.read_audit_action, obj, self.read_audit_patient_id(obj)) for obj in shown
            ],
        )


class ReadOnlyAuditedAdmin(ReadAuditedAdmin):
    """No writes; each record a list or form shows writes a ``<model>.read`` row."""

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
