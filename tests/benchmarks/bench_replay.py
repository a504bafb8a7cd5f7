"""A province-year replayed through the whole stack: time from start to live numbers equal
to the batch report (issue 17).

    python -m tests.benchmarks.bench_replay [--events N] [--communes C]
                                            [--workers W[,W2,...]] [--db URL] [--keep]

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
   embedded broker's peak RSS (``VmHWM``). Also: the events on each partition of the
   events topic, the partitions each worker held at the end and its CPU seconds up to the
   live numbers equal to the batch (so the workers' events per CPU second), the load average.
5. **Comparison** (``--workers 1,2``): steps 2–4 run once per count, one after the other,
   each on a new broker, database and data directory, on the same input and batch report
   (made once); then one line per count: time to live numbers equal to the batch, events/s
   and the speed-up against the first count. Every run is checked (live and SQL equal to
   the batch) on its own. The runs share the machine with whatever else runs then: compare
   counts in one invocation, and repeat a count (``1,2,1``) to see the drift of the load.

The stack of one run: :mod:`tests.benchmarks.replay_stack`.

Not part of ``make test``: ``make soak`` runs it (``REPLAY_EVENTS`` for another size). The
embedded broker is in memory: 10,000,000 events take ~12 GB of RSS there.
"""

from __future__ import annotations

import argparse
import multiprocessing
import os
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor
from datetime import date
from pathlib import Path
from typing import Any

from tests.benchmarks.replay_stack import RunFigures, run_stack


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
def worker_counts(text: str) -> list[int]:
    """``--workers``: one count (``2``) or several, compared on one input (``1,2``)."""
    try:
        counts = [int(part) for part in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a list of worker counts: {text!r}") from None
    if not counts or min(counts) < 1:
        raise argparse.ArgumentTypeError(f"worker counts must be ≥ 1: {text!r}")
    return counts


def print_comparison(runs: list[RunFigures], lines: int) -> None:
    """One line per run: time to live = batch, events/s, speed-up against the first run."""
    first = runs[0]
    print(f"comparison on the same {lines:,} lines, one run after the other:", flush=True)
    for run in runs:
        cpu = sum(run.worker_cpu())
        print(f"  {run.workers} worker(s): live = batch in {run.equal:,.0f} s, "
              f"{lines / run.equal:,.0f} events/s, speed-up {first.equal / run.equal:.2f}× "
              f"vs {first.workers} worker(s); workers' CPU {cpu:,.0f} s; load "
              f"{run.load[0]:.1f}→{run.load[1]:.1f}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int,
                        default=int(os.environ.get("REPLAY_EVENTS") or 10_000_000))
    parser.add_argument("--communes", type=int, default=90,
                        help="communes before the merger (a third as many after it)")
    parser.add_argument("--workers", type=worker_counts, default=[1],
                        help="worker count, or counts to compare on one input: 1,2")
    parser.add_argument("--db", default=None,
                        help="PostgreSQL: a new database is made beside this one (default: "
                        "on the test server, tests.pgserver: MOTCUA_TEST_DATABASE_URL or a "
                        "throwaway server)")
    parser.add_argument("--timeout", type=float, default=4 * 3600,
                        help="seconds allowed to each run")
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    args = parser.parse_args()

    from kpi.batch import fold_file
    from kpi.reconcile import batch_reports
    from kpi.registry import UnitRegistry

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

    runs: list[RunFigures] = []
    for n, workers in enumerate(args.workers, 1):
        print(f"-- run {n} of {len(args.workers)}: {workers} worker(s)", flush=True)
        runs.append(run_stack(workers, events_file, units_file, work / f"run-{n}", want,
                              distinct, lines, args.db, args.timeout))
    if len(runs) > 1:
        print_comparison(runs, lines)
    if not args.keep:
        import shutil

        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
