"""`make bench`'s cancel → offer scenario: what the waitlist adds to a cancellation.

A cancellation of a clinician nobody waits for costs the waitlist one indexed EXISTS; one
of a clinician with a waiting patient makes the offer and holds the slot inside the
cancellation's own transaction (``waitlist.services``). Three measurements, in one run:

* ``cancel_plain_c4`` and ``cancel_waitlist_c4``: ``POST /api/v1/appointments/{id}/cancel/``
  by the appointment's patient under wrk, for clinicians with nobody waiting and for
  clinicians with waiting patients (one fresh entry per cancellation, so every one of
  them makes an offer), interleaved in ROUNDS rounds on one gunicorn and merged per side:
  their p95 and CPU per request side by side;
* ``cancel_to_offer``: PROBES cancellations one after another, each of a clinician with
  one waiting patient, that patient then reading ``GET /api/v1/waitlist/offers/`` until
  the freed slot's offer is listed: the time from the cancellation's response to the
  offer being visible, and how many reads it took (one, when the offer commits with the
  cancellation).

``seed`` (called by benchmarks/seed.py) writes the entries and the input lines;
``run_scenarios`` (called by benchmarks/run.py) measures.
"""

from __future__ import annotations

import json
import statistics
import time
import urllib.error
import urllib.request
from datetime import datetime
from pathlib import Path
from typing import Any

WORK = Path(__file__).resolve().parent / ".work"
# Cancellations per clinician in each wrk side, and waiting patients per such clinician
# (one per cancellation: an entry with a live offer is not offered another slot).
CANCELS_PER_CLINICIAN = 10
PROBES = 100  # clinicians of the probe, one waiting patient and one cancellation each
ROUNDS = 2  # wrk rounds per side, interleaved
SECONDS = 4  # per wrk round
POLL_LIMIT_S = 5.0  # a probe whose offer is not listed by then counts as missed
PLAIN_SIDE, WAITING_SIDE = "cancel_plain_c4", "cancel_waitlist_c4"  # their results' names
BATCH = 5_000


