"""`make bench BENCH_SCALE=10`'s verdict: each scenario at 10x against itself at 1x."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from benchmarks.report import checks, print_report
from tests.benchmarks.test_report import a_run, scenario

SCALED = ("read_free_slots_c16", "read_agenda_c4", "booking_c16")
ADMIN = {
    "admin_appointments_c4": (60, 40.0, 20.0, 2.0),
    "admin_audit_events_c4": (70, 35.0, 18.0, 1.0),
}


def scaled_run(cpu_growth: float = 1.1, p95_growth: float = 1.2) -> dict[str, Any]:
    """A run that measured some scenarios again on ten times the rows: their CPU per
    request ``cpu_growth`` times, their p95 ``p95_growth`` times the 1x figure."""
    run = a_run()
    for name, values in ADMIN.items():
        run[name] = scenario(*values)
        run[name]["statuses"] = {"200": 1}
    run["scale"] = {"factor": 10, "grow_s": 240}
    for name in (*SCALED, *ADMIN):
        big = copy.deepcopy(run[name])
        big["app_cpu_s"] *= cpu_growth
        big["db_cpu_s"] *= cpu_growth
        big["p95_us"] *= p95_growth
        run[f"{name}_x10"] = big
    return run


def failed(run: dict[str, Any]) -> list[str]:
    return [name for name, ok, _ in checks(run) if not ok]


def scale_verdicts(run: dict[str, Any]) -> dict[str, bool]:
    return {name: ok for name, ok, _ in checks(run) if " at 10x " in name}


def test_every_scenario_measured_at_both_sizes_gets_one_ratio_check():
    verdicts = scale_verdicts(scaled_run())
    assert set(verdicts) == {
        "read_free_slots_c16 CPU/request at 10x ≤ 1.25x its 1x",
        "read_agenda_c4 CPU/request at 10x ≤ 1.25x its 1x",
        "booking_c16 CPU/request at 10x ≤ 1.25x its 1x",
        "admin_appointments_c4 p95 at 10x ≤ 1.5x its 1x",
        "admin_audit_events_c4 p95 at 10x ≤ 1.5x its 1x",
    }
    assert all(verdicts.values())


def test_a_read_whose_cost_grows_with_the_rows_fails_its_check():
    run = scaled_run()
    run["read_agenda_c4_x10"]["db_cpu_s"] *= 3  # a scan that reads ten times the rows
    assert failed(run) == ["read_agenda_c4 CPU/request at 10x ≤ 1.25x its 1x"]


@pytest.mark.parametrize(("growth", "ok"), [(1.24, True), (1.26, False)])
def test_the_cpu_limit_is_a_quarter_more_than_at_1x(growth, ok):
    verdicts = scale_verdicts(scaled_run(cpu_growth=growth))
    assert verdicts["booking_c16 CPU/request at 10x ≤ 1.25x its 1x"] is ok


@pytest.mark.parametrize(("growth", "ok"), [(1.45, True), (1.55, False)])
def test_an_admin_change_list_is_judged_by_its_p95(growth, ok):
    run = scaled_run(p95_growth=growth)
    assert scale_verdicts(run)["admin_appointments_c4 p95 at 10x ≤ 1.5x its 1x"] is ok
    # reads and booking are judged by CPU, not by p95
    assert scale_verdicts(run)["booking_c16 CPU/request at 10x ≤ 1.25x its 1x"] is True


def test_a_run_at_the_default_size_has_no_scale_check():
    run = scaled_run()
    del run["scale"]
    assert not any(" at 10x " in name for name, _, _ in checks(run))


def test_the_report_prints_both_sizes_side_by_side(capsys):
    assert print_report(scaled_run()) is True
    out = capsys.readouterr().out
    table = out.split("data scale: 1x and 10x in this run")[1]
    row = next(line for line in table.splitlines() if line.startswith("booking_c16 "))
    # booking_c16: p95 40 ms at 1x, 48 at 10x (1.2); CPU 2.30 ms at 1x, 2.53 at 10x (1.1)
    assert row.split()[1:] == ["40.0", "48.0", "1.20", "2.30", "2.53", "1.10"]
    # the 10x rows are in that table only, not among the 1x scenarios
    main_table = out.split("data scale:")[0]
    assert "_x10" not in main_table
