"""Turn benchmarks/results.json into a table and the pass/fail checks of the issues."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

READS = ("free_slots", "my_appointments", "agenda")


def ms(us: float) -> float:
    return round(us / 1000, 1)


def cpu_ms(v: dict[str, Any], key: str) -> str:
    """CPU milliseconds per request, or "-" where the run did not record them."""
    if key not in v or not v.get("requests"):
        return "-"
    return f"{v[key] * 1000 / v['requests']:.2f}"


def checks(r: dict[str, Any]) -> list[tuple[str, bool, str]]:
    bare16 = r["bare_c16"]["rps"]
    out: list[tuple[str, bool, str]] = []

    def add(name: str, ok: bool, detail: str) -> None:
        out.append((name, ok, detail))

    book16, book4 = r["booking_c16"], r["booking_c4"]
    add(
        "booking c16 ≥ 0.05x bare", book16["rps"] >= 0.05 * bare16, f"{book16['rps'] / bare16:.3f}x"
    )
    add("booking c16 p95 < 100 ms", ms(book16["p95_us"]) < 100, f"{ms(book16['p95_us'])} ms")
    add("booking c4 p95 < 25 ms", ms(book4["p95_us"]) < 25, f"{ms(book4['p95_us'])} ms")
    for kind in READS:
        c16, c4 = r[f"read_{kind}_c16"], r[f"read_{kind}_c4"]
        add(f"{kind} c16 ≥ 0.14x bare", c16["rps"] >= 0.14 * bare16, f"{c16['rps'] / bare16:.3f}x")
        add(f"{kind} c16 p95 < 40 ms", ms(c16["p95_us"]) < 40, f"{ms(c16['p95_us'])} ms")
        add(f"{kind} c4 p95 < 10 ms", ms(c4["p95_us"]) < 10, f"{ms(c4['p95_us'])} ms")
    losers = r["booking_losers_c16"]
    add(
        "contended losers p95 ≤ 2x uncontended p95",
        losers["p95_us"] <= 2 * book16["p95_us"],
        f"{ms(losers['p95_us'])} vs {ms(book16['p95_us'])} ms",
    )
    on, off = r["booking_audit_on_c16"], r["booking_audit_off_c16"]
    add(
        "audit on ≥ 0.8x throughput of audit off",
        on["rps"] >= 0.8 * off["rps"],
        f"{on['rps'] / off['rps']:.2f}x",
    )
    add(
        "audit on p95 ≤ 1.2x audit off p95",
        on["p95_us"] <= 1.2 * off["p95_us"],
        f"{on['p95_us'] / off['p95_us']:.2f}x",
    )
    add("zero double bookings", r["double_bookings"] == 0, str(r["double_bookings"]))
    fives = sum(v.get("5xx", 0) for v in r.values() if isinstance(v, dict))
    add("zero 5xx", fives == 0, str(fives))
    expected = {"read": {"200"}, "booking": {"201", "409"}}
    odd = {
        name: v["statuses"]
        for name, v in r.items()
        if isinstance(v, dict)
        and "statuses" in v
        and set(v["statuses"]) - expected.get(name.split("_")[0], {"200"})
    }
    add("only expected statuses (200 reads; 201/409 bookings)", not odd, str(odd or "yes"))
    imp = r.get("import")
    if isinstance(imp, dict) and "ratio" in imp:
        add("import >= 0.5x psql \\copy", imp["ratio"] >= 0.5, f"{imp['ratio']:.2f}x")
        rss = imp["peak_rss_mib"]
        add("import peak RSS < 200 MiB", rss < 200, f"{rss:.0f} MiB")
        growth = imp["rss_growth_mib"]
        add("import RSS flat 100k -> 1M rows (< 20 MiB)", growth < 20, f"{growth:+.1f} MiB")
    return out


def print_report(r: dict[str, Any]) -> bool:
    print(f"\nmachine: {r['machine']}  gunicorn: {r['gunicorn']}")
    print(
        f"{'scenario':34} {'req/s':>9} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8} "
        f"{'app CPU':>8} {'db CPU':>7}  statuses"
    )
    for name, v in r.items():
        if isinstance(v, dict) and "rps" in v:
            print(
                f"{name:34} {v['rps']:9.1f} {ms(v['p50_us']):8} {ms(v['p95_us']):8} "
                f"{ms(v['p99_us']):8} {cpu_ms(v, 'app_cpu_s'):>8} {cpu_ms(v, 'db_cpu_s'):>7}  "
                f"{v['statuses']}"
            )
    print(
        "(app / db CPU: milliseconds of CPU per request spent by gunicorn's processes / by "
        "PostgreSQL's, over the run)"
    )
    for c in (4, 16):
        pg = r[f"pgbench_c{c}"]
        label = f"pgbench -S c{c} (database ceiling)"
        print(f"{label:34} {pg['tps']:9.1f} avg {pg['latency_avg_ms']} ms")
    print()
    results = checks(r)
    for name, ok, detail in results:
        print(f"  [{'PASS' if ok else 'FAIL'}] {name}: {detail}")
    print(f"\nelapsed {r.get('elapsed_s')} s; results in benchmarks/results.json")
    return all(ok for _, ok, _ in results)


if __name__ == "__main__":
    path = Path(sys.argv[1] if len(sys.argv) > 1 else Path(__file__).parent / "results.json")
    sys.exit(0 if print_report(json.loads(path.read_text())) else 1)
