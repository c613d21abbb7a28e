"""`make bench`'s cancel → offer scenario (benchmarks/cancel_offer.py): its verdict is
ratios to the same run's plain cancellation, its probe's summary, and its seed and probe
against a real server (Django's live server on PostgreSQL, the real API)."""

from __future__ import annotations

import copy
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from benchmarks import cancel_offer
from benchmarks.report import checks, print_report
from scheduling.models import Appointment
from tests.benchmarks.test_report import a_run, scenario, slower_hour
from tests.factories import AppointmentFactory, DoctorFactory, PatientFactory, SlotFactory
from waitlist.models import WaitlistEntry, WaitlistOffer

PLAIN = "cancel_plain_c4"
WAITING = "cancel_waitlist_c4"


def probe_result(samples: int = 100, first_read: int = 100, missed: int = 0) -> dict[str, Any]:
    return {
        "samples": samples,
        "statuses": {"200": samples},
        "5xx": 0,
        "missed": missed,
        "first_read": first_read,
        "visible_p50_ms": 2.1,
        "visible_p95_ms": 3.4,
        "visible_max_ms": 5.0,
        "read_p50_ms": 2.0,
        "cancel_p50_ms": 9.0,
    }


def a_run_with_cancels(waiting_cpu_ms: float = 5.5, waiting_p95_ms: float = 14.0) -> dict[str, Any]:
    """A run whose plain cancellation costs 4 ms of CPU with a 10 ms p95."""
    run = a_run()
    run[PLAIN] = scenario(300, 10.0, 3.0, 1.0) | {"statuses": {"200": 2400}}
    run[WAITING] = scenario(250, waiting_p95_ms, waiting_cpu_ms - 1.5, 1.5) | {
        "statuses": {"200": 2000}
    }
    run["cancel_to_offer"] = probe_result()
    return run


def verdicts(run: dict[str, Any]) -> dict[str, bool]:
    return {name: ok for name, ok, _ in cancel_offer.checks(run)}


def test_an_offer_costing_less_than_the_limit_passes_every_check():
    run = a_run_with_cancels()

    assert verdicts(run) == {
        "cancel_waitlist_c4 CPU/request ≤ 1.6x cancel_plain_c4": True,
        "cancel_waitlist_c4 p95 ≤ 1.6x cancel_plain_c4 p95": True,
        "every offer listed by the first read after the cancellation's response": True,
    }
    assert set(verdicts(run)) <= {name for name, _, _ in checks(run)}


def test_an_offer_doubling_the_cancellations_cpu_fails_only_that_check():
    run = a_run_with_cancels(waiting_cpu_ms=8.5)

    failed = [name for name, ok in verdicts(run).items() if not ok]

    assert failed == ["cancel_waitlist_c4 CPU/request ≤ 1.6x cancel_plain_c4"]


def test_a_slow_offer_fails_only_the_latency_check():
    run = a_run_with_cancels(waiting_p95_ms=20.0)

    failed = [name for name, ok in verdicts(run).items() if not ok]

    assert failed == ["cancel_waitlist_c4 p95 ≤ 1.6x cancel_plain_c4 p95"]


@pytest.mark.parametrize("factor", [0.5, 3.0])
def test_a_faster_or_slower_hour_gives_the_same_verdict(factor):
    for run in (a_run_with_cancels(), a_run_with_cancels(waiting_cpu_ms=8.5)):
        assert verdicts(slower_hour(run, factor)) == verdicts(run)


@pytest.mark.parametrize(("first_read", "missed"), [(99, 0), (97, 3)])
def test_an_offer_not_listed_at_the_first_read_fails(first_read, missed):
    run = a_run_with_cancels()
    run["cancel_to_offer"] = probe_result(first_read=first_read, missed=missed)

    check = {name: (ok, detail) for name, ok, detail in cancel_offer.checks(run)}

    ok, detail = check["every offer listed by the first read after the cancellation's response"]
    assert not ok
    assert detail == f"{first_read} of 100 ({missed} not listed within 5 s)"


def test_a_probe_without_samples_fails():
    run = a_run_with_cancels()
    run["cancel_to_offer"] = probe_result(samples=0, first_read=0)

    assert not verdicts(run)[
        "every offer listed by the first read after the cancellation's response"
    ]


def test_a_run_without_the_scenario_has_no_such_check():
    assert cancel_offer.checks(a_run()) == []