def seed(clinician_ids: list[int], base: datetime, password: str) -> None:
    """Waiting patients and the cancel inputs. ``clinician_ids[0]`` is left alone (its
    first slot is the contended-losers scenario's taken slot)."""
    usable = clinician_ids[1:]
    probes = usable[-min(PROBES, len(usable) // 5) :]
    half = (len(usable) - len(probes)) // 2
    plain, waiting = usable[:half], usable[half : 2 * half]
    cancels = _last_appointments(plain + waiting + probes, base)
    _write_cancel_lines("cancel_plain", plain, cancels)
    _write_cancel_lines("cancel_waitlist", waiting, cancels)
    _waiting_patients(waiting, CANCELS_PER_CLINICIAN, password, "wait")
    _write_probe_lines(probes, cancels, _waiting_patients(probes, 1, password, "probe"))


def _last_appointments(
    clinician_ids: list[int], base: datetime
) -> dict[int, list[tuple[int, int, int]]]:
    """Per clinician, its last CANCELS_PER_CLINICIAN seeded appointments (latest first):
    (appointment id, patient id, slot id)."""
    from scheduling.models import Appointment

    rows = (
        Appointment.objects.filter(clinician_id__in=clinician_ids, start__gte=base)
        .order_by("clinician_id", "-start")
        .values_list("clinician_id", "pk", "patient_id", "slot_id")
    )
    found: dict[int, list[tuple[int, int, int]]] = {}
    for clinician, pk, patient, slot in rows.iterator(chunk_size=BATCH):
        mine = found.setdefault(clinician, [])
        if len(mine) < CANCELS_PER_CLINICIAN:
            mine.append((pk, patient, slot))
    return found


def _write_cancel_lines(
    name: str, clinician_ids: list[int], cancels: dict[int, list[tuple[int, int, int]]]
) -> None:
    """Lines of 'token appointment_id', one clinician after another for each round of
    cancellations, so consecutive requests touch different clinicians."""
    from benchmarks.seed import token

    lines = [
        f"{token(cancels[cid][n][1])} {cancels[cid][n][0]}"
        for n in range(CANCELS_PER_CLINICIAN)
        for cid in clinician_ids
        if n < len(cancels.get(cid, []))
    ]
    (WORK / f"{name}.txt").write_text("\n".join(lines) + "\n")


def _waiting_patients(
    clinician_ids: list[int], per_clinician: int, password: str, prefix: str
) -> dict[int, list[int]]:
    """``per_clinician`` new patients on each clinician's waitlist (no constraints: any
    freed slot of the clinician fits), joined in order; returns their ids per clinician."""
    from accounts.models import Role
    from benchmarks.seed import create_users
    from waitlist.models import WaitlistEntry

    patients = create_users(prefix, len(clinician_ids) * per_clinician, Role.PATIENT, password)
    by_clinician = {
        cid: patients[i * per_clinician : (i + 1) * per_clinician]
        for i, cid in enumerate(clinician_ids)
    }
    WaitlistEntry.objects.bulk_create(
        (
            WaitlistEntry(patient_id=patient, clinician_id=cid, created_by_id=patient)
            for cid, mine in by_clinician.items()
            for patient in mine
        ),
        batch_size=BATCH,
    )
    return by_clinician


def _write_probe_lines(
    clinician_ids: list[int],
    cancels: dict[int, list[tuple[int, int, int]]],
    waiters: dict[int, list[int]],
) -> None:
    """Lines of 'canceller_token appointment_id waiter_token slot_id'."""
    from benchmarks.seed import token

    lines = []
    for cid in clinician_ids:
        if not cancels.get(cid):
            continue
        appointment, patient, slot = cancels[cid][0]
        lines.append(f"{token(patient)} {appointment} {token(waiters[cid][0])} {slot}")
    (WORK / "cancel_probe.txt").write_text("\n".join(lines) + "\n")


# --- measuring ---------------------------------------------------------------------------


def run_scenarios(results: dict[str, Any]) -> None:
    """Both wrk sides, interleaved, then the probe, on one gunicorn."""
    from benchmarks.run import gunicorn, lines, merged, wrk

    rounds: dict[str, list[dict[str, Any]]] = {"plain": [], "waitlist": []}
    with gunicorn() as server:
        wrk("bare.lua", 4, seconds=2)  # warm-up
        for n in range(ROUNDS):
            for side in rounds:
                # Each round starts past what the rounds before it could have used, per
                # wrk thread (the lines split over two threads).
                offset = str(n * _lines_in(f"cancel_{side}") // (2 * ROUNDS))
                inputs = lines(f"cancel_{side}")
                rounds[side].append(
                    wrk("cancel.lua", 4, inputs, "2", offset, seconds=SECONDS, server=server)
                )
        results["cancel_to_offer"] = probe(_base_url())
    results[PLAIN_SIDE] = merged(rounds["plain"])
    results[WAITING_SIDE] = merged(rounds["waitlist"])


def _lines_in(name: str) -> int:
    return sum(1 for line in (WORK / f"{name}.txt").read_text().splitlines() if line)


def _base_url() -> str:
    from benchmarks.run import PORT

    return f"http://127.0.0.1:{PORT}"


def probe(base_url: str) -> dict[str, Any]:
    """Cancel, then read the waiting patient's offers until the freed slot is listed."""
    samples: list[dict[str, float]] = []
    statuses: dict[str, int] = {}
    for line in (WORK / "cancel_probe.txt").read_text().splitlines():
        if not line:
            continue
        canceller, appointment, waiter, slot = line.split()
        status, cancel_s, _ = _call(
            base_url, f"/api/v1/appointments/{appointment}/cancel/", canceller, b"{}"
        )
        statuses[str(status)] = statuses.get(str(status), 0) + 1
        answered = time.perf_counter()
        samples.append(
            {"cancel_s": cancel_s, **_until_offered(base_url, waiter, int(slot), answered)}
        )
    return summary(samples, statuses)


def _until_offered(base_url: str, token: str, slot: int, since: float) -> dict[str, float]:
    reads = 0
    while time.perf_counter() - since < POLL_LIMIT_S:
        reads += 1
        status, read_s, body = _call(base_url, "/api/v1/waitlist/offers/", token)
        if status == 200 and _lists_offer(body, slot):
            return {"visible_s": time.perf_counter() - since, "reads": reads, "read_s": read_s}
        time.sleep(0.005)
    return {"visible_s": float("inf"), "reads": reads, "read_s": 0.0}


def _lists_offer(body: bytes, slot: int) -> bool:
    listed = json.loads(body)
    offers = listed["results"] if isinstance(listed, dict) else listed
    return any(o.get("slot") == slot and o.get("status") == "offered" for o in offers)


def _call(
    base_url: str, path: str, token: str, body: bytes | None = None
) -> tuple[int, float, bytes]:
    """(status, seconds, body) of one request."""
    request = urllib.request.Request(  # noqa: S310 (loopback only)
        base_url + path,
        data=body,
        method="POST" if body is not None else "GET",
        headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"},
    )
    started = time.perf_counter()
    try:
        with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310
            return response.status, time.perf_counter() - started, response.read()
    except urllib.error.HTTPError as refused:
        return refused.code, time.perf_counter() - started, refused.read()


def summary(samples: list[dict[str, float]], statuses: dict[str, int]) -> dict[str, Any]:
    """The probe's figures: how soon the offer was visible after the cancellation's
    response (ms), at which read, and the cancellation's and a read's own latency."""
    seen = [s for s in samples if s["visible_s"] != float("inf")]
    visible = sorted(s["visible_s"] * 1000 for s in seen)
    return {
        "samples": len(samples),
        "statuses": statuses,
        "5xx": sum(count for code, count in statuses.items() if code.startswith("5")),
        "missed": len(samples) - len(seen),
        "first_read": sum(1 for s in seen if s["reads"] == 1),
        "visible_p50_ms": _percentile(visible, 50),
        "visible_p95_ms": _percentile(visible, 95),
        "visible_max_ms": round(max(visible), 2) if visible else None,
        "read_p50_ms": _percentile(sorted(s["read_s"] * 1000 for s in seen), 50),
        "cancel_p50_ms": _percentile(sorted(s["cancel_s"] * 1000 for s in samples), 50),
    }


def _percentile(ordered: list[float], percent: int) -> float | None:
    if not ordered:
        return None
    if len(ordered) == 1:
        return round(ordered[0], 2)
    return round(statistics.quantiles(ordered, n=100, method="inclusive")[percent - 1], 2)


# --- the verdict -------------------------------------------------------------------------

# Ratios to the same run's plain cancellation, never milliseconds (the machine's speed
# moves between hours; see benchmarks/report.py): the offer made inside a cancellation
# (the hold, the offer row, its audit row and event) may cost at most this much more.
CANCEL_OFFER_CPU_LIMIT = 1.6  # CPU per request, with a waiting entry vs without
CANCEL_OFFER_P95_LIMIT = 1.6  # p95, the same


def _cpu(v: dict[str, Any]) -> float | None:
    if "app_cpu_s" not in v or not v.get("requests"):
        return None
    return (v["app_cpu_s"] + v.get("db_cpu_s", 0.0)) / v["requests"]


def _times(
    name: str, value: float | None, base: float | None, limit: float, unit: float
) -> tuple[str, bool, str] | None:
    if value is None or not base:
        return None
    ratio = value / base
    return (name, ratio <= limit, f"{ratio:.2f}x ({value * unit:.2f} vs {base * unit:.2f} ms)")


def checks(r: dict[str, Any]) -> list[tuple[str, bool, str]]:
    """The waitlist's cancellation beside the plain one, and the probe: every offer listed
    by the first read after the cancellation answered. Empty for a run without them."""
    plain, waiting = r.get(PLAIN_SIDE), r.get(WAITING_SIDE)
    out: list[tuple[str, bool, str] | None] = []
    if plain and waiting:
        out.append(
            _times(
                f"cancel_waitlist_c4 CPU/request ≤ {CANCEL_OFFER_CPU_LIMIT:g}x cancel_plain_c4",
                _cpu(waiting),
                _cpu(plain),
                CANCEL_OFFER_CPU_LIMIT,
                1000,
            )
        )
        out.append(
            _times(
                f"cancel_waitlist_c4 p95 ≤ {CANCEL_OFFER_P95_LIMIT:g}x cancel_plain_c4 p95",
                waiting["p95_us"],
                plain["p95_us"],
                CANCEL_OFFER_P95_LIMIT,
                1 / 1000,
            )
        )
    probe = r.get("cancel_to_offer")
    if probe:
        first, samples = probe["first_read"], probe["samples"]
        out.append(
            (
                "every offer listed by the first read after the cancellation's response",
                bool(samples) and first == samples,
                f"{first} of {samples} ({probe['missed']} not listed within {POLL_LIMIT_S:g} s)",
            )
        )
    return [check for check in out if check is not None]


def print_probe(r: dict[str, Any]) -> None:
    """One line for the probe under the table (its figures are per cancellation, not a
    wrk run's)."""
    probe = r.get("cancel_to_offer")
    if not probe:
        return
    print(
        f"cancel → offer visible (sequential, {probe['samples']} cancellations): "
        f"p50 {probe['visible_p50_ms']} ms, p95 {probe['visible_p95_ms']} ms, "
        f"max {probe['visible_max_ms']} ms after the cancellation's response; "
        f"{probe['first_read']} at the first read (a read alone: p50 {probe['read_p50_ms']} "
        f"ms; the cancellation: p50 {probe['cancel_p50_ms']} ms)"
    )


# --- on its own --------------------------------------------------------------------------


def main() -> None:
    """``python -m benchmarks.cancel_offer [--skip-seed]``: this scenario alone, on the
    database `make bench` seeds (seeded again here unless --skip-seed; a skipped seed's
    inputs are spent once they were cancelled). Wrap it in ``flock /tmp/bench.lock``."""
    import argparse

    from benchmarks import run
    from benchmarks.report import cpu_ms, ms

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--skip-seed", action="store_true")
    options = parser.parse_args()
    run.preflight()
    run.clear_redis()
    if not options.skip_seed:
        run.prepare_database()
    results: dict[str, Any] = {}
    run_scenarios(results)
    (WORK / "cancel_offer.json").write_text(json.dumps(results, indent=2))
    for name in (PLAIN_SIDE, WAITING_SIDE):
        v = results[name]
        print(
            f"{name:20} {v['rps']:8.1f} req/s  p50 {ms(v['p50_us'])} p95 {ms(v['p95_us'])} "
            f"p99 {ms(v['p99_us'])} ms  app CPU {cpu_ms(v, 'app_cpu_s')} db CPU "
            f"{cpu_ms(v, 'db_cpu_s')} ms/req  {v['statuses']}"
        )
    print_probe(results)
    verdicts = checks(results)
    for name, ok, detail in verdicts:
        print(f"  [{'PASS' if ok else 'FAIL'}] {name}: {detail}")
    raise SystemExit(0 if all(ok for _, ok, _ in verdicts) else 1)


if __name__ == "__main__":
    main()
