"""Benchmark of the SQL sink into PostgreSQL and of a ``/metrics`` scrape at scale.

    python -m tests.benchmarks.bench_sink [--events N] [--units U] [--db URL]
                                          [--bootstrap H:P] [--scrapes K] [--phases]

1. **Sink**: a simulated stream of ~``N`` events (shuffled, 1% duplicates, 0.1% invalid)
   is published to fresh topics on the broker (embedded Tansu unless ``--bootstrap``),
   then one :class:`consumers.sink.Sink` drains it into a throwaway PostgreSQL schema
   (dropped afterwards). Figures: records/s from start (group join and migrations
   included) and from the first committed batch (steady state).
   In the same run, the same event records are written by PostgreSQL's ``COPY`` into a
   table of the same shape (primary key (source, id) + the event as ``jsonb``), the
   floor no SQL writer beats, three times (each into a fresh table): ``ratio to COPY: r``
   is the sink's steady-state records/s over the best of COPY's three rows/s. With
   ``--phases`` the sink's phases are timed too (wall seconds summed over the calls of
   each: poll, rows, the writer's steps; CPU seconds of the consumer and writer threads;
   the PostgreSQL server processes' CPU, from /proc), to say which phase limits it.
2. **Scrape**: ``start_metrics`` with ``U`` units × 3 current periods (month, quarter, year)
   of KPI snapshots on its board; an HTTP GET of ``/metrics`` is timed ``K`` times (plain
   and gzip, as Prometheus asks), with the response size.

Not part of ``make test``; prints the figures.
"""

from __future__ import annotations

import argparse
import contextlib
import gzip
import random
import statistics
import tempfile
import threading
import time
import urllib.request
import uuid
from pathlib import Path
from typing import Any

from prometheus_client import CollectorRegistry
from sqlalchemy import Engine, func, select

from consumers import store, tables
from consumers.kpi_board import current_periods
from consumers.metrics import start_metrics
from consumers.sink import Sink
from kpi.counters import Counters
from kpi.report import build_report
from kpi.simulate import SimulationConfig, generate_lines
from runtime.broker import bootstrap_for, free_port
from runtime.ingest import ingest_file
from runtime.kafka import producer
from runtime.settings import Settings, load_settings
from runtime.topics import declared_topics, ensure_topics
from tests import pgserver
from tests.pgschema import pg_schema

EVENTS_PER_SCALE = 133_000  # events of one simulated Tân Hồng year at scale 1 (measured)
_LOCAL = urllib.request.build_opener(urllib.request.ProxyHandler({}))


def _settings(bootstrap: str) -> Settings:
    suffix = uuid.uuid4().hex[:10]
    return load_settings(
        kafka_bootstrap=bootstrap,
        topics={"events": f"bench.events.{suffix}", "dlq": f"bench.dlq.{suffix}",
                "contributions": f"bench.contributions.{suffix}", "kpi": f"bench.kpi.{suffix}"},
        consumer_group_prefix=f"bench-{suffix}",
    )


def _committed(engine: Engine, group: str) -> dict[str, int]:
    t = tables.sink_offsets
    q = (select(t.c.topic, func.sum(t.c.next_offset)).where(t.c.group_id == group)
         .group_by(t.c.topic))
    with engine.connect() as conn:
        return {topic: int(n) for topic, n in conn.execute(q)}


# --------------------------------------------------------------------------- sink


