"""Memory of the stream tracker with N open dossiers, and the time to recover it (issue 8).

    python -m tests.benchmarks.bench_memory [N] [--changelog-rows M] [--no-changelog]
                                            [--tracemalloc]

1. **Input.** Two simulated months (Oct–Nov 2026) of the Tân Hồng simulator scaled to N
   dossiers, with every closing event (resolved, returned, rejected, withdrawn, rated)
   left out: N *open* dossiers, each a ``received`` and whatever came before closing
   (digitization, payment, transfer, supplement request/resume, extension). Written once
   to ``.bench/open-dossiers-N.jsonl`` by a child process, so this process never holds the
   simulator's pending-event heap.
2. **Load.** Every line goes through the worker's own path (``kpi.fastparse.fast_fact``
   on the raw bytes, ``Tracker.apply_fact``, ``Tracker.emit``) with the clock at the
   event's business time, and due dossiers are swept as the ``sweep`` timer does. The
   figure is the growth of this process's RSS (``/proc/self/statm``, after
   ``gc.collect()``, tracemalloc off) divided by N. The parser's caches are filled by a
   first pass over the file before the baseline, so they are not counted. With
   ``--tracemalloc`` the figure is instead the bytes tracemalloc sees allocated by the
   load (live Python objects only: no allocator overhead, fragmentation or free lists).
3. **Restore.** Every dossier's table row (``Tracker.row``, what the ``dossiers`` changelog
   holds), then a fresh tracker rebuilt from the rows with ``Tracker.restore``, as
   ``streams.rebuild.Rebuild.recover`` does after every assignment; checked against the
   live tracker on a sample.
4. **Changelog read.** ``M`` (default N) rows produced to a compacted topic on the embedded
   broker (one row per dossier: a fully compacted changelog; a live one holds a row per
   state change until the broker compacts it), read back with
   ``streams.changelog.read_changelog`` and timed: the worker reads each changelog once
   per assignment. When ``M < N`` the N figure is extrapolated
   linearly and marked so.

Not part of ``make test``; prints the figures.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import itertools
import os
import random
import subprocess
import sys
import time
import tracemalloc
import uuid
import zlib
from collections.abc import Iterator
from datetime import date
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from kpi.fastparse import fast_fact
from kpi.units import CalendarBook
from streams.tracker import Tracker

ROOT = Path(__file__).resolve().parents[2]
TARGET_BYTES = 1024
PARTITIONS = 4
WINDOW = (date(2026, 10, 1), date(2026, 11, 30))
CLOSING = {"resolved", "returned", "rejected", "withdrawn", "rated"}
_PAGE = os.sysconf("SC_PAGE_SIZE")

console = Console()


def rss() -> int:
    """Resident set size of this process in bytes."""
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * _PAGE


def settled_rss() -> int:
    gc.collect()
    return rss()


def partition_of(code: str) -> int:
    """A stable partition per dossier (which partitioner does not matter here)."""
    return zlib.crc32(code.encode()) % PARTITIONS


def _progress() -> Progress:
    return Progress(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(),
                    TimeElapsedColumn(), console=console, transient=True)


# ------------------------------------------------------------------------------- input
def write_open_dossiers(path: Path, n: int) -> None:
    """The input file (run in a child process: see the module docstring)."""
    from kpi.simulate import SimulationConfig, generate_lines, planned_counts

    per_scale = sum(r for r, _ in planned_counts(
        SimulationConfig(start=WINDOW[0], end=WINDOW[1])).values())
    config = SimulationConfig(start=WINDOW[0], end=WINDOW[1], scale=n / per_scale * 1.001)
    admitted: set[str] = set()
    tmp = path.with_suffix(".tmp")
    lines = 0
    with tmp.open("wb", buffering=1 << 20) as fh, _progress() as progress:
        task = progress.add_task("simulating open dossiers", total=n)
        for line in generate_lines(config):
            quick = fast_fact(line)
            assert quick is not None, line
            subject, _, fact = quick
            if fact[0] in CLOSING:
                continue
            if subject not in admitted:
                if fact[0] != "received" or len(admitted) >= n:
                    continue
                admitted.add(subject)
                if len(admitted) % 10_000 == 0:
                    progress.update(task, completed=len(admitted))
            fh.write(line)
            fh.write(b"\n")
            lines += 1
    if len(admitted) < n:
        raise SystemExit(f"the simulator gave {len(admitted):,} dossiers, not {n:,}")
    tmp.rename(path)
    console.print(f"wrote {path}: {lines:,} events of {n:,} open dossiers")


def ensure_input(n: int) -> Path:
    path = ROOT / ".bench" / f"open-dossiers-{n}.jsonl"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run([sys.executable, "-m", "tests.benchmarks.bench_memory", str(n),
                        "--write-input", str(path)], cwd=ROOT, check=True)
    return path


def read_lines(path: Path) -> Iterator[bytes]:
    with path.open("rb", buffering=1 << 20) as fh:
        yield from fh


# -------------------------------------------------------------------------------- load
def load(tracker: Tracker, path: Path, lines: int) -> tuple[float, float, int]:
    """Feed the file to ``tracker`` as the ``track`` agent and the ``sweep`` timer do;
    returns (final clock, seconds, emissions)."""
    now = 0.0
    emits = 0
    started = time.perf_counter()
    with _progress() as progress:
        task = progress.add_task("loading the tracker", total=lines)
        for i, line in enumerate(read_lines(path)):
            quick = fast_fact(line)
            assert quick is not None
            code, key, fact = quick
            now = max(now, fact[1] + 1.0)  # processed a second after it happened
            for rec in list(tracker.due(now)):  # the sweep timer
                tracker.emit(rec, now)
                emits += 1
            rec, _ = tracker.apply_fact(code, key, fact, partition_of(code))
            tracker.emit(rec, now)
            emits += 1
            if i % 20_000 == 0:
                progress.update(task, completed=i)
    now += 86_400.0  # a day after the last event: sweep what fell due meanwhile
    for rec in list(tracker.due(now)):
        tracker.emit(rec, now)
        emits += 1
    return now, time.perf_counter() - started, emits


def _same_contributions(a: Tracker, b: Tracker, codes: list[str], now: float) -> None:
    for code in codes:
        ea = [(u, [e[0], e[2], e[3]]) for u, e in a.emit(a.dossiers[code], now)]
        eb = [(u, [e[0], e[2], e[3]]) for u, e in b.emit(b.dossiers[code], now)]
        assert ea == eb, (code, ea, eb)


# -------------------------------------------------------------------------- changelog
async def _produce(bootstrap: str, topic: str, rows: list[tuple[bytes, bytes, int]]) -> None:
    from aiokafka import AIOKafkaProducer

    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=50,
                                max_batch_size=1 << 20, max_request_size=8 << 20)
    await producer.start()
    try:
        with _progress() as progress:
            task = progress.add_task("producing changelog rows", total=len(rows))
            for i, (k, v, p) in enumerate(rows):
                await producer.send(topic, v, key=k, partition=p)
                if i % 20_000 == 0:
                    progress.update(task, completed=i)
        await producer.flush()
    finally:
        await producer.stop()


def changelog_read(rows: list[tuple[bytes, bytes, int]]) -> tuple[float, float]:
    """(seconds to produce, seconds to read back with ``read_changelog``)."""
    from runtime.broker import embedded_broker
    from runtime.settings import load_settings
    from runtime.topics import TopicSpec, ensure_topics
    from streams.changelog import read_changelog

    with contextlib.ExitStack() as stack:
        bootstrap = os.environ.get("MOTCUA_KAFKA_BOOTSTRAP") or stack.enter_context(
            embedded_broker())
        suffix = uuid.uuid4().hex[:8]
        settings = load_settings(kafka_bootstrap=bootstrap, topic_partitions=PARTITIONS,
                                 consumer_group_prefix=f"bench-{suffix}")
        topic = f"bench-{suffix}-streams-dossiers-changelog"
        ensure_topics(bootstrap, [TopicSpec(topic, PARTITIONS, key="dossier code",
                                            compacted=True)], settings)
        t0 = time.perf_counter()
        asyncio.run(_produce(bootstrap, topic, rows))
        t1 = time.perf_counter()
        with console.status(f"reading {len(rows):,} rows back with read_changelog"):
            got = read_changelog(settings, bootstrap, topic, set(range(PARTITIONS)),
                                 timeout=3600)
        t2 = time.perf_counter()
        if len(got) != len(rows):
            raise SystemExit(f"read {len(got):,} rows back, produced {len(rows):,}")
        return t1 - t0, t2 - t1


# -------------------------------------------------------------------------------- main
def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("n", nargs="?", type=int, default=1_000_000, help="open dossiers")
    parser.add_argument("--changelog-rows", type=int, default=None,
                        help="rows produced for the changelog read (default: N)")
    parser.add_argument("--no-changelog", action="store_true", help="skip the broker part")
    parser.add_argument("--tracemalloc", action="store_true",
                        help="count the load with tracemalloc instead of RSS (slower)")
    parser.add_argument("--write-input", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    n = args.n
    if args.write_input:
        write_open_dossiers(args.write_input, n)
        return

    path = ensure_input(n)
    lines = 0
    with console.status("warming the parser's caches (a first pass over the file)"):
        for line in read_lines(path):  # fills fast_time's caches, as a running worker has
            fast_fact(line)
            lines += 1

    tracker = Tracker(CalendarBook())
    before = settled_rss()
    if args.tracemalloc:
        tracemalloc.start()
    horizon, load_s, emits = load(tracker, path, lines)
    traced = tracemalloc.get_traced_memory()[0] if args.tracemalloc else 0
    tracemalloc.stop()
    after = settled_rss()
    assert len(tracker.dossiers) == n, len(tracker.dossiers)
    facts = sum(len(rec.state.facts) for rec in tracker.dossiers.values())
    heap = len(tracker._heap)
    per_dossier = (traced if args.tracemalloc else after - before) / n

    # ---- table rows (the changelog) as read back (a dict of key bytes → row bytes, which
    # the worker holds only while it rebuilds), and a fresh tracker restored from them
    before_rows = settled_rss()
    t0 = time.perf_counter()
    rows = {code.encode(): tracker.row(rec, horizon) for code, rec in tracker.dossiers.items()}
    row_s = time.perf_counter() - t0
    table_per_dossier = (settled_rss() - before_rows) / n
    row_bytes = sum(len(k) + len(v) for k, v in rows.items())
    fresh = Tracker(CalendarBook())
    mine = set(range(PARTITIONS))
    t0 = time.perf_counter()
    for k, v in rows.items():
        fresh.restore(k.decode(), v, mine)
    restore_s = time.perf_counter() - t0
    assert len(fresh.dossiers) == n
    sample = random.Random(8).sample(sorted(tracker.dossiers), min(n, 2000))
    _same_contributions(tracker, fresh, sample, horizon + 40 * 86_400)
    del fresh, tracker
    gc.collect()

    # ---- the changelog read on the real broker
    read_s = produce_s = None
    m = min(args.changelog_rows or n, n)
    if not args.no_changelog:
        produce_s, read_s = changelog_read(
            [(k, v, partition_of(k.decode())) for k, v in itertools.islice(rows.items(), m)])

    table = Table(title=f"tracker memory and recovery, {n:,} open dossiers")
    table.add_column("what")
    table.add_column("figure", justify="right")
    table.add_row("open dossiers (N)", f"{n:,}")
    table.add_row("events loaded / facts kept", f"{lines:,} / {facts:,}")
    table.add_row("emissions (events + sweeps) / due-heap entries", f"{emits:,} / {heap:,}")
    table.add_row("load (parse + apply_fact + emit)", f"{load_s:.1f} s")
    if args.tracemalloc:
        table.add_row("bytes per open dossier (tracemalloc, live objects)",
                      f"{per_dossier:,.0f}")
    else:
        table.add_row("RSS before / after load", f"{before / 2**20:,.0f} / "
                      f"{after / 2**20:,.0f} MiB")
        verdict = "≤" if per_dossier <= TARGET_BYTES else ">"
        table.add_row("bytes per open dossier (RSS growth / N)",
                      f"{per_dossier:,.0f} ({verdict} {TARGET_BYTES:,} target)")
    table.add_row("table rows: serialize / mean size (key + value)",
                  f"{row_s:.1f} s / {row_bytes / n:,.0f} B")
    if not args.tracemalloc:
        table.add_row("changelog rows held during a rebuild (RSS growth / N)",
                      f"{table_per_dossier:,.0f} B")
    table.add_row("restore (Tracker.restore of N rows)", f"{restore_s:.1f} s")
    if produce_s is not None and read_s is not None:
        table.add_row(f"changelog: produce {m:,} rows", f"{produce_s:.1f} s")
        table.add_row(f"changelog: read_changelog of {m:,} rows", f"{read_s:.1f} s")
        read_n = read_s * n / m
        mark = "" if m == n else f" (extrapolated ×{n / m:.1f} from {m:,} rows)"
        table.add_row("changelog read for N rows", f"{read_n:.1f} s{mark}")
        table.add_row("recovery total (changelog read + restore)",
                      f"{read_n + restore_s:.1f} s{mark}")
    console.print(table)


if __name__ == "__main__":
    main()
