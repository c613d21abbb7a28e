"""Dashboard forms. Times are entered in the clinician's own time zone (named on the page)."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import Any

from django import forms

from consultations.models import Prescription
from scheduling.services import MAX_SLOT_MINUTES, MIN_SLOT_MINUTES

WEEKDAYS = [
    (0, "Monday"),
    (1, "Tuesday"),
    (2, "Wednesday"),
    (3, "Thursday"),
    (4, "Friday"),
    (5, "Saturday"),
    (6, "Sunday"),
]
FORMATS = [("csv", "CSV"), ("pdf", "PDF")]


class DateInput(forms.DateInput):
    input_type = "date"


class TimeInput(forms.TimeInput):
    input_type = "time"


class LoginForm(forms.Form):
    email = forms.EmailField(widget=forms.EmailInput(attrs={"autocomplete": "username"}))
    password = forms.CharField(
        strip=False, widget=forms.PasswordInput(attrs={"autocomplete": "current-password"})
    )


class RuleForm(forms.Form):
    weekday = forms.TypedChoiceField(choices=WEEKDAYS, coerce=int)
    start_time = forms.TimeField(widget=TimeInput, label="From")
    end_time = forms.TimeField(widget=TimeInput, label="Until")
    slot_minutes = forms.IntegerField(
        min_value=MIN_SLOT_MINUTES, max_value=MAX_SLOT_MINUTES, initial=50, label="Minutes per slot"
    )
    valid_from = forms.DateField(widget=DateInput, label="Starting on")
    valid_until = forms.DateField(widget=DateInput, required=False, label="Ending on (optional)")


class SlotForm(forms.Form):
    day = forms.DateField(widget=DateInput, label="Date")
    start_time = forms.TimeField(widget=TimeInput, label="From")
    end_time = forms.TimeField(widget=TimeInput, label="Until")
    slot_minutes = forms.IntegerField(
        min_value=MIN_SLOT_MINUTES,
        max_value=MAX_SLOT_MINUTES,
        required=False,
        label="Split into slots of (minutes, optional)",
    )

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        start, end = data.get("start_time"), data.get("end_time")
        if start is not None and end is not None and end <= start:
            self.add_error("end_time", "The end must be after the start.")
        return data

    def interval(self, zone: Any) -> tuple[datetime, datetime]:
        """The entered local times as aware datetimes in the clinician's zone."""
        day: date = self.cleaned_data["day"]
        start = datetime.combine(day, self.cleaned_data["start_time"], tzinfo=zone)
        end = datetime.combine(day, self.cleaned_data["end_time"], tzinfo=zone)
        return start, end


class NotesForm(forms.Form):
    notes = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 8}), required=False, max_length=20000
    )
    notes_shared_with_patient = forms.BooleanField(
        required=False, label="Share the notes with the client"
    )


class AddendumForm(forms.Form):
    text = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 4}), max_length=20000, label="Addendum"
    )
    shared_with_patient = forms.BooleanField(required=False, label="Share with the client")


class PrescriptionForm(forms.ModelForm):
    class Meta:
        model = Prescription
        fields = list(Prescription.WRITTEN_FIELDS)
        widgets = {"instructions": forms.Textarea(attrs={"rows": 3})}


class ReportForm(forms.Form):
    date_from = forms.DateField(widget=DateInput, label="From")
    date_to = forms.DateField(widget=DateInput, label="To (inclusive)")
    format = forms.ChoiceField(choices=FORMATS)

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        start, end = data.get("date_from"), data.get("date_to")
        if start is not None and end is not None:
            if end < start:
                self.add_error("date_to", "The end date is before the start date.")
            elif end - start >= timedelta(days=366):
                self.add_error("date_to", "A report covers at most 366 days.")
        return data
