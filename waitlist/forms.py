"""The back office's form for putting a patient on a clinician's waitlist.

Staff add an entry for a patient (the front desk on the phone); the form only parses what
was typed. The entry itself is made by ``waitlist.services.entry_join``, the service the
API's ``POST waitlist/`` calls, with the staff member as actor.
"""

from __future__ import annotations

from typing import Any

from django import forms

from accounts.models import CLINICIAN_ROLES, Role, User
from scheduling.models import Mode
from waitlist.models import WaitlistEntry
from waitlist.services import MAX_PRIORITY, MIN_PRIORITY

WEEKDAYS = (
    (0, "Monday"),
    (1, "Tuesday"),
    (2, "Wednesday"),
    (3, "Thursday"),
    (4, "Friday"),
    (5, "Saturday"),
    (6, "Sunday"),
)


def active_patients() -> Any:
    return User.objects.filter(role=Role.PATIENT, is_active=True)


def active_clinicians() -> Any:
    return User.objects.filter(role__in=CLINICIAN_ROLES, is_active=True)


class EntryAddForm(forms.ModelForm):
    """Who waits for whom, and the optional constraints of the wait."""

    weekdays = forms.TypedMultipleChoiceField(
        choices=WEEKDAYS,
        coerce=int,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="The days the patient can come; none ticked: any day.",
    )
    mode = forms.ChoiceField(
        choices=(("", "Any mode"), *Mode.choices), required=False, label="Mode"
    )
    priority = forms.IntegerField(
        initial=0,
        min_value=MIN_PRIORITY,  # the service's rule, shown on the form before it runs
        max_value=MAX_PRIORITY,
        help_text="Higher is offered first; equal priorities go by joining time.",
    )

    class Meta:
        model = WaitlistEntry
        fields = ("patient", "clinician", "not_before", "not_after", "weekdays", "mode", "priority")
        widgets = {
            "not_before": forms.DateInput(attrs={"type": "date"}),
            "not_after": forms.DateInput(attrs={"type": "date"}),
        }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for name, choices in (("patient", active_patients), ("clinician", active_clinicians)):
            if name in self.fields:  # not on the read-only page of a saved entry
                self.fields[name].queryset = choices()  # type: ignore[attr-defined]

    def clean(self) -> dict[str, Any]:
        data: dict[str, Any] = super().clean() or {}
        first, last = data.get("not_before"), data.get("not_after")
        if first and last and last < first:
            self.add_error("not_after", "The window ends before it starts.")
        return data

    def join_arguments(self) -> dict[str, Any]:
        """The cleaned form as ``entry_join``'s keyword arguments (actor aside)."""
        data = self.cleaned_data
        return {
            "patient": data["patient"],
            "clinician": data["clinician"],
            "not_before": data.get("not_before"),
            "not_after": data.get("not_after"),
            "weekdays": tuple(sorted(set(data.get("weekdays") or ()))),
            "mode": data.get("mode") or "",
            "priority": data.get("priority") or 0,
        }
