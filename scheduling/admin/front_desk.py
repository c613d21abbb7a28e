"""The front desk: staff book, cancel and reschedule on a patient's behalf in the admin.

Three small views on the appointments' admin, each calling the service the API calls:
``appointment_book(..., actor=staff)``, ``appointment_cancel`` and
``appointment_reschedule`` with the staff member as actor. So the same row locks, the
same booking policy, the same audit row (the staff member as actor, the patient as
subject), the same outbox event and the same confirmation for the patient. A refusal
(``DomainError``: the slot was taken meanwhile, it is full, the patient is busy then)
is an admin message on the same page with the refusal's status, never a 500.

The pages are plain HTML forms (no script: the admin's Content-Security-Policy allows
none inline), with times in the clinician's own time zone, the clinic's wall clock.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.auth import get_permission_codename
from django.core.exceptions import PermissionDenied
from django.db.models import F, Q
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.http import urlencode

from accounts.models import CLINICIAN_ROLES, Role, User
from accounts.selectors import users_visible_to
from core.errors import DomainError
from core.fields import MAX_ID
from scheduling import services
from scheduling.models import Appointment, Slot
from scheduling.selectors import slots_list

# How many days the slot finder shows, and how many patients a search lists.
SPANS = {"day": 1, "week": 7}
PATIENT_MATCHES = 20
SEARCH_TERMS = 4
# What the finder's "earlier" and "later" links keep besides the days.
FINDER_KEEPS = ("clinician", "q", "patient")
# The days a page may show: a step past them (a week's seventh day) stays a real date.
FIRST_DAY, LAST_DAY = date(1900, 1, 1), date(9998, 12, 31)


def clinicians() -> Any:
    return User.objects.filter(role__in=CLINICIAN_ROLES, is_active=True).order_by(
        "last_name", "first_name", "id"
    )


class SlotFinderForm(forms.Form):
    """The page's question (GET): whose slots, from which day, a day or a week, which
    patient. Every field is optional; a bad value is ignored, never an error page."""

    clinician = forms.ModelChoiceField(
        queryset=User.objects.none(), required=False, empty_label="Choose a clinician"
    )
    day = forms.DateField(
        required=False, label="From", widget=forms.DateInput(attrs={"type": "date"})
    )
    span = forms.ChoiceField(
        choices=(("day", "One day"), ("week", "One week")), required=False, label="Show"
    )
    q = forms.CharField(
        required=False,
        max_length=100,
        label="Find a patient",
        help_text="Part of a name or an email address.",
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["clinician"].queryset = clinicians()  # type: ignore[attr-defined]

    def value(self, name: str) -> Any:
        """The cleaned value of ``name``, or None where it was missing or invalid."""
        if not self.is_bound:
            return None
        self.is_valid()
        return getattr(self, "cleaned_data", {}).get(name)


class BookingForm(forms.Form):
    """The page's answer (POST): which patient, which slot, why."""

    patient = forms.IntegerField(min_value=1, max_value=MAX_ID)
    slot = forms.IntegerField(min_value=1, max_value=MAX_ID)
    reason = forms.CharField(
        required=False,
        max_length=2000,
        label="Reason (optional)",
        widget=forms.Textarea(attrs={"rows": 3, "cols": 60}),
    )

    def __init__(self, *args: Any, staff: User, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.staff = staff

    def clean_patient(self) -> User:
        patient = patients_of(self.staff).filter(pk=self.cleaned_data["patient"]).first()
        if patient is None:
            raise forms.ValidationError("No such patient.", code="patient_not_found")
        return patient


class RescheduleForm(forms.Form):
    slot = forms.IntegerField(min_value=1, max_value=MAX_ID)


class CancelForm(forms.Form):
    reason = forms.CharField(widget=forms.Textarea(attrs={"rows": 3, "cols": 60}), max_length=2000)


def patients_of(staff: User) -> Any:
    return users_visible_to(staff).filter(role=Role.PATIENT, is_active=True)


def patients_matching(*, staff: User, query: str) -> list[User]:
    """Active patients whose name or email contains every word of ``query``."""
    words = query.split()[:SEARCH_TERMS]
    if not words:
        return []
    matches = patients_of(staff)
    for word in words:
        matches = matches.filter(
            Q(email__icontains=word) | Q(first_name__icontains=word) | Q(last_name__icontains=word)
        )
    return list(matches.order_by("last_name", "first_name", "id")[:PATIENT_MATCHES])


@dataclass(frozen=True)
class Window:
    """The local days a page shows, in the clinician's zone."""

    first_day: date
    days: int
    zone: Any

    @property
    def start(self) -> datetime:
        return datetime.combine(self.first_day, time.min, tzinfo=self.zone)

    @property
    def end(self) -> datetime:
        return datetime.combine(self.first_day + timedelta(days=self.days), time.min, self.zone)

    @property
    def previous(self) -> date:
        return max(self.first_day - timedelta(days=self.days), FIRST_DAY)

    @property
    def next(self) -> date:
        return min(self.first_day + timedelta(days=self.days), LAST_DAY)


def window_for(clinician: User, day: date | None, span: str | None) -> Window:
    zone = clinician.tzinfo
    first = day or timezone.now().astimezone(zone).date()
    return Window(min(max(first, FIRST_DAY), LAST_DAY), SPANS.get(span or "day", 1), zone)


def free_slots(*, staff: User, clinician_id: int, window: Window, exclude: int = 0) -> list[Slot]:
    """The clinician's slots in ``window`` that still have a seat and start in the future.

    Whether one may be booked now (notice, horizon) is the service's answer at booking.
    """
    start = max(window.start, timezone.now())
    slots = slots_list(
        user=staff,
        clinician_id=clinician_id,
        start_from=start,
        start_to=window.end,
        status=Slot.Status.OPEN,
    )
    return list(
        slots.filter(seats_taken__lt=F("capacity")).exclude(pk=exclude).select_related("hospital")
    )


class FrontDeskAdmin(admin.ModelAdmin):
    """The appointments admin's front-desk pages (mixed into ``AppointmentAdmin``)."""

    def has_book_permission(self, request: HttpRequest) -> bool:
        opts = self.opts
        return request.user.has_perm(f"{opts.app_label}.{get_permission_codename('add', opts)}")

    def _page(
        self, request: HttpRequest, template: str, title: str, status: int = 200, **context: Any
    ) -> TemplateResponse:
        context = {
            **self.admin_site.each_context(request),
            "opts": self.opts,
            "title": title,
            **context,
        }
        return TemplateResponse(
            request, f"admin/scheduling/appointment/{template}", context, status=status
        )

    def _refused(self, request: HttpRequest, exc: DomainError) -> int:
        self.message_user(request, f"{exc.message} ({exc.code})", messages.ERROR)
        return exc.status

    # --- book ------------------------------------------------------------------------

    def book_view(self, request: HttpRequest) -> HttpResponse:
        if not self.has_book_permission(request):
            raise PermissionDenied
        staff = _staff(request)
        finder = SlotFinderForm(request.GET or None)
        booking = BookingForm(_posted(request), staff=staff)
        status = 200
        if request.method == "POST":
            if booking.is_valid():
                try:
                    appointment = services.appointment_book(
                        patient=booking.cleaned_data["patient"],
                        slot_id=booking.cleaned_data["slot"],
                        reason=booking.cleaned_data["reason"],
                        actor=staff,
                    )
                except DomainError as exc:
                    status = self._refused(request, exc)
                else:
                    self.message_user(request, _booked_message(appointment), messages.SUCCESS)
                    return HttpResponseRedirect(self._change_url(appointment.pk))
            else:
                status = 400
        clinician = finder.value("clinician")
        window = (
            window_for(clinician, finder.value("day"), finder.value("span"))
            if clinician is not None
            else None
        )
        query = finder.value("q") or ""
        chosen_patient = request.POST.get("patient") or request.GET.get("patient") or ""
        patients = patients_matching(staff=staff, query=query)
        chosen = _chosen_patient(staff, chosen_patient)
        if chosen is not None and chosen not in patients:
            patients.insert(0, chosen)
        return self._page(
            request,
            "book.html",
            "Book an appointment",
            status,
            finder=finder,
            booking=booking,
            clinician=clinician,
            window=window,
            span=finder.value("span") or "day",
            slots=(
                free_slots(staff=staff, clinician_id=clinician.pk, window=window)
                if clinician is not None and window is not None
                else []
            ),
            patients=patients,
            query=query,
            finder_base=urlencode(
                {name: request.GET[name] for name in FINDER_KEEPS if request.GET.get(name)}
            ),
            chosen_patient=chosen_patient,
            chosen_slot=request.POST.get("slot", ""),
        )

    # --- cancel and reschedule ---------------------------------------------------------

    def _appointment_or_redirect(
        self, request: HttpRequest, object_id: str
    ) -> Appointment | HttpResponse:
        appointment = self.get_object(request, object_id)
        if appointment is None:  # as Django's change view answers an unknown id
            self.message_user(request, f"No appointment with ID “{object_id}”.", messages.WARNING)
            return HttpResponseRedirect(
                reverse(f"{self.admin_site.name}:scheduling_appointment_changelist")
            )
        if not self.has_change_permission(request, appointment):
            raise PermissionDenied
        return appointment

    def cancel_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        found = self._appointment_or_redirect(request, object_id)
        if isinstance(found, HttpResponse):
            return found
        appointment = found
        form = CancelForm(_posted(request))
        outcome = self._submit(
            request,
            appointment,
            form,
            lambda data: services.appointment_cancel(
                actor=_staff(request), appointment_id=appointment.pk, reason=data["reason"]
            ),
            done="Cancelled",
        )
        if isinstance(outcome, HttpResponse):
            return outcome
        status = outcome
        return self._page(
            request,
            "cancel.html",
            f"Cancel appointment #{appointment.pk}",
            status,
            appointment=appointment,
            original=appointment,
            form=form,
            zone=appointment.clinician.time_zone,
        )

    def reschedule_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        found = self._appointment_or_redirect(request, object_id)
        if isinstance(found, HttpResponse):
            return found
        appointment = found
        form = RescheduleForm(_posted(request))
        outcome = self._submit(
            request,
            appointment,
            form,
            lambda data: services.appointment_reschedule(
                actor=_staff(request), appointment_id=appointment.pk, new_slot_id=data["slot"]
            ),
            done="Rescheduled",
        )
        if isinstance(outcome, HttpResponse):
            return outcome
        status = outcome
        clinician = appointment.clinician
        finder = SlotFinderForm(request.GET or None)
        day = finder.value("day") or appointment.start.astimezone(clinician.tzinfo).date()
        window = window_for(clinician, day, finder.value("span") or "week")
        slots = free_slots(
            staff=_staff(request),
            clinician_id=clinician.pk,
            window=window,
            exclude=appointment.slot_id,
        )
        return self._page(
            request,
            "reschedule.html",
            f"Reschedule appointment #{appointment.pk}",
            status,
            appointment=appointment,
            original=appointment,
            form=form,
            clinician=clinician,
            window=window,
            span=finder.value("span") or "week",
            slots=slots,
            chosen_slot=request.POST.get("slot", ""),
        )

    def _submit(
        self,
        request: HttpRequest,
        appointment: Appointment,
        form: forms.Form,
        act: Callable[[dict[str, Any]], object],
        *,
        done: str,
    ) -> HttpResponse | int:
        """A POST runs ``act`` (one service call) on the valid form's data: on success the
        redirect to the appointment's page, else the page's status (400 for the form, the
        refusal's own for a domain error). A GET is 200."""
        if request.method != "POST":
            return 200
        if not form.is_valid():
            return 400
        try:
            act(form.cleaned_data)
        except DomainError as exc:
            return self._refused(request, exc)
        self.message_user(request, f"{done} appointment #{appointment.pk}.", messages.SUCCESS)
        return HttpResponseRedirect(self._change_url(appointment.pk))

    def _change_url(self, appointment_id: int) -> str:
        return reverse(
            f"{self.admin_site.name}:scheduling_appointment_change", args=[appointment_id]
        )


def _posted(request: HttpRequest) -> Any:
    """The POSTed data (an empty POST too: it must fail validation), or None on a GET."""
    return request.POST if request.method == "POST" else None


def _chosen_patient(staff: User, value: str) -> User | None:
    if not value.isdigit() or not 0 < int(value) <= MAX_ID:
        return None
    return patients_of(staff).filter(pk=int(value)).first()


def _staff(request: HttpRequest) -> User:
    user = request.user
    assert isinstance(user, User)  # noqa: S101 - the admin only lets staff users in
    return user


def _booked_message(appointment: Appointment) -> str:
    zone = appointment.clinician.tzinfo
    local = appointment.start.astimezone(zone)
    patient = appointment.patient.full_name or appointment.patient.email
    clinician = appointment.clinician.full_name or appointment.clinician.email
    return (
        f"Booked {patient} with {clinician} on {local:%a %d %b %Y at %H:%M} "
        f"({appointment.clinician.time_zone}). The patient gets the usual confirmation."
    )
