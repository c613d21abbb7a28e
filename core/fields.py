"""Strict JSON serializer fields: a wrong JSON type is a 400, never silently coerced.

DRF's own fields turn ``123`` into ``"123"`` and ``"5"`` into ``5``; for clinical data
a client that sends the wrong type has a bug we want to show it.
"""

from __future__ import annotations

from typing import Any

from rest_framework import serializers

MAX_ID = 2**63 - 1  # the largest bigint primary key; beyond it a 400, not a database error


class StrictCharField(serializers.CharField):
    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


class StrictIntegerField(serializers.IntegerField):
    def to_internal_value(self, data: Any) -> int:
        if isinstance(data, bool) or not isinstance(data, int):
            self.fail("invalid")
        return super().to_internal_value(data)


class StrictBooleanField(serializers.BooleanField):
    def to_internal_value(self, data: Any) -> bool:
        if not isinstance(data, bool):
            self.fail("invalid")
        return data


class StrictChoiceField(serializers.ChoiceField):
    def to_internal_value(self, data: Any) -> Any:
        if not isinstance(data, str):
            self.fail("invalid_choice", input=data)
        return super().to_internal_value(data)


class IdField(StrictIntegerField):
    def __init__(self, **kwargs: Any) -> None:
        super().__init__(min_value=1, max_value=MAX_ID, **kwargs)


def reject_unknown_fields(serializer: serializers.Serializer[Any], data: Any) -> None:
    """Unknown keys are a client bug (e.g. ``status`` sent to the notes endpoint)."""
    if isinstance(data, dict):
        unknown = sorted(set(data) - set(serializer.fields))
        if unknown:
            raise serializers.ValidationError({name: ["Unknown field."] for name in unknown})


class StrictInput(serializers.Serializer[Any]):
    """An input that refuses unknown keys once its own fields are valid, so a missing or
    malformed field is reported first (the scheduling API's answers). ``validated``
    leaves the refusal to it; other inputs refuse unknown keys before anything else."""

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        reject_unknown_fields(self, self.initial_data)
        return attrs
