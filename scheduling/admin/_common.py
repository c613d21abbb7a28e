"""What every scheduling admin shares: saving through a service, and row actions."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib import admin, messages
from django.core.exceptions import ValidationError
from django.db.models import Model, Q, QuerySet
from django.http import HttpRequest

from accounts.models import User
from core.errors import DomainError

# A receptionist finds a visit or a series by id, or by its patient's or clinician's name.
PEOPLE_SEARCH_FIELDS = (
    "=id",
    "patient__email",
    "patient__first_name",
    "patient__last_name",
    "clinician__email",
    "clinician__last_name",
)


# A search term matching more people than this looks among the first this many only.
PEOPLE_CAP = 1_000


class PeopleSearchAdmin(admin.ModelAdmin):
    """Search by id, or by a patient's or clinician's email or name, through indexes.

    Django's search joins the people to every row and ORs ``icontains`` across the joins,
    which reads the whole table. Here each word finds the people first (the users'
    trigram indexes), then the rows of those people (their ``<person>_id`` indexes).
    Every word must match, as in Django's search.
    """

    people_fields: tuple[str, ...] = ("patient", "clinician")

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[Any], search_term: str
    ) -> tuple[QuerySet[Any], bool]:
        for word in search_term.split():
            queryset = queryset.filter(self._match(word))
        return queryset, False

    def _match(self, word: str) -> Q:
        people = list(
            User.objects.filter(
                Q(email__icontains=word) | Q(first_name__icontains=word)
                | Q(last_name__icontains=word)
            ).values_list("pk", flat=True)[:PEOPLE_CAP]
        )  # fmt: skip
        match = Q(pk__in=[int(word)]) if word.isdigit() and len(word) < 19 else Q(pk__in=[])
        for field in self.people_fields:
            match |= Q(**{f"{field}_id__in": people})
        return match


def actor_of(request: HttpRequest) -> User:
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


def apply_to_each(
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
