"""Worker memory per closed and per open dossier, and the restart time, through a real
worker on the embedded broker (issue 17).

    python -m tests.benchmarks.bench_state [--quick] [--closed N] [--open M] [--no-check]

1. **Input.** ``N`` closed dossiers (default 2,000,000; ``--quick``: 200,000) received over
   2025 and resolved 1–10 days later, in business-time order (a replay of a year): ~10%
   paid a fee online, ~15% rated afterwards — then ``M`` open dossiers (default 100,000)
   received in the last weeks before now. Events are built as bytes from a template and
   produced with librdkafka (``confluent_kafka``, Java-compatible partitioner), keyed by
   dossier code.
2. **Worker.** One ``python -m streams.run`` (:func:`streams.launcher.spawn_worker`) with
   its data and local state in a temporary directory and the default retention
   (``MOTCUA_RETIRE_AFTER_DAYS``, 35 days): the closed dossiers of 2025 retire as they
   close; the open ones stay in memory.
3. **Restarts.** After the closed dossiers, the worker is SIGKILLed, 2,000 late events
   (ratings and payments of retired dossiers) are produced, and a new worker is started;
   after the open dossiers, the same again with 2,000 more late events and 2,000 new
   receipts. ``restart to caught-up`` is the second restart's time from the new worker's
   start until its group has no lag on the events and contributions topics; each rebuild
   must say it read only the changelogs' tail after the local state.
4. **Memory.** RSS (``VmRSS``) of a worker caught up (and 3 s more). ``worker bytes per
   closed dossier``: the first restarted worker's less the warmed-up first worker's (one
   event), divided by ``N`` — what the closed dossiers cost a worker that holds them (on
   disk); every fixed cost of a restarted worker (SQLite's page cache, one batch) is
   charged to them. ``worker bytes per open dossier``: the second restarted worker's less
   the first's, divided by the dossiers it rebuilt in addition (``M`` + 2,000): the same
   fixed costs on both sides. The running worker's RSS is printed too: it keeps the
   allocator's high-water mark of 20,000-record batches (memory freed, not given back),
   so its growth over the closed dossiers is mostly fixed, and the open dossiers reuse it.
5. **Check** (unless ``--no-check``): the snapshots on the kpi topic equal the batch report
   of every event produced (the same generator run again, folded by
   :func:`kpi.batch.fold_lines`), and the local state holds every closed dossier as
   retired but those of the first late events (touched now: in memory for 35 days).

Uses MOTCUA_KAFKA_BOOTSTRAP or an embedded broker. Not part of ``make test``; ``make
bench`` runs it (``BENCH_STATE=--quick`` for the quick form).
"""

from __future__ import annotations

import argparse
import contextlib
import heapq
import os
import random
import re
import signal
import sqlite3
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

from runtime.settings import Settings, load_settings

TZ = timezone(timedelta(hours=7))
YEAR_START = datetime(2025, 1, 1, tzinfo=TZ).timestamp()
YEAR = 365 * 86_400.0
UNITS = 40
LATE = 2_000
"""Late events (ratings, payments of retired dossiers) and as many new receipts produced
while the worker is down."""

RECEIVED = (b'{"specversion":"1.0","id":"r%d","source":"urn:motcua:bench","type":'
            b'"vn.gov.motcua.dossier.received","time":"%s","subject":"%s","data":{'
            b'"unit_code":"BU%02d","unit_level":"commune","procedure_code":"P%d",'
            b'"channel":"%s","processing_days":%d,"fee_required":%s}}')
RESOLVED = (b'{"specversion":"1.0","id":"d%d","source":"urn:motcua:bench","type":'
            b'"vn.gov.motcua.dossier.resolved","time":"%s","subject":"%s","data":{'
            b'"result_electronic":%s}}')
PAID = (b'{"specversion":"1.0","id":"p%d","source":"urn:motcua:bench","type":'
        b'"vn.gov.motcua.payment.completed","time":"%s","subject":"%s","data":{'
        b'"amount_vnd":50000,"method":"online"}}')
RATED = (b'{"specversion":"1.0","id":"f%d","source":"urn:motcua:bench","type":'
         b'"vn.gov.motcua.feedback.rated","time":"%s","subject":"%s","data":{'
         b'"rating":"%s"}}')
CHANNELS = (b"online", b"direct", b"postal")
RATINGS = (b"satisfied", b"neutral", b"dissatisfied")


def _iso(t: float) -> bytes:
    return datetime.fromtimestamp(t, TZ).isoformat(timespec="seconds").encode()


