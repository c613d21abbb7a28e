"""`make bench`'s verdict: ratios to the same run's bare view, never absolute milliseconds."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from benchmarks.report import checks, print_report

# (req/s, p95 ms, app CPU ms/request, db CPU ms/request), shaped like a real run.
FIGURES = {
    "bare_c4": (2600, 3.0, 0.70, 0.0),
    "bare_c16": (2600, 7.5, 0.70, 0.0),
    "read_free_slots_c4": (1100, 5.5, 1.2, 0.1),
    "read_free_slots_c16": (1100, 17.0, 1.2, 0.1),
    "read_my_appointments_c4": (1200, 5.0, 1.3, 0.2),
    "read_my_appointments_c16": (1200, 16.0, 1.3, 0.2),
    "read_agenda_c4": (880, 7.0, 1.8, 0.4),
    "read_agenda_c16": (800, 24.0, 1.9, 0.4),
    "booking_c4": (700, 16.0, 1.6, 0.6),
    "booking_c16": (700, 40.0, 1.7, 0.6),
    "booking_losers_c16": (900, 30.0, 1.5, 0.5),
    "booking_audit_on_c16": (700, 40.0, 1.7, 0.6),
    "booking_audit_off_c16": (750, 38.0, 1.6, 0.5),
    "group_storm_c16": (650, 60.0, 1.9, 0.8),
    "series_c4": (200, 30.0, 5.0, 2.0),
    "series_c16": (200, 110.0, 5.5, 2.2),
}
WRITES = ("booking", "group", "series")


def scenario(rps: float, p95_ms: float, app_ms: float, db_ms: float) -> dict[str, Any]:
    requests = rps * 8
    return {
        "rps": rps,
        "requests": requests,
        "p50_us": p95_ms * 600,
        "p95_us": p95_ms * 1000,
        "p99_us": p95_ms * 1200,
        "app_cpu_s": app_ms * requests / 1000,
        "db_cpu_s": db_ms * requests / 1000,
    }


def a_run() -> dict[str, Any]:
    run: dict[str, Any] = {name: scenario(*values) for name, values in FIGURES.items()}
    for name in run:
        run[name]["statuses"] = {"201": 1, "409": 1} if name.startswith(WRITES) else {"200": 1}
    run.update(
        machine={"cpus": 2},
        gunicorn={"class": "sync", "workers": 4, "threads": 1},
        pgbench_c4={"tps": 80000, "latency_avg_ms": 0.05},
        pgbench_c16={"tps": 60000, "latency_avg_ms": 0.26},
        double_bookings=0,
        over_capacity=0,
        group_slots_full=700,
        partial_series=0,
        elapsed_s=300,
    )
    return run


def slower_hour(run: dict[str, Any], factor: float) -> dict[str, Any]:
    """The same code on a machine ``factor`` times slower: every time and CPU figure
    multiplied, every rate divided."""
    slow = copy.deepcopy(run)
    for v in slow.values():
        if isinstance(v, dict) and "rps" in v:
            v["rps"] /= factor
            v["requests"] /= factor
            for key in ("p50_us", "p95_us", "p99_us"):
                v[key] *= factor
            # CPU seconds stay as they were: factor x the CPU per request, over factor
            # times fewer requests in a run of the same length.
    return slow


def verdicts(run: dict[str, Any]) -> dict[str, bool]:
    return {name: ok for name, ok, _ in checks(run)}


@pytest.mark.parametrize("factor", [1 / 3, 3.4])
def test_a_faster_or_slower_hour_gives_the_same_verdict(factor):
    # given one run, and the same run on a machine three times slower or faster
    run = a_run()

    # when both are judged
    # then every check says the same, check by check
    assert verdicts(slower_hour(run, factor)) == verdicts(run)


def test_the_checks_name_every_ratio_target():
    names = set(verdicts(a_run()))
    assert "booking_c16 CPU/request ≤ 3.5x bare" in names
    assert "read_free_slots_c16 CPU/request ≤ 2x bare" in names
    assert "booking_c16 ≥ 0.25x bare req/s" in names
    assert "booking c16 p95 ≤ 6x bare p95" in names
    assert not any(" ms" in name for name in names), "no absolute millisecond target"


def test_a_booking_costing_four_times_the_bare_view_fails_only_its_cpu_check():
    # given a run that passes everything
    run = a_run()
    assert all(verdicts(run).values()), [n for n, ok in verdicts(run).items() if not ok]

    # when a booking costs 4x the bare view's CPU (0.7 ms) per request
    run["booking_c16"]["app_cpu_s"] = 2.2 * run["booking_c16"]["requests"] / 1000
    failed = [name for name, ok in verdicts(run).items() if not ok]

    # then exactly that check fails
    assert failed == ["booking_c16 CPU/request ≤ 3.5x bare"]


def test_latency_is_judged_against_the_bare_view_at_the_same_connections():
    run = a_run()
    run["bare_c4"]["p95_us"] = 1000  # bare p95 1 ms at 4 connections: booking 16 ms is 16x
    failed = {name for name, ok in verdicts(run).items() if not ok}
    assert "booking c4 p95 ≤ 8x bare p95" in failed
    assert "booking c16 p95 ≤ 6x bare p95" not in failed


def test_without_cpu_figures_there_is_no_cpu_verdict():
    run = a_run()
    for v in run.values():
        if isinstance(v, dict):
            v.pop("app_cpu_s", None)
            v.pop("db_cpu_s", None)
    assert not any("CPU" in name for name in verdicts(run))


def test_the_report_prints_cpu_as_a_multiple_of_the_bare_view(capsys):
    assert print_report(a_run()) is True
    booking_line = next(
        line for line in capsys.readouterr().out.splitlines() if line.startswith("booking_c16 ")
    )
    # (1.7 + 0.6) / 0.7 per request
    assert " 3.29 " in booking_line


# --- group sessions and series (#15) ---------------------------------------------------


def failed_checks(run: dict[str, Any]) -> list[str]:
    return [name for name, ok in verdicts(run).items() if not ok]


def test_group_and_series_are_judged_beside_the_single_booking():
    names = set(verdicts(a_run()))
    assert {
        "zero over-capacity slots",
        "the group storm filled slots to capacity",
        "group_storm c16 p95 ≤ 3x booking c16 p95",
        "series c16 p95 ≤ 4x booking c16 p95",
        "series_c16 CPU/request ≤ 4x booking_c16",
        "zero partial series (whole or absent)",
    } <= names


def test_one_slot_over_capacity_fails_exactly_that_check():
    run = a_run()
    run["over_capacity"] = 1
    assert failed_checks(run) == ["zero over-capacity slots"]


def test_a_storm_without_the_seat_count_fails():
    run = a_run()
    del run["over_capacity"]
    assert failed_checks(run) == ["zero over-capacity slots"]


def test_a_storm_that_filled_no_slot_fails():
    run = a_run()
    run["group_slots_full"] = 0
    assert failed_checks(run) == ["the group storm filled slots to capacity"]


def test_a_5xx_in_the_group_storm_fails():
    run = a_run()
    run["group_storm_c16"]["statuses"]["500"] = 1
    run["group_storm_c16"]["5xx"] = 1
    assert set(failed_checks(run)) == {
        "zero 5xx",
        "only expected statuses (200 reads; 201/409 writes)",
    }


@pytest.mark.parametrize("name", ["group_storm_c16", "series_c4", "series_c16"])
def test_201_and_409_are_the_writes_answers(name):
    run = a_run()
    run[name]["statuses"] = {"201": 5, "409": 9}
    assert not failed_checks(run)
    run[name]["statuses"]["422"] = 1
    assert failed_checks(run) == ["only expected statuses (200 reads; 201/409 writes)"]


def test_a_series_costing_more_than_its_bookings_fails_only_its_cpu_check():
    run = a_run()
    # booking_c16 costs 2.3 ms per request; a series of four at 10 ms is over 4x
    run["series_c16"]["app_cpu_s"] = 8.0 * run["series_c16"]["requests"] / 1000
    assert failed_checks(run) == ["series_c16 CPU/request ≤ 4x booking_c16"]


def test_a_slow_group_storm_fails_only_its_latency_check():
    run = a_run()
    run["group_storm_c16"]["p95_us"] = 4 * run["booking_c16"]["p95_us"]
    assert failed_checks(run) == ["group_storm c16 p95 ≤ 3x booking c16 p95"]


def test_an_earlier_run_without_them_is_still_reported(capsys):
    run = a_run()
    for name in ("group_storm_c16", "series_c4", "series_c16", "over_capacity"):
        del run[name]
    assert print_report(run) is True
    assert "over-capacity" not in capsys.readouterr().out


def test_the_report_lists_the_group_storm_and_series_rows(capsys):
    print_report(a_run())
    rows = {line.split()[0] for line in capsys.readouterr().out.splitlines() if line.strip()}
    assert {"group_storm_c16", "series_c4", "series_c16", "booking_c16"} <= rows


def test_a_partial_series_fails_exactly_that_check():
    run = a_run()
    run["partial_series"] = 2
    assert failed_checks(run) == ["zero partial series (whole or absent)"]
