"""The project's admin site and the admin building blocks apps use; core knows no domain.

* ``CarebookAdminSite`` (Django's default site here, through ``CarebookAdminConfig``):
  every ModelAdmin registered on it, the project's and third-party apps' alike (axes,
  celery beat and results), gets ``SafeChangeListAdmin``'s guarded change list, so a
  date-hierarchy date out of range (``?start__year=9999``) is answered like any other bad
  filter, with Django's "?e=1" redirect, instead of a 500.
* Change lists that stay fast on millions of rows (issue #19): no full ``COUNT(*)`` beside
  the filtered one (``show_full_result_count = False``), and ``EstimatedCountPaginator``
  counts a page's list without reading the whole table (``core.pagination.flat_count``).
  The date hierarchy (``templates/admin/change_list.html``,
  ``core.templatetags.carebook_admin``) offers the periods between the list's first and
  last date instead of a DISTINCT over all rows.
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
from django.core.paginator import Paginator
from django.db import connections, models
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.utils.functional import cached_property

from core.admin_index import GroupedIndexSite
from core.pagination import flat_count
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


class EstimatedCountPaginator(Paginator):
    """A change list's count whose cost does not grow with the table
    (``core.pagination.flat_count``: exact up to ``COUNT_CAP`` rows, then PostgreSQL's
    estimate). Page numbers past the real end answer like any other empty page."""

    @cached_property
    def count(self) -> int:
        queryset = self.object_list
        return flat_count(queryset) if isinstance(queryset, QuerySet) else int(super().count)


class IndexedValuesFilter(admin.AllValuesFieldListFilter):
    """Django's "all values" filter, its choices read by a loose index scan on PostgreSQL.

    Django lists a column's values with ``SELECT DISTINCT``, which reads every row (or
    every index entry): millions on the audit trail. A recursive query hops from one
    value to the next through the column's index instead, so the cost follows the number
    of distinct values, not the table's size. Needs an index that leads with the column.
    """

    def __init__(
        self,
        field: Any,
        request: HttpRequest,
        params: Any,
        model: Any,
        model_admin: Any,
        field_path: str,
    ) -> None:
        super().__init__(field, request, params, model, model_admin, field_path)
        database = model_admin.get_queryset(request).db
        if "__" not in field_path and connections[database].vendor == "postgresql":
            values = distinct_values(database, model._meta.db_table, field.column)
            self.lookup_choices = values  # type: ignore[assignment]  # iterated only


def distinct_values(database: str, table: str, column: str) -> list[Any]:
    connection = connections[database]
    quote = connection.ops.quote_name
    t, c = quote(table), quote(column)
    # Names from the model's own metadata, quoted; no value of the request's.
    sql = (
        f"WITH RECURSIVE hop(v) AS ((SELECT {c} FROM {t} WHERE {c} IS NOT NULL ORDER BY {c} "  # noqa: S608
        f"LIMIT 1) UNION ALL SELECT (SELECT {c} FROM {t} WHERE {c} > hop.v ORDER BY {c} "
        "LIMIT 1) FROM hop WHERE hop.v IS NOT NULL) SELECT v FROM hop WHERE v IS NOT NULL"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql)
        return [row[0] for row in cursor.fetchall()]


class SafeChangeListAdmin(admin.ModelAdmin):
    # Every admin's default, unless it says otherwise (issue #19: flat change lists).
    paginator = EstimatedCountPaginator
    show_full_result_count = False

    def get_changelist(self, request: HttpRequest, **kwargs: Any) -> type[ChangeList]:
        return GuardedChangeList


class CarebookAdminSite(GroupedIndexSite):
    """Carebook's header, the index grouped by ``index_layout`` (``core.admin_index``)."""

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