def _code(i: int, prefix: str = "BS") -> bytes:
    return b"%s-%08d" % (prefix.encode(), i)


def closed_events(n: int, seed: int = 17) -> Iterator[tuple[bytes, bytes]]:
    """(key, value) of ``n`` closed dossiers over 2025, in business-time order."""
    rng = random.Random(seed)
    pending: list[tuple[float, int, bytes, bytes]] = []  # events not yet due
    tie = 0
    for i in range(n):
        t = YEAR_START + (i + rng.random()) * (YEAR - 30 * 86_400) / n
        while pending and pending[0][0] <= t:
            _, _, key, value = heapq.heappop(pending)
            yield key, value
        code = _code(i)
        fee = rng.random() < 0.1
        yield code, RECEIVED % (i, _iso(t), code, i % UNITS, i % 7, CHANNELS[i % 3],
                                1 + i % 10, b"true" if fee else b"false")
        done = t + rng.uniform(1, 10) * 86_400
        later: list[tuple[float, bytes]] = [
            (done, RESOLVED % (i, _iso(done), code, b"true" if i % 2 else b"false"))]
        if fee:
            later.append((t + 600, PAID % (i, _iso(t + 600), code)))
        if rng.random() < 0.15:
            later.append((done + 3_600, RATED % (i, _iso(done + 3_600), code,
                                                 RATINGS[i % 3])))
        for at, value in later:
            tie += 1
            heapq.heappush(pending, (at, tie, code, value))
    while pending:
        _, _, key, value = heapq.heappop(pending)
        yield key, value


def open_events(m: int, now: float) -> Iterator[tuple[bytes, bytes]]:
    """(key, value) of ``m`` dossiers received in the 20 days before ``now``, still open."""
    for i in range(m):
        t = now - 20 * 86_400 + i * (19 * 86_400) / m
        code = _code(i, "BO")
        yield code, RECEIVED % (10_000_000 + i, _iso(t), code, i % UNITS, i % 7,
                                CHANNELS[i % 3], 5 + i % 30, b"false")


def late_events(n_closed: int, now: float, seed: int, receipts: bool
                ) -> Iterator[tuple[bytes, bytes]]:
    """:data:`LATE` late ratings and payments of closed (retired) dossiers and, with
    ``receipts``, as many new receipts (ids and codes of their own per ``seed``)."""
    rng = random.Random(seed)
    ids = 20_000_000 + seed * 100_000
    for j, i in enumerate(rng.sample(range(n_closed), LATE)):
        code = _code(i)
        t = now - rng.uniform(1, 5) * 86_400
        if j % 2:
            yield code, RATED % (ids + j, _iso(t), code, RATINGS[j % 3])
        else:
            yield code, PAID % (ids + j, _iso(t), code)
    for i in range(LATE if receipts else 0):
        code = _code(seed * 100_000 + i, "BN")
        yield code, RECEIVED % (ids + 50_000 + i, _iso(now - 3_600), code, i % UNITS, 1,
                                b"online", 3, b"false")


# ------------------------------------------------------------------------------ broker
def produce(settings: Settings, events: Iterator[tuple[bytes, bytes]]) -> int:
    """Produce with librdkafka; returns the number of records acknowledged."""
    from confluent_kafka import Producer

    from runtime.rdkafka import rdkafka_config

    errors: list[str] = []

    def delivered(err: object, _msg: object) -> None:
        if err is not None:
            errors.append(str(err))

    producer = Producer(rdkafka_config(
        settings, str(settings.kafka_bootstrap), **{
            "linger.ms": 50, "batch.size": 1_000_000, "queue.buffering.max.messages": 500_000,
            "partitioner": "murmur2_random", "client.id": "bench-state"}))
    topic = settings.topics.events
    n = 0
    for key, value in events:
        while True:
            try:
                producer.produce(topic, value, key, on_delivery=delivered)
                break
            except BufferError:
                producer.poll(0.05)
        n += 1
        if n % 10_000 == 0:
            producer.poll(0)
    if producer.flush(300) != 0:
        raise RuntimeError("records still unacknowledged after 300 s")
    if errors:
        raise RuntimeError(f"{len(errors)} records failed, e.g. {errors[0]}")
    return n


def rss(pid: int) -> int:
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError(f"no VmRSS for {pid}")


