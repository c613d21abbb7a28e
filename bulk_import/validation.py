"""Row validation for the hospital import, built from the Hospital model's own fields.

Every rule (required, max length, the code/postal code/phone validators, the country
list) is read from ``accounts.models.Hospital`` when this module loads, so the admin
form, the API and the import cannot drift apart; ``tests/bulk_import/test_validation.py``
checks that a row is accepted here exactly when ``Hospital.full_clean`` accepts it.
A valid value passes a fast test made of the same regex, length and choices; only a
failing value runs Django's validators, for their exact message. ``full_clean`` on every
row would cost far more, which matters at a million rows (docs/bulk_import.md).
"""

from __future__ import annotations

import operator
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ImproperlyConfigured, ValidationError
from django.core.validators import MaxLengthValidator, RegexValidator
from django.db import models

from accounts.models import Hospital

# The CSV columns, in the order the staging table and the upsert use them.
COLUMNS: tuple[str, ...] = Hospital.DIRECTORY_FIELDS
REQUIRED_COLUMNS: tuple[str, ...] = ("code", "name")


@dataclass(frozen=True)
class RowError:
    """One reason a row was refused: ``row 17, postal_code: Enter a postal code…``."""

    row: int
    field: str
    message: str

    def __str__(self) -> str:
        return f"row {self.row}, {self.field}: {self.message}"

    def as_dict(self) -> dict[str, object]:
        return {"row": self.row, "field": self.field, "message": str(self)}


Check = Callable[[str], str | None]


@dataclass(frozen=True)
class FieldRule:
    """One model field's rules: a fast accept test, and Django's own checks for the message."""

    name: str
    required: bool
    max_length: int
    search: Callable[[str], object] | None  # the field's RegexValidator, if it has one
    pattern: re.Pattern[str] | None  # the same regex, when anchored at the start ("^…")
    choices: frozenset[str] | None
    explain: Check  # runs the field's real validators: exact Django messages


def _rule(field: models.Field[Any, Any]) -> FieldRule:
    validators = list(field.validators)  # includes the MaxLengthValidator of max_length
    regexes = [v for v in validators if isinstance(v, RegexValidator)]
    known = all(isinstance(v, RegexValidator | MaxLengthValidator) for v in validators)
    if not known or len(regexes) > 1 or any(r.inverse_match for r in regexes):
        raise ImproperlyConfigured(f"Teach bulk_import.validation the validators of {field}.")
    regex = re.compile(regexes[0].regex) if regexes else None  # the validator's, compiled
    compiled = re.compile(regex.pattern, regex.flags) if regex is not None else None
    anchored = compiled is not None and compiled.pattern.startswith("^")
    return FieldRule(
        name=field.name,
        required=not field.blank,
        max_length=field.max_length or 10**9,
        search=compiled.search if compiled is not None else None,
        pattern=compiled if anchored else None,
        choices=frozenset(str(k) for k, _ in field.flatchoices) if field.choices else None,
        explain=_explainer(field, validators),
    )


def _explainer(field: models.Field[Any, Any], validators: list[Callable[[Any], None]]) -> Check:
    blank_message = str(field.error_messages["blank"])
    choice_message = str(field.error_messages["invalid_choice"])
    choices = {str(key) for key, _ in field.flatchoices} if field.choices else None

    def explain(value: str) -> str | None:
        if value == "":
            return None if field.blank else blank_message
        if choices is not None and value not in choices:
            return choice_message % {"value": value}
        for validator in validators:
            try:
                validator(value)
            except ValidationError as exc:
                return " ".join(exc.messages)
        return None

    return explain


# Built once from the model: the single source of the rules.
RULES: tuple[FieldRule, ...] = tuple(
    _rule(Hospital._meta.get_field(name))  # type: ignore[arg-type]
    for name in COLUMNS
)
_COUNTRY = COLUMNS.index("country")


def normalise(values: Sequence[str]) -> list[str]:
    """Trim whitespace like Django's form CharField; country codes are case-insensitive."""
    cleaned = list(map(str.strip, values))
    cleaned[_COUNTRY] = cleaned[_COUNTRY].upper()
    return cleaned


def _column_test(rule: FieldRule) -> Callable[[str], object]:
    """The fast test of one column as one call, C code where the rule allows: a truthy
    answer means every rule of the field holds (a falsy one: ask ``rule.explain``)."""
    least = 1 if rule.required else 0
    if rule.search is None and rule.choices is None:  # required and length only
        return re.compile(rf"[\s\S]{{{least},{rule.max_length}}}").fullmatch
    if rule.search is None and rule.choices is not None:  # a list of choices
        allowed = {choice for choice in rule.choices if 0 < len(choice) <= rule.max_length}
        return frozenset(allowed | ({""} if not rule.required else set())).__contains__
    if rule.pattern is not None and rule.choices is None:  # an anchored regex: one match
        # The length as a lookahead, then the validator's own regex; "" alone if optional.
        length = rf"(?=[\s\S]{{1,{rule.max_length}}}\Z)"
        empty = "" if rule.required else r"\Z|"
        return re.compile(rf"{empty}{length}(?:{rule.pattern.pattern})", rule.pattern.flags).match

    def accept(value: str) -> bool:
        if not value:
            return not rule.required
        return (
            len(value) <= rule.max_length
            and (rule.search is None or rule.search(value) is not None)
            and (rule.choices is None or value in rule.choices)
        )

    return accept


# One fast test per column, in COLUMNS order; a row passing them all is valid.
COLUMN_TESTS = tuple(_column_test(rule) for rule in RULES)
# What each column's exact checks read, unpacked once (attribute lookups cost per row).
_COLUMN_CHECKS = tuple(
    (rule.max_length, rule.search, rule.choices, rule.required, rule) for rule in RULES
)


def _column_valid(rule: FieldRule, accept: Callable[[str], object], column: Sequence[str]) -> bool:
    if rule.search is None and rule.choices is None:  # length (and presence) only
        return max(map(len, column)) <= rule.max_length and (not rule.required or all(column))
    return all(map(accept, column))


def rows_valid(rows: Sequence[Sequence[str]]) -> bool:
    """True when every one of ``rows`` (normalised, in ``COLUMNS`` order) is valid: the
    fast tests run a column at a time, in C. False only says that some row is not."""
    if not rows:
        return True
    if set(map(len, rows)) != {len(RULES)}:
        return False
    columns = zip(*rows, strict=True)
    return all(map(_column_valid, RULES, COLUMN_TESTS, columns))


def row_errors(row_number: int, values: Sequence[str]) -> list[RowError]:
    """Every rule the normalised ``values`` (in ``COLUMNS`` order) break; empty when valid."""
    if len(values) == len(COLUMN_TESTS) and all(map(operator.call, COLUMN_TESTS, values)):
        return []  # the common case: a valid row, decided in C with no loop in Python
    errors: list[RowError] = []
    checks = zip(_COLUMN_CHECKS, values, strict=True)
    for (max_length, search, choices, required, rule), value in checks:
        if value:
            if (
                len(value) <= max_length
                and (search is None or search(value))
                and (choices is None or value in choices)
            ):
                continue
        elif not required:
            continue
        message = rule.explain(value)
        if message is not None:
            errors.append(RowError(row_number, rule.name, message))
    return errors