def bench_copy(db_url: str, lines: list[bytes], runs: int = 3) -> float:
    """The best rows/s of ``runs`` ``COPY``s of the valid, distinct events among ``lines``
    into ``(source, id) primary key, payload jsonb`` (a fresh table each, one transaction)."""
    import orjson
    import psycopg

    rows: dict[tuple[str, str], str] = {}
    for line in lines:
        try:
            event = orjson.loads(line)
            rows.setdefault((str(event["source"]), str(event["id"])), line.decode())
        except Exception:  # noqa: S112 - the invalid lines the simulator adds
            continue
    rates: list[float] = []
    with pg_schema(db_url, prefix="benchcopy") as url:
        dsn = url.replace("postgresql+psycopg://", "postgresql://")
        with psycopg.connect(dsn) as conn, conn.cursor() as cur:
            for _ in range(runs):
                cur.execute("DROP TABLE IF EXISTS copy_events")
                cur.execute("CREATE TABLE copy_events (source text, id text, "
                            "payload jsonb NOT NULL, PRIMARY KEY (source, id))")
                conn.commit()
                t0 = time.perf_counter()
                with cur.copy("COPY copy_events (source, id, payload) FROM STDIN") as copy:
                    for (source, event_id), payload in rows.items():
                        copy.write_row((source, event_id, payload))
                conn.commit()
                rates.append(len(rows) / (time.perf_counter() - t0))
    rate = max(rates)
    print(f"COPY → PostgreSQL: {len(rows):,} rows (primary key + jsonb), best of {runs}: "
          f"{rate:,.0f} rows/s ({', '.join(f'{r:,.0f}' for r in rates)})", flush=True)
    return rate


class _Phases:
    """Wall seconds of the sink's phases, summed over their calls (``--phases``): the
    functions are wrapped while the benchmark runs, and restored after."""

    WRAPPED = (  # (module, attribute, label)
        ("consumers.rdconsumer", "RdConsumer.poll", "poll (librdkafka, consumer thread)"),
        ("consumers.sink", "build_batch", "records → rows (consumer thread)"),
        ("consumers.flush", "FlushPipeline._flush", "flush in the writer thread"),
        ("consumers.sink", "deliver", "flush on the consumer thread (first, retries)"),
        ("consumers.store", "load_events", "  read stored events"),
        ("consumers.store", "insert_new_events", "  COPY new events"),
        ("consumers.store", "insert_raw_events", "  upsert events"),
        ("consumers.writer", "judge_dossiers", "  judge dossiers"),
        ("consumers.store", "write_dossiers", "  write ledger rows"),
        ("consumers.store", "upsert_offsets", "  upsert offsets"),
    )

    def __init__(self) -> None:
        import collections

        self.wall: dict[str, float] = collections.defaultdict(float)
        self.calls: dict[str, int] = collections.defaultdict(int)
        self.cpu: dict[str, float] = collections.defaultdict(float)
        self._restore: list[tuple[object, str, object]] = []

    def __enter__(self) -> _Phases:
        import importlib

        for module, path, label in self.WRAPPED:
            owner: object = importlib.import_module(module)
            *parents, name = path.split(".")
            for parent in parents:
                owner = getattr(owner, parent)
            original = getattr(owner, name)
            self._restore.append((owner, name, original))
            setattr(owner, name, self._timed(original, label))
        return self

    def _timed(self, fn: Any, label: str) -> Any:
        thread_cpu = label == "flush in the writer thread"

        def timed(*args: Any, **kwargs: Any) -> Any:
            t0, c0 = time.perf_counter(), time.thread_time()
            try:
                return fn(*args, **kwargs)
            finally:
                self.wall[label] += time.perf_counter() - t0
                self.calls[label] += 1
                if thread_cpu:
                    self.cpu["writer thread"] += time.thread_time() - c0

        return timed

    def __exit__(self, *exc: object) -> None:
        for owner, name, original in reversed(self._restore):
            setattr(owner, name, original)

    def report(self, process_cpu: float, postgres_cpu: float | None) -> None:
        print("phases (wall seconds summed over calls; threads overlap):")
        for _, _, label in self.WRAPPED:
            if self.calls.get(label):
                print(f"  {label:48s} {self.wall[label]:6.2f} s  ({self.calls[label]} calls)")
        writer = self.cpu.get("writer thread", 0.0)
        pg = "n/a" if postgres_cpu is None else f"{postgres_cpu:.2f} s"
        print(f"  CPU: sink process {process_cpu:.2f} s (writer thread {writer:.2f} s, the "
              f"rest mostly the consumer thread), PostgreSQL processes {pg}")


