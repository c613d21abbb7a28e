"""The flag at every edge of the ranges (bounds are inclusive on the normal side)."""

from __future__ import annotations

from decimal import Decimal

import pytest

from labs.flags import Ranges, compute_flag

D = Decimal
FULL = Ranges(
    reference_low=D("3.5"), reference_high=D("5.1"), critical_low=D("2.5"), critical_high=D("6.5")
)


@pytest.mark.parametrize(
    ("value", "flag"),
    [
        ("2.4999", "critical"),  # just below the critical low bound
        ("2.5", "low"),  # equal to the critical low bound
        ("3.4999", "low"),  # just below the reference range
        ("3.5", "normal"),  # equal to the low bound
        ("4.2", "normal"),
        ("5.1", "normal"),  # equal to the high bound
        ("5.1001", "high"),  # just above
        ("6.5", "high"),  # equal to the critical high bound
        ("6.5001", "critical"),  # just above it
        ("-100", "critical"),
    ],
)
def test_full_ranges(value, flag):
    assert compute_flag(D(value), FULL) == flag


def test_no_range_at_all_is_not_flagged():
    assert compute_flag(D("4.2"), Ranges()) is None


def test_a_text_value_is_not_flagged():
    assert compute_flag(None, FULL) is None


@pytest.mark.parametrize(
    ("ranges", "value", "flag"),
    [
        (Ranges(reference_high=D("200")), "200", "normal"),
        (Ranges(reference_high=D("200")), "200.0001", "high"),
        (Ranges(reference_high=D("200")), "-5", "normal"),  # no low bound: nothing is low
        (Ranges(reference_low=D("40")), "39.9999", "low"),
        (Ranges(reference_low=D("40")), "1000", "normal"),
        (Ranges(critical_high=D("10")), "10.0001", "critical"),
        (Ranges(critical_high=D("10")), "10", "normal"),
    ],
)
def test_one_sided_ranges(ranges, value, flag):
    assert compute_flag(D(value), ranges) == flag


@pytest.mark.parametrize(
    ("ranges", "field"),
    [
        (Ranges(reference_low=D("5"), reference_high=D("4")), "reference_high"),
        (Ranges(reference_low=D("3"), critical_low=D("3.1")), "critical_low"),
        (Ranges(reference_high=D("5"), critical_high=D("4.9")), "critical_high"),
        (Ranges(critical_low=D("5"), critical_high=D("4")), "critical_high"),
    ],
)
def test_inconsistent_ranges_are_reported(ranges, field):
    assert field in ranges.problems()


def test_consistent_ranges_have_no_problems():
    assert FULL.problems() == {}
    assert Ranges(reference_low=D("1"), reference_high=D("1")).problems() == {}