def wait_caught_up(settings: Settings, worker: subprocess.Popen[bytes], log: Path,
                   timeout: float = 7_200) -> float:
    """Block until the pipeline group has no lag (events and contributions); returns the
    monotonic time it was first seen so."""
    from runtime.waiting import wait_for
    from streams.idle import group_lag

    def caught_up() -> float | None:
        if worker.poll() is not None:
            raise RuntimeError(f"the worker exited with {worker.returncode}: see {log}")
        lag = group_lag(settings, str(settings.kafka_bootstrap))
        return time.monotonic() if lag and not any(lag.values()) else None

    end = wait_for(caught_up, timeout=timeout, poll=0.2, what="the pipeline to catch up")
    assert end is not None
    return end


def settled_rss(worker: subprocess.Popen[bytes], seconds: float = 3.0) -> int:
    """The worker's RSS after ``seconds`` more (its publish and sweep timers ran)."""
    time.sleep(seconds)
    return rss(worker.pid)


def retired_in_state(state_dir: Path) -> tuple[int, int]:
    """(retired, live) dossier rows in the worker's committed local state(s)."""
    retired = live = 0
    for path in state_dir.glob("*/state.sqlite"):
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            for flag, count in db.execute(
                    "SELECT retired, count(*) FROM dossier GROUP BY retired"):
                if flag:
                    retired += count
                else:
                    live += count
        finally:
            db.close()
    return retired, live


