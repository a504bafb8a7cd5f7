"""One run of the whole stack for :mod:`tests.benchmarks.bench_replay`: the processes, the
watch of their progress and milestones, the checks against the batch report.

:func:`run_stack` starts, on a new embedded broker and a new PostgreSQL database, ``W``
workers, ``motcua sink`` and ``motcua ingest FILE`` at once, follows them until the live
snapshots equal the batch report and the sink has stored everything, checks the SQL store,
and returns a :class:`RunFigures`. Each call is independent of the previous ones (its own
broker, database, consumer groups and data directory), so several worker counts can be
compared on one input in one process, one after the other.
"""

from __future__ import annotations

import contextlib
import os
import re
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

PROGRESS_SECONDS = 30.0
SETTLE_SECONDS = 30.0
"""How long the live snapshots may take to equal the batch report once the workers have no
lag (a snapshot is published within a second of the contribution that changed it)."""
SNAPSHOTS_READ_SECONDS = 600.0
"""Time allowed to read the whole kpi topic once: a 10 M-line run with two workers left
361,555 snapshots there, and the default 30 s ran out with the broker at 18 GB."""


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
    cpu: dict[str, float] = field(default_factory=dict)
    """CPU seconds of each worker when the live numbers first equalled the batch, and of
    the sink when it had stored everything."""

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


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds a process has used so far (all its threads); 0 if gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            fields = fh.read().rsplit(b")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def backends_cpu(database: str) -> float:
    """CPU seconds of the PostgreSQL server processes serving ``database`` now (their
    process titles name it: ``postgres: … <user> <database> <client> …``)."""
    total = 0.0
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as fh:
                title = fh.read().split(b"\0")[0].decode(errors="replace")
        except OSError:
            continue
        if title.startswith("postgres: ") and f" {database} " in title:
            total += cpu_seconds(int(pid))
    return total


def held_partitions(log: Path) -> str:
    """The events partitions a worker last rebuilt its tracker for (its log's last
    ``tracker rebuilt … on partitions [...]`` line), e.g. ``[0, 2]``; ``?`` if none."""
    found = re.findall(r"tracker rebuilt: .* on partitions (\[[0-9, ]*\])",
                       log.read_text(errors="replace")) if log.exists() else []
    return found[-1] if found else "?"


def share(held: str, partitions: list[int]) -> int:
    """The events on the partitions of ``held`` (:func:`held_partitions`)."""
    return sum(partitions[int(p)] for p in re.findall(r"\d+", held) if int(p) < len(partitions))


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


def records_per_partition(settings: Any, bootstrap: str, topic: str) -> list[int]:
    """Records on each partition of ``topic``, in partition order."""
    from runtime.kafka import end_offsets, reader

    consumer = reader(settings, bootstrap, "bench-replay")
    try:
        ends = end_offsets(consumer, topic)
    finally:
        consumer.close()
    return [n for _, n in sorted((tp.partition, n) for tp, n in ends.items())]


def lags(settings: Any, bootstrap: str) -> tuple[dict[str, int], dict[str, int], int]:
    """(the workers' lag per topic, the sink's lag per topic, records on the events topic)."""
    from runtime.kafka import end_offsets, group_lag, reader
    from runtime.topics import pipeline_group, sink_group

    t = settings.topics
    consumer = reader(settings, bootstrap, "bench-replay")
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
    database = str(settings.database_url.get_secret_value()).rsplit("/", 1)[-1]
    while time.monotonic() - started < timeout:
        stack.check_alive()
        now = time.monotonic() - started
        if stack.ingest.poll() is None:  # its last figure before it exits
            stack.cpu["ingest"] = max(cpu_seconds(stack.ingest.pid),
                                      stack.cpu.get("ingest", 0.0))
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
            diffs = differences(read_snapshots(settings, bootstrap,
                                               timeout=SNAPSHOTS_READ_SECONDS), want)
            if not diffs:
                m["equal"] = time.monotonic() - started
                stack.cpu.update({f"worker-{i}": cpu_seconds(w.pid)
                                  for i, w in enumerate(stack.workers)})
                stack.cpu["sink at equal"] = cpu_seconds(stack.sink.pid)
                stack.cpu["PostgreSQL"] = backends_cpu(database)
                if broker_pid:
                    stack.cpu["broker"] = cpu_seconds(broker_pid)
        if "ingest" in m and not any(sink.values()) and published:
            # first caught up with the events; then again after the live numbers were
            # equal, with the snapshots that made them so (the SQL check follows)
            m.setdefault("sink events", time.monotonic() - started)
            if "equal" in m and "sink" not in m:
                m["sink"] = time.monotonic() - started
                stack.cpu["sink"] = cpu_seconds(stack.sink.pid)
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




# ------------------------------------------------------------------------------ one run
@dataclass
class RunFigures:
    """What one run of the stack measured (seconds from its start)."""

    workers: int
    milestones: dict[str, float]
    cpu: dict[str, float]
    partitions: list[int]
    """events on each partition of the events topic"""
    contributions: list[int]
    """messages on each partition of the contributions topic (key: the unit, a total's
    unit included, so a big unit's partition gets more)"""
    held: list[str]
    """the events partitions each worker held at the end"""
    broker_peak: float
    load: tuple[float, float]
    """the 1-minute load average at the start and at the end"""

    @property
    def equal(self) -> float:
        return self.milestones["equal"]

    def worker_cpu(self) -> list[float]:
        return [self.cpu.get(f"worker-{i}", 0.0) for i in range(self.workers)]


def run_stack(workers: int, events_file: Path, units_file: Path, run_dir: Path, want: Any,
              distinct: int, lines: int, db_base: str | None, timeout: float) -> RunFigures:
    """Replay ``events_file`` through ``workers`` worker(s), the sink and the ingest on a new
    broker and a new database, print its figures, check live and SQL against ``want``."""
    from motcua.soak.monitor import broker_pid
    from runtime.broker import embedded_broker, stop_process
    from runtime.settings import load_settings
    from runtime.topics import declared_topics, ensure_topics
    from tests import pgserver

    run_dir.mkdir(parents=True)
    load_start = os.getloadavg()[0]
    with contextlib.ExitStack() as stack:
        db_url = stack.enter_context(scratch_database(db_base) if db_base
                                     else pgserver.scratch_database())
        bootstrap = stack.enter_context(embedded_broker())
        settings = load_settings(kafka_bootstrap=bootstrap, data_dir=run_dir,
                                 consumer_group_prefix=f"replay-{uuid.uuid4().hex[:8]}",
                                 units_file=units_file, database_url=db_url)
        ensure_topics(bootstrap, declared_topics(settings), settings)
        bpid = broker_pid(bootstrap)
        started = time.monotonic()
        replay = start_stack(settings, bootstrap, db_url, events_file, workers, run_dir)
        for proc in replay.processes().values():
            stack.callback(stop_process, proc, timeout=30)
        print(f"started: {workers} worker(s) on {settings.topic_partitions} events "
              f"partitions, motcua sink (PostgreSQL database {db_url.rsplit('/', 1)[-1]}), "
              f"motcua ingest; logs in {run_dir}; load average {load_start:.1f}", flush=True)
        watch(settings, bootstrap, replay, started, want, bpid, timeout)
        broker_peak = rss_mib(bpid, "VmHWM") if bpid else 0.0
        partitions = records_per_partition(settings, bootstrap, settings.topics.events)
        contributions = records_per_partition(settings, bootstrap,
                                              settings.topics.contributions)
        m = replay.milestones
        print(check_store(db_url, want, distinct), flush=True)
        figures = RunFigures(workers, dict(m), dict(replay.cpu), partitions, contributions,
                             [held_partitions(run_dir / f"worker-{i}.log")
                              for i in range(workers)],
                             broker_peak, (load_start, os.getloadavg()[0]))
    print(f"events: {lines:,}")
    print(f"ingest finished: {m['ingest']:,.0f} s ({lines / m['ingest']:,.0f} lines/s)")
    print(f"workers caught up: {m['workers']:,.0f} s ({lines / m['workers']:,.0f} events/s)")
    print(f"time to live numbers equal to the batch: {m['equal']:,.0f} s")
    print(f"sink caught up with the events: {m['sink events']:,.0f} s "
          f"({lines / m['sink events']:,.0f} records/s)")
    print(f"sink caught up with the live numbers (SQL equal to the batch): "
          f"{m['sink']:,.0f} s")
    print(f"events per partition: {', '.join(f'{n:,}' for n in partitions)}; "
          f"contributions messages per partition: "
          f"{', '.join(f'{n:,}' for n in contributions)}")
    for i, (cpu, held) in enumerate(zip(figures.worker_cpu(), figures.held, strict=True)):
        print(f"worker-{i}: events partitions {held} "
              f"({share(held, partitions):,} events), {cpu:,.0f} CPU s to live = batch")
    total = sum(figures.worker_cpu())
    print(f"workers' CPU to live = batch: {total:,.0f} s in all, "
          f"{lines / total if total else 0:,.0f} events per worker CPU second")
    print(f"sink: {figures.cpu.get('sink', 0.0):,.0f} CPU s to SQL = batch")
    stack_cpu = {"workers": total, "sink": figures.cpu.get("sink at equal", 0.0),
                 **{k: figures.cpu.get(k, 0.0) for k in ("ingest", "broker", "PostgreSQL")}}
    every = sum(stack_cpu.values())
    cores = os.cpu_count() or 1
    print("CPU s of the whole stack to live = batch: "
          + ", ".join(f"{k} {v:,.0f}" for k, v in stack_cpu.items())
          + f"; {every:,.0f} in all, at least {every / cores:,.0f} s of wall time on "
          f"{cores} core(s)")
    print(f"embedded broker's peak RSS: {broker_peak:,.0f} MiB (memory storage)")
    print(f"load average (1 min): {figures.load[0]:.1f} at the start, "
          f"{figures.load[1]:.1f} at the end", flush=True)
    return figures
