"""The processes of one replay for :mod:`tests.benchmarks.bench_replay`: start them, watch
their progress and milestones, check the SQL store against the batch report.
"""

from __future__ import annotations

import contextlib
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
