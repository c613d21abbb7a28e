"""Factories of the labs app: lab results (patient and ordering clinician given by the caller)."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import factory
from django.utils import timezone

from labs.models import LabResult


class LabResultFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = LabResult

    test_code = "2823-3"
    test_name = "Potassium [Moles/volume] in Serum or Plasma"
    value_numeric = Decimal("4.2")
    value_text = ""
    unit = "mmol/L"
    reference_low = Decimal("3.5")
    reference_high = Decimal("5.1")
    critical_low = Decimal("2.5")
    critical_high = Decimal("6.5")
    flag = "normal"
    status = LabResult.Status.FINAL
    collected_at = factory.LazyFunction(lambda: timezone.now() - timedelta(hours=2))
    reported_at = factory.LazyFunction(timezone.now)
