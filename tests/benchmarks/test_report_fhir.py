"""`make bench`'s FHIR Slot search (issue #17): judged against the REST availability read
of the same run, by CPU per request and p95, at most 1.5x each."""

from __future__ import annotations

from typing import Any

import pytest

from benchmarks.report import checks, print_report
from tests.benchmarks.test_report import a_run, scenario, slower_hour

FHIR_CHECKS = {
    f"read_fhir_free_slots c{c} {what} ≤ 1.5x read_free_slots"
    for c in (4, 16)
    for what in ("CPU/request", "p95")
}


def with_fhir(app_ms: float = 1.5, p95_ms: float = 7.0) -> dict[str, Any]:
    """A run whose FHIR search costs ``app_ms`` and ``p95_ms`` at both connection counts
    (REST's free slots: 1.2 + 0.1 ms of CPU, p95 5.5 ms at 4 and 17 ms at 16)."""
    run = a_run()
    run["read_fhir_free_slots_c4"] = scenario(1000, p95_ms, app_ms, 0.1)
    run["read_fhir_free_slots_c16"] = scenario(1000, p95_ms * 3, app_ms, 0.1)
    for c in (4, 16):
        run[f"read_fhir_free_slots_c{c}"]["statuses"] = {"200": 1}
    return run


def failed(run: dict[str, Any]) -> set[str]:
    return {name for name, ok, _ in checks(run) if not ok}


def test_a_fhir_search_within_the_limit_passes_its_four_checks():
    results = {name: ok for name, ok, _ in checks(with_fhir())}
    assert set(results) >= FHIR_CHECKS
    assert all(results[name] for name in FHIR_CHECKS)


def test_a_fhir_search_costing_twice_the_rest_read_fails_its_cpu_checks_only():
    # REST costs 1.3 ms of CPU per request; FHIR 2.5 + 0.1 = 2.6 ms is 2x
    run = with_fhir(app_ms=2.5)
    assert failed(run) == {
        "read_fhir_free_slots c4 CPU/request ≤ 1.5x read_free_slots",
        "read_fhir_free_slots c16 CPU/request ≤ 1.5x read_free_slots",
    }


def test_a_slow_fhir_search_fails_its_p95_check_at_that_connection_count():
    run = with_fhir()
    run["read_fhir_free_slots_c4"]["p95_us"] = 9_000  # REST's 5.5 ms x 1.64
    assert failed(run) == {"read_fhir_free_slots c4 p95 ≤ 1.5x read_free_slots"}


def test_just_at_the_limit_passes():
    run = with_fhir()
    run["read_fhir_free_slots_c16"]["p95_us"] = 1.5 * run["read_free_slots_c16"]["p95_us"]
    assert not failed(run)


@pytest.mark.parametrize("factor", [1 / 3, 3.4])
def test_the_verdict_does_not_depend_on_the_hour(factor):
    run = with_fhir(app_ms=2.5)
    assert failed(slower_hour(run, factor)) == failed(run)


def test_a_run_without_the_fhir_scenario_has_no_fhir_check():
    assert not any("fhir" in name for name, _, _ in checks(a_run()))


def test_the_table_shows_the_fhir_rows_and_the_ratio(capsys):
    assert print_report(with_fhir()) is True
    out = capsys.readouterr().out
    rows = {line.split()[0] for line in out.splitlines() if line.strip()}
    assert {"read_fhir_free_slots_c4", "read_fhir_free_slots_c16"} <= rows
    # (1.5 + 0.1) / (1.2 + 0.1) = 1.23
    assert "[PASS] read_fhir_free_slots c4 CPU/request ≤ 1.5x read_free_slots: 1.23x" in out
