"""Hospital CSV import throughput against ``psql \\copy`` of the same file, same run, same DB.

    DATABASE_URL=postgres://…/scratch .venv/bin/python benchmarks/import_throughput.py

For each size (100,000 and 1,000,000 rows by default) it writes one CSV, then, alternating
``--repeat`` times and keeping each side's best time:

* ``psql \\copy`` of the file into ``bench_hospital_copy``, a table created
  ``LIKE accounts_hospital INCLUDING ALL`` (same columns, indexes and constraints; only
  ``created_at``/``updated_at`` get ``now()`` defaults, since COPY does not fill them);
* the import path (``bulk_import.importer.HospitalImport``: parse, validate every row
  with the Hospital rules, COPY, upsert by code) in a fresh Python process, into
  ``accounts_hospital``, which also reports its peak RSS (``ru_maxrss``).

Then it imports the same file again (every row unchanged) once. Use a scratch database:
hospital rows whose code starts with ``BM`` and the ``bench_hospital_copy`` table are
dropped. ``--path orm`` measures ``bulk_create(update_conflicts=True)`` instead.
Target: import >= 0.5x raw COPY; peak RSS flat from 100k to 1M and < 200 MiB.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
COPY_TABLE = "bench_hospital_copy"
COPY_LABEL = "psql \\copy rows/s"
COLUMNS = "code,name,address,city,region,postal_code,country,phone"


def write_csv(path: Path, rows: int) -> None:
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(COLUMNS.split(","))
        for i in range(rows):
            writer.writerow(
                (
                    f"BM{i:08d}",
                    f"Benchmark Hospital {i}",
                    f"{i} Example Street",
                    "Exampleton",
                    "Example Region",
                    f"EX{i % 90 + 10} {i % 9}AB",
                    "GB",
                    f"+44 20 7946 {i % 10000:04d}",
                )
            )


def psql(database_url: str, *commands: str) -> float:
    args = ["psql", database_url, "-q", "-v", "ON_ERROR_STOP=1"]
    for command in commands:
        args += ["-c", command]
    started = time.perf_counter()
    subprocess.run(args, check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - started


def prepare_copy_table(database_url: str) -> None:
    psql(
        database_url,
        f"DROP TABLE IF EXISTS {COPY_TABLE}",
        f"CREATE TABLE {COPY_TABLE} (LIKE accounts_hospital INCLUDING ALL)",
        f"ALTER TABLE {COPY_TABLE} ALTER created_at SET DEFAULT now(), "
        "ALTER updated_at SET DEFAULT now()",
    )


def raw_copy_seconds(database_url: str, path: Path) -> float:
    psql(database_url, f"TRUNCATE {COPY_TABLE}", f"VACUUM {COPY_TABLE}")
    return psql(
        database_url,
        f"\\copy {COPY_TABLE} ({COLUMNS}) FROM '{path}' WITH (FORMAT csv, HEADER true)",
    )


def clear_imported(database_url: str) -> None:
    psql(database_url, "DELETE FROM accounts_hospital WHERE code LIKE 'BM%'")
    # FULL rewrites the table and its indexes compact, as TRUNCATE leaves the COPY table:
    # both sides then start from the same state (a plain VACUUM leaves the indexes of a
    # million deleted rows behind, which only the import side would pay for).
    psql(database_url, "VACUUM FULL accounts_hospital")


def import_in_child(path: Path, mode: str) -> dict[str, float]:
    """Run the import in a fresh process so that its peak RSS is the import's own."""
    out = subprocess.run(
        [sys.executable, __file__, "--child", str(path), "--path", mode],
        check=False,
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, "LOG_LEVEL": "WARNING"},
    )
    if out.returncode != 0:
        sys.exit(f"import failed:\n{out.stderr[-4000:]}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def child(path: Path, mode: str) -> None:
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    # Run by hand on a scratch database (the docstring's command): development settings,
    # as before DJANGO_ENV became required; benchmarks/run.py passes "benchmark".
    os.environ.setdefault("DJANGO_ENV", "development")
    import django

    django.setup()
    from bulk_import.importer import HospitalImport, RejectSink
    from bulk_import.upsert import OrmUpserter

    upserter = OrmUpserter() if mode == "orm" else None
    with path.open("rb") as raw, tempfile.TemporaryFile("w+") as rejects:
        started = time.perf_counter()
        summary = HospitalImport(
            raw, total_bytes=path.stat().st_size, rejects=RejectSink(rejects), upserter=upserter
        ).run()
        seconds = time.perf_counter() - started
    peak_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(json.dumps({"seconds": seconds, "peak_mib": peak_kib / 1024, **summary.as_dict()}))


def measure(database_url: str, rows: int, repeat: int, mode: str, workdir: Path) -> dict:
    path = workdir / f"hospitals-{rows}.csv"
    write_csv(path, rows)
    copy_best = import_best = float("inf")
    peak = 0.0
    for _ in range(repeat):
        copy_best = min(copy_best, raw_copy_seconds(database_url, path))
        clear_imported(database_url)
        run = import_in_child(path, mode)
        assert run["created"] == rows, run
        assert run["rejected"] == 0, run
        import_best = min(import_best, run["seconds"])
        peak = max(peak, run["peak_mib"])
    again = import_in_child(path, mode)
    assert again["unchanged"] == rows, again
    clear_imported(database_url)
    path.unlink()
    return {
        "rows": rows,
        "copy_rows_per_s": rows / copy_best,
        "import_rows_per_s": rows / import_best,
        "ratio": copy_best / import_best,
        "reimport_rows_per_s": rows / again["seconds"],
        "peak_rss_mib": max(peak, again["peak_mib"]),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--repeat", type=int, default=3, help="runs per size; best is kept")
    parser.add_argument("--path", choices=["copy", "orm"], default="copy")
    parser.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    parser.add_argument(
        "--json", action="store_true", help="also print one BENCH_JSON line (benchmarks/run.py)"
    )
    args = parser.parse_args()
    if args.child:
        child(args.child, args.path)
        return
    database_url = os.environ.get("DATABASE_URL", "")
    if not database_url.startswith(("postgres://", "postgresql://")):
        sys.exit("Set DATABASE_URL to a scratch PostgreSQL database (migrated).")
    prepare_copy_table(database_url)
    print(f"import path: {args.path}; best of {args.repeat} runs (re-import: 1 run)")
    print(
        f"{'rows':>10} {COPY_LABEL:>18} {'import rows/s':>14} {'ratio':>6} "
        f"{'re-import rows/s':>17} {'peak RSS MiB':>13}"
    )
    results = []
    with tempfile.TemporaryDirectory() as workdir:
        for rows in args.rows:
            r = measure(database_url, rows, args.repeat, args.path, Path(workdir))
            results.append(r)
            print(
                f"{r['rows']:>10} {r['copy_rows_per_s']:>18.0f} {r['import_rows_per_s']:>14.0f} "
                f"{r['ratio']:>5.2f}x {r['reimport_rows_per_s']:>17.0f} "
                f"{r['peak_rss_mib']:>13.1f}",
                flush=True,
            )
    psql(database_url, f"DROP TABLE IF EXISTS {COPY_TABLE}")
    ratio_ok = all(r["ratio"] >= 0.5 for r in results)
    rss = [r["peak_rss_mib"] for r in results]
    print(
        f"ratio >= 0.5x: {'yes' if ratio_ok else 'NO'}; peak RSS < 200 MiB: "
        f"{'yes' if max(rss) < 200 else 'NO'}; RSS growth first→last size: "
        f"{rss[-1] - rss[0]:+.1f} MiB"
    )
    if args.json:
        summary = {
            "sizes": results,
            "ratio": min(r["ratio"] for r in results),
            "peak_rss_mib": max(rss),
            "rss_growth_mib": rss[-1] - rss[0],
        }
        print("BENCH_JSON " + json.dumps(summary))


if __name__ == "__main__":
    main()
