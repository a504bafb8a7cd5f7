"""A province-year replayed through the whole stack: time from start to live numbers equal
to the batch report (issue 17).

    python -m tests.benchmarks.bench_replay [--events N] [--communes C] [--workers W]
                                            [--db URL] [--keep]

The recovery procedure of docs/operations.md ("Fault matrix": a broker lost its log), at a
province's scale: every source file of a year published again into an empty broker while
the worker(s) and the SQL sink run.

1. **Input** (before the clock): a simulated province-year (:mod:`kpi.simulate`, 2025,
   ``C`` communes merged into ``C / 3`` on 1 July with the district gone, the v1.1
   families: petitions, procedure catalogs, documents; 1% duplicate lines, 0.1% invalid
   ones) of about ``N`` events (default 10,000,000), written in business-time order to a
   JSONL file by a child process, and its unit registry. The file is folded for the batch
   report (:func:`kpi.batch.fold_file`) before the clock starts too.
2. **Start** (the clock starts): on a new embedded broker, ``W`` workers
   (``python -m streams.run``), ``motcua sink`` and ``motcua ingest FILE`` are started at
   once, each its own process with the same settings (unit registry included), the sink
   into a new PostgreSQL database (``--db`` for another).
3. **Progress** every 30 s: published, processed by the workers, stored by the sink, and
   the RSS of each process.
4. **Figures**: when ``motcua ingest`` exited; when the workers' group had no lag on the
   events, links and contributions topics; when the live snapshots on the kpi topic
   equalled the batch report (``time to live numbers equal to the batch``); when the sink
   first had no lag (it had stored every event), and when it had none after the live
   numbers were equal (it had stored their snapshots too): the SQL store's reports then
   equal the batch report, and it holds exactly the distinct valid events. Last, the
   embedded broker's peak RSS (``VmHWM``).

The processes and their watch: :mod:`tests.benchmarks.replay_stack`.

Not part of ``make test``: ``make soak`` runs it (``REPLAY_EVENTS`` for another size). The
embedded broker is in memory: 10,000,000 events take ~12 GB of RSS there.
"""

from __future__ import annotations

import argparse
import contextlib
import multiprocessing
import os
import tempfile
import time
import uuid
from concurrent.futures import ProcessPoolExecutor
from datetime import date
from pathlib import Path
from typing import Any

from tests.benchmarks.replay_stack import check_store, rss_mib, scratch_database, start_stack, watch