def test_a_5xx_or_a_refused_cancellation_fails_the_runs_status_checks():
    run = a_run_with_cancels()
    run[WAITING]["statuses"] = {"200": 10, "409": 1}
    run["cancel_to_offer"] = probe_result() | {"statuses": {"200": 99, "500": 1}, "5xx": 1}

    failed = {name for name, ok, _ in checks(run) if not ok}

    assert failed == {"zero 5xx", "only expected statuses (200 reads; 201/409 writes)"}


def test_the_report_lists_both_cancellations_and_the_probe(capsys):
    assert print_report(a_run_with_cancels())

    out = capsys.readouterr().out
    assert f"\n{PLAIN} " in out
    assert f"\n{WAITING} " in out
    assert "cancel → offer visible (sequential, 100 cancellations): p50 2.1 ms, p95 3.4 ms" in out
    assert "[PASS] cancel_waitlist_c4 CPU/request ≤ 1.6x cancel_plain_c4: 1.38x" in out


def test_the_summary_of_a_probe():
    samples = [
        {"cancel_s": 0.010, "visible_s": 0.002, "reads": 1, "read_s": 0.0015},
        {"cancel_s": 0.012, "visible_s": 0.004, "reads": 1, "read_s": 0.0025},
        {"cancel_s": 0.011, "visible_s": 0.030, "reads": 3, "read_s": 0.0020},
        {"cancel_s": 0.009, "visible_s": float("inf"), "reads": 40, "read_s": 0.0},
    ]

    summary = cancel_offer.summary(copy.deepcopy(samples), {"200": 4})

    assert summary["samples"] == 4
    assert (summary["missed"], summary["first_read"], summary["5xx"]) == (1, 2, 0)
    assert summary["visible_p50_ms"] == 4.0
    assert summary["visible_max_ms"] == 30.0
    assert summary["read_p50_ms"] == 2.0
    assert summary["cancel_p50_ms"] == 10.5


# --- against a real server -----------------------------------------------------------------


@pytest.fixture
def bench_world(tmp_path, monkeypatch):
    """Seven doctors with three booked visits each, days ahead, seeded as `make bench`
    seeds its cancel scenario, its inputs written under tmp_path."""
    monkeypatch.setattr(cancel_offer, "WORK", tmp_path)
    base = timezone.now().replace(second=0, microsecond=0)
    doctors = [DoctorFactory.create() for _ in range(7)]
    for n, doctor in enumerate(doctors):
        for k in range(3):
            start = base + timedelta(days=3 + k, minutes=30 * n)
            slot = SlotFactory.create(
                clinician=doctor, start=start, end=start + timedelta(minutes=30), status="booked"
            )
            AppointmentFactory.create(slot=slot, patient=PatientFactory.create())
    cancel_offer.seed([d.pk for d in doctors], base, "not-a-password-hash")
    return doctors, tmp_path


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_the_seed_splits_the_clinicians_and_the_probe_sees_each_offer_at_once(
    bench_world, live_server
):
    doctors, work = bench_world
    # given the seed: the first doctor left alone, then two with nobody waiting, two with
    # ten waiting patients each, and (the last, past one spare) the probe's doctor with one
    # waiting patient
    plain = (work / "cancel_plain.txt").read_text().split()
    waiting = (work / "cancel_waitlist.txt").read_text().split()
    probes = [line.split() for line in (work / "cancel_probe.txt").read_text().splitlines()]
    entries = WaitlistEntry.objects.values_list("clinician_id", flat=True)
    with_entries = [doctors[3], doctors[4], doctors[6]]
    assert sorted(set(entries)) == sorted(d.pk for d in with_entries)
    assert [list(entries).count(d.pk) for d in with_entries] == [10, 10, 1]
    assert len(plain) == len(waiting) == 2 * 6  # token and id, three visits of two doctors
    assert len(probes) == 1
    _canceller, appointment_id, _waiter, slot_id = probes[0]
    probed = Appointment.objects.get(pk=appointment_id)
    assert (probed.clinician, probed.slot_id) == (doctors[6], int(slot_id))

    # when the probe cancels through the API and reads the waiting patient's offers
    result = cancel_offer.probe(live_server.url)

    # then the offer was listed by the first read after the cancellation answered
    assert result["statuses"] == {"200": 1}
    assert (result["samples"], result["first_read"], result["missed"]) == (1, 1, 0)
    assert result["visible_p50_ms"] > 0
    offer = WaitlistOffer.objects.get(slot_id=slot_id)
    assert offer.status == WaitlistOffer.Status.OFFERED
    assert offer.entry.clinician == doctors[6]
