"""The lab flag, computed from the value and its ranges; the client never sends it.

Bounds are inclusive on the normal side: a value equal to ``reference_low`` is normal,
one just below is low; a value equal to ``critical_low`` is low, one just below is
critical (the same on the high side). A text value, or a numeric value with no bound
at all, is not flagged (``None``).
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal


@dataclass(frozen=True)
class Ranges:
    reference_low: Decimal | None = None
    reference_high: Decimal | None = None
    critical_low: Decimal | None = None
    critical_high: Decimal | None = None

    @property
    def is_empty(self) -> bool:
        return all(
            bound is None
            for bound in (
                self.reference_low,
                self.reference_high,
                self.critical_low,
                self.critical_high,
            )
        )

    def problems(self) -> dict[str, str]:
        """Inconsistent bounds, by field (empty when the ranges make sense)."""
        found: dict[str, str] = {}
        low, high = self.reference_low, self.reference_high
        if low is not None and high is not None and low > high:
            found["reference_high"] = "Must not be below reference_low."
        if self.critical_low is not None and low is not None and self.critical_low > low:
            found["critical_low"] = "Must not be above reference_low."
        if self.critical_high is not None and high is not None and self.critical_high < high:
            found["critical_high"] = "Must not be below reference_high."
        if (
            self.critical_low is not None
            and self.critical_high is not None
            and self.critical_low > self.critical_high
        ):
            found["critical_high"] = "Must not be below critical_low."
        return found


def compute_flag(value: Decimal | None, ranges: Ranges) -> str | None:
    if value is None or ranges.is_empty:
        return None
    if ranges.critical_low is not None and value < ranges.critical_low:
        return "critical"
    if ranges.critical_high is not None and value > ranges.critical_high:
        return "critical"
    if ranges.reference_low is not None and value < ranges.reference_low:
        return "low"
    if ranges.reference_high is not None and value > ranges.reference_high:
        return "high"
    return "normal"