def _postgres_cpu() -> float | None:
    """CPU seconds used so far by the processes named ``postgres`` (Linux /proc), or None."""
    import os

    try:
        tick = os.sysconf("SC_CLK_TCK")
        total = 0.0
        for pid in os.listdir("/proc"):
            if not pid.isdigit():
                continue
            try:
                with open(f"/proc/{pid}/stat") as f:
                    stat = f.read()
            except OSError:
                continue
            if stat[stat.index("(") + 1 : stat.rindex(")")] == "postgres":
                fields = stat[stat.rindex(")") + 2 :].split()
                total += (int(fields[11]) + int(fields[12])) / tick
        return total
    except (OSError, ValueError):
        return None


def bench_sink(bootstrap: str, db_url: str, events: int, phases: bool = False) -> None:
    settings = _settings(bootstrap)
    ensure_topics(bootstrap, declared_topics(settings), settings)
    scale = max(events / EVENTS_PER_SCALE, 0.01)
    config = SimulationConfig(seed=3, scale=scale, shuffle=True, duplicates=0.01, invalid=0.001)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "events.jsonl"
        lines = list(generate_lines(config))
        copy_rate = bench_copy(db_url, lines)
        path.write_bytes(b"\n".join(lines) + b"\n")
        prod = producer(settings, bootstrap)
        try:
            t0 = time.perf_counter()
            summary = ingest_file(path, prod, settings)
            prod.flush(60)
            publish_s = time.perf_counter() - t0
        finally:
            prod.close()
    expected = {settings.topics.events: summary.published,
                settings.topics.dlq: summary.dead_lettered}
    records = sum(expected.values())
    print(f"published {summary.published:,} events + {summary.dead_lettered:,} dead letters "
          f"in {publish_s:.1f} s ({records / publish_s:,.0f} records/s)", flush=True)

    with pg_schema(db_url, prefix="bench") as url:
        engine = store.make_engine(url)
        group = f"{settings.consumer_group_prefix}-sink"
        sink = Sink(settings, engine, bootstrap, group_id=group)
        stop = threading.Event()
        thread = threading.Thread(target=sink.run, args=(stop,), daemon=True)
        timer = _Phases()
        if phases:
            timer.__enter__()
        try:
            start = time.perf_counter()
            cpu0, pg0 = time.process_time(), _postgres_cpu()
            thread.start()
            first_at: float | None = None
            first_done = 0
            deadline = time.monotonic() + 900
            while True:
                if time.monotonic() > deadline:
                    raise SystemExit("the sink did not catch up within 15 minutes")
                if not thread.is_alive():
                    raise SystemExit("the sink stopped early")
                try:
                    done = _committed(engine, group)
                except Exception:  # tables not migrated yet
                    done = {}
                if first_at is None and done:
                    first_at, first_done = time.perf_counter(), sum(done.values())
                if all(done.get(t, 0) >= n for t, n in expected.items()):
                    break
                time.sleep(0.05)
            end = time.perf_counter()
            cpu1, pg1 = time.process_time(), _postgres_cpu()
        finally:
            stop.set()
            thread.join(60)
            if phases:
                timer.__exit__()
        with engine.connect() as conn:
            stored = conn.execute(select(func.count()).select_from(tables.raw_events)).scalar()
            ledger = conn.execute(select(func.count()).select_from(tables.dossiers)).scalar()
        engine.dispose()
    assert first_at is not None
    total_s = end - start
    steady_s = end - first_at
    print(f"sink → PostgreSQL: {records:,} records ({stored:,} distinct events, {ledger:,} "
          f"ledger rows) in {total_s:.1f} s from start = {records / total_s:,.0f} records/s; "
          f"after the first batch {records - first_done:,} in {steady_s:.1f} s = "
          f"{(records - first_done) / steady_s:,.0f} records/s; {sink.batches} batches")
    print(f"ratio to COPY: {(records - first_done) / steady_s / copy_rate:.3f}")
    if phases:
        timer.report(cpu1 - cpu0, None if pg0 is None or pg1 is None else pg1 - pg0)


