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

Not part of ``make test``: ``make soak`` runs it (``REPLAY_EVENTS`` for another size). The
embedded broker is in memory: 10,000,000 events take ~12 GB of RSS there.
"""

from __future__ import annotations

import argparse
import contextlib
import multiprocessing
import os
import subprocess
import sys
import tempfile
import time
import uuid
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

PROGRESS_SECONDS = 30.0
SETTLE_SECONDS = 30.0
"""How long the live snapshots may take to equal the batch report once the workers have no
lag (a snapshot is published within a second of the contribution that changed it)."""


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


# ------------------------------------------------------------------------------ stack
@dataclass
class Stack:
    """The processes of one replay and when each milestone was first seen (seconds from
    the start)."""

    workers: list[subprocess.Popen[bytes]]
    sink: subprocess.Popen[bytes]
    ingest: subprocess.Popen[bytes]
    logs: Path
    milestones: dict[str, float] = field(default_factory=dict)

    def processes(self) -> dict[str, subprocess.Popen[bytes]]:
        named = {f"worker-{i}": w for i, w in enumerate(self.workers)}
        return {**named, "sink": self.sink, "ingest": self.ingest}

    def check_alive(self) -> None:
        for name, proc in self.processes().items():
            if name != "ingest" and proc.poll() is not None:
                raise SystemExit(f"{name} exited with {proc.returncode}: see {self.logs}")
        if self.ingest.poll() not in (None, 0):
            raise SystemExit(f"motcua ingest failed ({self.ingest.returncode}): see "
                             f"{self.logs / 'ingest.log'}")


def rss_mib(pid: int, field: str = "VmRSS") -> float:
    """A process's resident set size now (``VmHWM``: its peak so far), in MiB; 0 if gone."""
    try:
        with open(f"/proc/{pid}/status") as fh:
            for line in fh:
                if line.startswith(f"{field}:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def start_stack(settings: Any, bootstrap: str, db_url: str, events_file: Path,
                workers: int, logs: Path) -> Stack:
    """Workers, sink and ingest at once, each a process of its own."""
    from streams.launcher import PROJECT_ROOT, spawn_worker, worker_env

    env = worker_env(settings, bootstrap, {"MOTCUA_DATABASE_URL": db_url})

    def motcua(name: str, *args: str) -> subprocess.Popen[bytes]:
        with (logs / f"{name}.log").open("ab") as out:
            return subprocess.Popen([sys.executable, "-m", "motcua", *args], cwd=PROJECT_ROOT,
                                    env=env, stdout=out, stderr=subprocess.STDOUT)

    procs = [spawn_worker(settings, bootstrap, logs / f"worker-{i}.log", loglevel="info",
                          env={"MOTCUA_DATABASE_URL": db_url}) for i in range(workers)]
    sink = motcua("sink", "sink", "--db", db_url)
    ingest = motcua("ingest", "ingest", str(events_file), "--bootstrap", bootstrap)
    return Stack(procs, sink, ingest, logs)


def lags(settings: Any, bootstrap: str) -> tuple[dict[str, int], dict[str, int], int]:
    """(the workers' lag per topic, the sink's lag per topic, records on the events topic)."""
    from kafka import KafkaConsumer

    from runtime.kafka import end_offsets, group_lag
    from runtime.topics import pipeline_group, sink_group

    t = settings.topics
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False,
                             client_id="bench-replay", **settings.kafka_client_options())
    try:
        workers = group_lag(settings, bootstrap, pipeline_group(settings),
                            [t.events, t.links, t.contributions], consumer=consumer)
        sink = group_lag(settings, bootstrap, sink_group(settings),
                         [t.events, t.dlq, t.kpi], consumer=consumer)
        published = sum(end_offsets(consumer, t.events).values())
    finally:
        consumer.close()
    return workers, sink, published


def watch(settings: Any, bootstrap: str, stack: Stack, started: float, want: Any,
          broker_pid: int | None, timeout: float) -> None:
    """Follow the replay until the sink has stored everything, recording the milestones
    and printing progress; the live snapshots are compared once the workers have no lag."""
    from kpi.reconcile import differences
    from streams.idle import read_snapshots

    last_print = 0.0
    diffs: list[str] = []
    while time.monotonic() - started < timeout:
        stack.check_alive()
        now = time.monotonic() - started
        m = stack.milestones
        if "ingest" not in m and stack.ingest.poll() == 0:
            m["ingest"] = now
        workers, sink, published = lags(settings, bootstrap)
        if "ingest" in m and "workers" not in m and published and not any(workers.values()):
            m["workers"] = time.monotonic() - started
        elif "workers" in m and "equal" not in m and now - m["workers"] > SETTLE_SECONDS:
            raise SystemExit(f"{len(diffs)} live snapshot(s) differ from the batch report "
                             f"{SETTLE_SECONDS:.0f} s after the workers caught up: "
                             f"{diffs[:5]}")
        if "workers" in m and "equal" not in m:
            diffs = differences(read_snapshots(settings, bootstrap), want)
            if not diffs:
                m["equal"] = time.monotonic() - started
        if "ingest" in m and not any(sink.values()) and published:
            # first caught up with the events; then again after the live numbers were
            # equal, with the snapshots that made them so (the SQL check follows)
            m.setdefault("sink events", time.monotonic() - started)
            if "equal" in m and "sink" not in m:
                m["sink"] = time.monotonic() - started
        if now - last_print >= PROGRESS_SECONDS or ("sink" in m and "equal" in m):
            last_print = now
            rss = {name: rss_mib(p.pid) for name, p in stack.processes().items()
                   if p.poll() is None}
            if broker_pid:
                rss["broker"] = rss_mib(broker_pid)
            print(f"[{now:6.0f} s] published {published:,}; workers' lag "
                  f"{sum(workers.values()):,} {dict(workers)}; sink's lag "
                  f"{sum(sink.values()):,}; RSS MiB "
                  + ", ".join(f"{k} {v:,.0f}" for k, v in rss.items()), flush=True)
        if "sink" in m and "equal" in m:
            return
        time.sleep(1.0)
    raise SystemExit(f"the replay did not finish within {timeout:.0f} s: {stack.milestones}")


# ------------------------------------------------------------------------------ SQL
@contextlib.contextmanager
def scratch_database(base: str) -> Any:
    """A new PostgreSQL database beside ``base``'s (dropped afterwards); yields its URL."""
    import psycopg
    from sqlalchemy.engine import make_url

    url = make_url(base)
    name = f"motcua_replay_{uuid.uuid4().hex[:8]}"
    admin = url.set(drivername="postgresql", database=url.database or "postgres")
    dsn = admin.render_as_string(hide_password=False)
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield url.set(database=name).render_as_string(hide_password=False)
    finally:
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def check_store(db_url: str, want: Any, distinct: int) -> str:
    """The SQL store's reports and raw events against the batch report."""
    from motcua.soak.check import store_problems

    problems = store_problems(db_url, want, distinct)
    if problems:
        raise SystemExit("; ".join(problems))
    return f"SQL store: every report equal to the batch, {distinct:,} events"


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
