"""How fast ``motcua web`` answers on a province-year (issue 23).

    python -m tests.benchmarks.bench_web [--scale S] [--requests N] [--db URL]

1. **Input**: a simulated province-year (:mod:`kpi.simulate`, 2025, ~110 communes merged
   into 36 on 1 July with the district gone, the v1.1 families) and its registry — about
   150 units; ``--scale`` sets the dossiers (1.0: ~170,000 events).
2. **Store**: a new PostgreSQL schema (``--db`` for another database), filled through the
   sink's writer (:func:`consumers.writer.write_batch`): every event, the ledger judged
   now, and every unit's batch reports (own and total) as the live pipeline publishes them.
3. **Pages**: the pages in this process (uvicorn in a thread), one admin login; ``N``
   requests of each page over HTTP, one at a time: the tree (``/``, the province, scope
   total), a unit page and a warnings page (overdue list), each request for a unit drawn
   at random and a month of 2025 drawn at random.

The pages start as a server does: a background thread reads every stored period's reports
once (timed), and the requests begin when it is done. Prints the milliseconds of each page
(first request, median, p95) and ``p95 page ms: N`` over all three pages' requests (the
reports are re-read only for a period whose snapshots changed: not during this run).
Target: N ≤ 300 on the reference machine.
"""

from __future__ import annotations

import argparse
import contextlib
import random
import statistics
import tempfile
import time
from datetime import date
from pathlib import Path

import httpx

from consumers.store import make_engine, upgrade
from kpi.registry import UnitRegistry
from kpi.simulate import SimulationConfig, generate_lines, write_jsonl, write_registry
from tests.pgschema import pg_schema
from tests.web.fill import batch_reports, write_store
from tests.web.site import add_user, running


def province(scale: float) -> SimulationConfig:
    return SimulationConfig(seed=17, start=date(2025, 1, 1), end=date(2025, 12, 31),
                            scale=scale, communes=110, merged_communes=36,
                            reorganisation=True, families=True, code_prefix="TP")


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[max(0, int(round(0.95 * len(ordered))) - 1)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--requests", type=int, default=40)
    parser.add_argument("--db", default=None)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-web-") as tmp, contextlib.ExitStack() as st:
        tmpdir = Path(tmp)
        cfg = province(args.scale)
        events, units = tmpdir / "events.jsonl", tmpdir / "units.csv"
        t0 = time.monotonic()
        write_jsonl(events, generate_lines(cfg))
        write_registry(units, cfg.registry_rows())
        registry = UnitRegistry.load(units)
        lines = events.read_bytes().splitlines()
        print(f"input: {len(lines):,} events, {len(registry.codes)} units "
              f"({time.monotonic() - t0:.1f} s)", flush=True)
        url = args.db or st.enter_context(pg_schema(prefix="benchweb"))
        now = time.time()
        t0 = time.monotonic()
        reports = batch_reports(events, units, now)
        engine = make_engine(url)
        upgrade(engine)
        write_store(engine, lines, reports, now)
        engine.dispose()
        print(f"store: {len(reports):,} snapshots and the ledger written "
              f"({time.monotonic() - t0:.1f} s)", flush=True)
        password = add_user(url, "bench", "TP", "admin")
        day = date.today()
        top = sorted(v.code for v in registry.in_force_units(day) if v.parent is None)[0]
        communes = sorted(v.code for v in registry.in_force_units(day)
                          if v.level == "commune")
        rng = random.Random(23)
        months = [f"2025-{m:02d}" for m in range(1, 13)]
        t0 = time.monotonic()
        base = st.enter_context(running(url, units, warmed=True))
        print(f"pages up, every period's reports read ({time.monotonic() - t0:.1f} s)",
              flush=True)
        client = httpx.Client(base_url=base, timeout=120)
        assert client.post("/login", data={"login": "bench", "password": password}
                           ).status_code == 303
        pages = {
            "tree": lambda: f"/?unit={top}&period={rng.choice(months)}&scope=total",
            "unit": lambda: f"/units/{rng.choice(communes)}?period={rng.choice(months)}",
            "warnings": lambda: f"/units/{rng.choice(communes)}/warnings?tab=overdue",
        }
        warm: list[float] = []
        for name, path in pages.items():
            times = []
            for _ in range(args.requests):
                t = time.perf_counter()
                r = client.get(path())
                times.append((time.perf_counter() - t) * 1000)
                assert r.status_code == 200, (name, r.status_code, r.text[:300])
            warm += times
            print(f"{name}: first {times[0]:.0f} ms, median {statistics.median(times):.0f} "
                  f"ms, p95 {p95(times):.0f} ms ({len(times)} requests)", flush=True)
        print(f"p95 page ms: {p95(warm):.0f}")


if __name__ == "__main__":
    main()