# --------------------------------------------------------------------------- scrape


def _report(unit: str, period: str, now: float, rng: random.Random) -> dict[str, object]:
    received = rng.randint(50, 5000)
    online = rng.randint(0, received)
    resolved = rng.randint(0, received)
    early = rng.randint(0, resolved)
    on_time = rng.randint(0, resolved - early)
    in_progress = received - resolved
    counts = {
        "received": received, "received_online": online, "received_direct": received - online,
        "resolved": resolved, "resolved_early": early, "resolved_on_time": on_time,
        "resolved_late": resolved - early - on_time, "in_progress": in_progress,
        "in_progress_overdue": rng.randint(0, in_progress), "digitized": rng.randint(0, received),
        "fee_dossiers": received // 3, "paid_online": rng.randint(0, received // 3),
        "rated": resolved // 2, "satisfied": rng.randint(0, resolved // 2),
    }
    return build_report(unit, period, Counters.from_mapping(counts), now, level="commune")


def bench_scrape(bootstrap: str, units: int, scrapes: int) -> None:
    settings = _settings(bootstrap)
    ensure_topics(bootstrap, declared_topics(settings), settings)
    port = free_port()
    served = start_metrics(settings, bootstrap, registry=CollectorRegistry(), port=port,
                           addr="127.0.0.1")
    try:
        now = time.time()
        rng = random.Random(5)
        for i in range(units):
            for period in current_periods(now):
                served.board.put(_report(f"U{i:05d}", period, now, rng))
        url = f"http://127.0.0.1:{port}/metrics"
        for encoding in ("identity", "gzip"):
            timings: list[float] = []
            size = 0
            body = b""
            for _ in range(scrapes):
                req = urllib.request.Request(url, headers={"Accept-Encoding": encoding})
                t0 = time.perf_counter()
                with _LOCAL.open(req, timeout=120) as resp:
                    body = resp.read()
                timings.append(time.perf_counter() - t0)
                size = len(body)
            plain = gzip.decompress(body) if encoding == "gzip" else body
            series = sum(1 for line in plain.splitlines()
                         if line.startswith((b"motcua_kpi_ratio{", b"motcua_kpi_items{")))
            print(f"scrape ({encoding}): {units:,} units × 3 periods = {len(served.board):,} "
                  f"snapshots, {series:,} KPI series, {size / 1e6:.1f} MB; "
                  f"median {statistics.median(timings) * 1000:,.0f} ms, "
                  f"min {min(timings) * 1000:,.0f} ms, max {max(timings) * 1000:,.0f} ms "
                  f"over {scrapes} GETs", flush=True)
    finally:
        served.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=50_000)
    parser.add_argument("--units", type=int, default=5_000)
    parser.add_argument("--scrapes", type=int, default=5)
    parser.add_argument("--db", default=None,
                        help="PostgreSQL URL (a schema is created); default: a database on "
                        "the test server (tests.pgserver: MOTCUA_TEST_DATABASE_URL or a "
                        "throwaway server)")
    parser.add_argument("--bootstrap", default=None, help="Kafka; default: embedded Tansu")
    parser.add_argument("--skip-sink", action="store_true")
    parser.add_argument("--skip-scrape", action="store_true")
    parser.add_argument("--phases", action="store_true",
                        help="time the sink's phases (which one limits it)")
    args = parser.parse_args()
    import logging

    logging.basicConfig(level=logging.WARNING)
    with bootstrap_for(load_settings(kafka_bootstrap=args.bootstrap)) as bootstrap:
        if not args.skip_sink:
            with (contextlib.nullcontext(args.db) if args.db
                  else pgserver.scratch_database()) as db_url:
                bench_sink(bootstrap, db_url, args.events, phases=args.phases)
        if not args.skip_scrape:
            bench_scrape(bootstrap, args.units, args.scrapes)


if __name__ == "__main__":
    main()