# ------------------------------------------------------------------------------ input
def province_config(communes: int, scale: float = 1.0) -> Any:
    """The simulator's configuration of the province-year (``scale`` set by
    :func:`scale_for`)."""
    from kpi.simulate import SimulationConfig

    return SimulationConfig(seed=17, start=date(2025, 1, 1), end=date(2025, 12, 31),
                            scale=scale, communes=communes,
                            merged_communes=max(1, communes // 3), reorganisation=True,
                            families=True, duplicates=0.01, invalid=0.001,
                            code_prefix="TP")


def scale_for(events: int, communes: int) -> float:
    """The scale that gives about ``events`` lines: lines = fixed + per-scale × scale (the
    catalogs do not grow with the scale), fitted on two small runs, then again on two runs
    of a twentieth and a tenth of the size that fit gave."""
    from kpi.simulate import generate_lines

    def lines_at(scale: float) -> int:
        return sum(1 for _ in generate_lines(province_config(communes, scale)))

    def fit(low: float, high: float) -> float:
        a, b = lines_at(low), lines_at(high)
        per_scale = max(b - a, 1) / (high - low)
        return max(low, low + (events - a) / per_scale)

    rough = fit(0.02, 0.04)
    # not quite linear (9.1 M lines for 10 M asked): fitted again near a tenth of the size
    return fit(rough / 20, rough / 10)


def write_input(path: Path, units: Path, events: int, communes: int) -> int:
    """Write the province-year to ``path`` and its registry to ``units``; the line count.
    Run in a child process: the simulator's memory stays out of this one."""
    from kpi.simulate import generate_lines
    from kpi.simulate.reorg import write_registry

    config = province_config(communes, scale_for(events, communes))
    write_registry(units, config.registry_rows())
    n = 0
    with path.open("wb", buffering=1 << 20) as fh:
        for line in generate_lines(config):
            fh.write(line)
            fh.write(b"\n")
            n += 1
    return n


# ------------------------------------------------------------------------------ main
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int,
                        default=int(os.environ.get("REPLAY_EVENTS") or 10_000_000))
    parser.add_argument("--communes", type=int, default=90,
                        help="communes before the merger (a third as many after it)")
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--db", default=None,
                        help="PostgreSQL: a new database is made beside this one (default: "
                        "on the test server, tests.pgserver: MOTCUA_TEST_DATABASE_URL or a "
                        "throwaway server)")
    parser.add_argument("--timeout", type=float, default=4 * 3600)
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    args = parser.parse_args()

    from kpi.batch import fold_file
    from kpi.reconcile import batch_reports
    from kpi.registry import UnitRegistry
    from motcua.soak.monitor import broker_pid
    from runtime.broker import embedded_broker, stop_process
    from runtime.settings import load_settings
    from runtime.topics import declared_topics, ensure_topics
    from tests import pgserver

    work = Path(tempfile.mkdtemp(prefix="bench-replay-"))
    events_file, units_file = work / "province-year.jsonl", work / "units.csv"
    t0 = time.monotonic()
    with ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn")) as pool:
        lines = pool.submit(write_input, events_file, units_file, args.events,
                            args.communes).result()
    print(f"input: {lines:,} lines of a province-year ({args.communes} communes merged into "
          f"{max(1, args.communes // 3)}), {events_file.stat().st_size / 2**30:.2f} GiB, "
          f"written in {time.monotonic() - t0:,.0f} s → {events_file}", flush=True)
    t0 = time.monotonic()
    batch = fold_file(events_file)
    registry = UnitRegistry.load(units_file)
    want = batch_reports(batch, time.time(), registry)
    distinct = batch.distinct_events()
    print(f"batch report: {len(want):,} buckets, {batch.valid:,} valid lines "
          f"({distinct:,} distinct events), {batch.invalid:,} invalid, in "
          f"{time.monotonic() - t0:,.0f} s", flush=True)

    with contextlib.ExitStack() as stack:
        db_url = stack.enter_context(scratch_database(args.db) if args.db
                                     else pgserver.scratch_database())
        bootstrap = stack.enter_context(embedded_broker())
        settings = load_settings(kafka_bootstrap=bootstrap, data_dir=work,
                                 consumer_group_prefix=f"replay-{uuid.uuid4().hex[:8]}",
                                 units_file=units_file, database_url=db_url)
        ensure_topics(bootstrap, declared_topics(settings), settings)
        bpid = broker_pid(bootstrap)
        started = time.monotonic()
        replay = start_stack(settings, bootstrap, db_url, events_file, args.workers, work)
        for proc in replay.processes().values():
            stack.callback(stop_process, proc, timeout=30)
        print(f"started: {args.workers} worker(s), motcua sink (PostgreSQL database "
              f"{db_url.rsplit('/', 1)[-1]}), motcua ingest; logs in {work}", flush=True)
        watch(settings, bootstrap, replay, started, want, bpid, args.timeout)
        broker_peak = rss_mib(bpid, "VmHWM") if bpid else 0.0
        m = replay.milestones
        print(check_store(db_url, want, distinct), flush=True)
        print(f"events: {lines:,}")
        print(f"ingest finished: {m['ingest']:,.0f} s ({lines / m['ingest']:,.0f} lines/s)")
        print(f"workers caught up: {m['workers']:,.0f} s "
              f"({lines / m['workers']:,.0f} events/s)")
        print(f"time to live numbers equal to the batch: {m['equal']:,.0f} s")
        print(f"sink caught up with the events: {m['sink events']:,.0f} s "
              f"({lines / m['sink events']:,.0f} records/s)")
        print(f"sink caught up with the live numbers (SQL equal to the batch): "
              f"{m['sink']:,.0f} s")
        print(f"embedded broker's peak RSS: {broker_peak:,.0f} MiB (memory storage)")
    if not args.keep:
        import shutil

        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