def check(settings: Settings, n_closed: int, m_open: int,
          times: tuple[float, float, float, float]) -> str:
    """The kpi topic's snapshots against the batch report of every event produced
    (``times``: when the warm-up, the first late events, the open dossiers and the second
    late events were made)."""
    import itertools

    from kpi.batch import fold_lines
    from kpi.reconcile import batch_reports, differences
    from streams.idle import read_snapshots

    started_at, first_kill, opened_at, second_kill = times
    lines = (v for _, v in itertools.chain(
        [warmup(started_at)], closed_events(n_closed),
        late_events(n_closed, first_kill, 1, False), open_events(m_open, opened_at),
        late_events(n_closed, second_kill, 2, True)))
    want = batch_reports(fold_lines(lines), time.time())
    diffs = differences(read_snapshots(settings, str(settings.kafka_bootstrap)), want)
    if diffs:
        raise SystemExit(f"{len(diffs)} buckets differ from the batch report: {diffs[:3]}")
    return f"all {len(want):,} buckets equal the batch report"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="200,000 closed dossiers")
    parser.add_argument("--closed", type=int, default=None)
    parser.add_argument("--open", type=int, default=100_000, dest="open_")
    parser.add_argument("--no-check", action="store_true",
                        help="skip the comparison with the batch report")
    args = parser.parse_args()
    n = args.closed or (200_000 if args.quick else 2_000_000)
    m = args.open_
    from runtime.broker import embedded_broker, stop_process
    from runtime.topics import declared_topics, ensure_topics
    from streams.launcher import spawn_worker

    work = Path(tempfile.mkdtemp(prefix="bench-state-"))
    with contextlib.ExitStack() as stack:
        bootstrap = os.environ.get("MOTCUA_KAFKA_BOOTSTRAP") or stack.enter_context(
            embedded_broker())
        suffix = uuid.uuid4().hex[:8]
        settings = load_settings(
            kafka_bootstrap=bootstrap, consumer_group_prefix=f"bench-{suffix}",
            data_dir=work, topics={"events": f"bench.events.{suffix}",
                                   "dlq": f"bench.dlq.{suffix}",
                                   "contributions": f"bench.contributions.{suffix}",
                                   "kpi": f"bench.kpi.{suffix}"})
        ensure_topics(bootstrap, declared_topics(settings), settings)
        from motcua.soak.monitor import broker_pid

        bpid = broker_pid(bootstrap)

        def broker() -> str:
            return f"; broker RSS {rss(bpid) / 2**20:,.0f} MiB" if bpid else ""

        logs = [work / f"worker-{i}.log" for i in range(3)]
        worker = spawn_worker(settings, bootstrap, logs[0], loglevel="info")
        first = worker
        stack.callback(lambda: stop_process(first, timeout=30))
        started_at = time.time()
        produce(settings, iter([warmup(started_at)]))
        wait_caught_up(settings, worker, logs[0])
        rss0 = settled_rss(worker)
        print(f"worker started: RSS {rss0 / 2**20:,.0f} MiB (log {logs[0]})", flush=True)

        half = n // 2
        halves = Halves(closed_events(n))
        timings = []
        for label, count in (("first half", half), ("second half", n - half)):
            t0 = time.monotonic()
            produced = produce(settings, halves.take(count))
            t1 = time.monotonic()
            wait_caught_up(settings, worker, logs[0])
            t2 = time.monotonic()
            timings.append(settled_rss(worker))
            print(f"closed dossiers, {label}: {count:,} dossiers, {produced:,} events "
                  f"produced in {t1 - t0:,.0f} s, processed {t2 - t1:,.0f} s later; worker "
                  f"RSS {timings[-1] / 2**20:,.0f} MiB{broker()}", flush=True)
        rss1, rss2 = timings

        def restart(log: Path, seed: int, receipts: bool
                    ) -> tuple[subprocess.Popen[bytes], float, float, int, str]:
            """SIGKILL the worker, produce late events, start another: (it, when the
            events were made, seconds from its start to zero lag, its RSS, its rebuild)."""
            os.kill(worker.pid, signal.SIGKILL)
            worker.wait()
            made = time.time()
            produce(settings, late_events(n, made, seed, receipts))
            started = time.monotonic()
            new = spawn_worker(settings, bootstrap, log, loglevel="info")
            stack.callback(lambda: stop_process(new, timeout=30))
            seconds = wait_caught_up(settings, new, log) - started
            rebuilt = [line.split("] ")[-1] for line in
                       log.read_text(errors="replace").splitlines() if "rebuilt from" in line]
            if not rebuilt or not re.search(r"local state.*: \d+ changelog rows read",
                                            rebuilt[-1]):
                raise SystemExit(f"{log}: the worker did not rebuild from its local state")
            return new, made, seconds, settled_rss(new), rebuilt[-1]

        worker, first_kill, first_restart, rss_a, rebuilt = restart(logs[1], 1, False)
        print(f"restarted (2,000 late events): RSS {rss_a / 2**20:,.0f} MiB, caught up in "
              f"{first_restart:.1f} s; {rebuilt}", flush=True)

        opened_at = time.time()
        t0 = time.monotonic()
        produce(settings, open_events(m, opened_at))
        wait_caught_up(settings, worker, logs[1])
        rss3 = settled_rss(worker)
        print(f"open dossiers: {m:,} in {time.monotonic() - t0:,.0f} s; worker RSS "
              f"{rss3 / 2**20:,.0f} MiB{broker()}", flush=True)
        retired, live = retired_in_state(settings.worker_state_dir)
        size = sum(f.stat().st_size for f in settings.worker_state_dir.rglob("state.sqlite*"))
        print(f"local state: {retired:,} retired dossier rows, {live:,} live ones "
              f"(a checkpoint of those in memory); {size / 2**20:,.0f} MiB on disk",
              flush=True)

        worker, second_kill, restart_s, rss_b, rebuilt = restart(logs[2], 2, True)
        print(f"restarted (2,000 late events, 2,000 new dossiers): RSS {rss_b / 2**20:,.0f} "
              f"MiB; {rebuilt}", flush=True)

        print(f"running worker: warm-up to the end of the closed dossiers "
              f"{(rss2 - rss0) / n:,.0f} B per closed dossier (fixed costs included), second "
              f"half {(rss2 - rss1) / (n - half):,.0f} B; open dossiers taken in "
              f"{(rss3 - rss_a) / m:,.0f} B each", flush=True)
        if not args.no_check:
            # the dossiers of the first late events were touched now: in memory 35 days
            if retired < n - LATE:
                raise SystemExit(f"only {retired:,} of {n:,} closed dossiers retired")
            print(check(settings, n, m, (started_at, first_kill, opened_at, second_kill)),
                  flush=True)
        print(f"worker bytes per closed dossier: {(rss_a - rss0) / n:.0f}")
        print(f"worker bytes per open dossier: {(rss_b - rss_a) / (m + LATE):.0f}")
        print(f"restart to caught-up: {restart_s:.1f} s")


class Halves:
    """The closed dossiers' events cut at a receipt: :meth:`take` yields events until
    ``count`` more dossiers were received, stopping before the next receipt."""

    def __init__(self, events: Iterator[tuple[bytes, bytes]]) -> None:
        self.events = events
        self.head: tuple[bytes, bytes] | None = None

    def take(self, count: int) -> Iterator[tuple[bytes, bytes]]:
        seen = 0
        while True:
            head, self.head = self.head, None
            event = head if head is not None else next(self.events, None)
            if event is None:
                return
            if b'dossier.received"' in event[1]:
                if seen == count:
                    self.head = event
                    return
                seen += 1
            yield event


def warmup(now: float) -> tuple[bytes, bytes]:
    """One open dossier, produced first to see the worker up."""
    code = b"BW-00000000"
    return code, RECEIVED % (0, _iso(now - 3_600), code, 0, 0, b"online", 3, b"false")


if __name__ == "__main__":
    main()
