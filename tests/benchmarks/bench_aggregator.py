"""The aggregator's cost per contributions message as its state grows (issue 24, goal 1).

    python -m tests.benchmarks.bench_aggregator [--events N] [--file F --units U]
                                                [--batch B] [--profile]

1. **Record** (not timed): a simulated province-year (the input of ``bench_replay``, about
   ``N`` events) goes through a :class:`streams.pipeline.Pipeline`'s tracker with its
   local state, in batches of 2,000 records per events partition (4 partitions, as the
   topics are declared), the link records fed back as the worker reads them; every
   contributions message it sends is kept, in order.
2. **Aggregate** (timed): a second pipeline with a fresh local state applies those
   messages with :meth:`Pipeline.aggregate_batch`, ``B`` messages per batch (default 100,
   what one fetch of the contributions topic gives), then :meth:`Pipeline.publish` after
   each batch as the worker's 0.5 s timer would.

Reported per tenth of the messages: messages, entries, µs of CPU per message and per
entry in ``aggregate_batch`` and in ``publish``; ``--profile``: cProfile of the first and
last tenth. The producer is a recorder (no broker): what is measured is the aggregator's
own work, its local state included. Not part of ``make test``.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import gc
import io
import pstats
import shutil
import tempfile
import time
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from streams.pipeline import Pipeline
from streams.ports import ChangelogSource, Delivery, Producer, Record, Row, Topics

PARTITIONS = 4
TOPICS = Topics(events="ev", contributions="co", kpi="kpi", dlq="dlq",
                dossiers_changelog="dossiers-cl", applied_changelog="applied-cl",
                links="links")


@dataclass(frozen=True)
class _Ack:
    topic: str
    partition: int
    offset: int


@dataclass(frozen=True)
class _Rec:
    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes


def _partition(key: bytes | None) -> int:
    return zlib.crc32(key or b"") % PARTITIONS


class Recorder(Producer):
    """Keeps the records sent to ``keep`` topics; every delivery resolves at once."""

    def __init__(self, keep: set[str]) -> None:
        self.keep = keep
        self.kept: dict[str, list[_Rec]] = {t: [] for t in keep}
        self._offsets: dict[tuple[str, int], int] = {}

    def _ack(self, topic: str, partition: int) -> Delivery:
        fut: Delivery = asyncio.get_running_loop().create_future()
        o = self._offsets.get((topic, partition), 0)
        self._offsets[(topic, partition)] = o + 1
        fut.set_result(_Ack(topic, partition, o))
        return fut

    async def send(self, topic: str, key: bytes | None, value: bytes,
                   partition: int | None = None,
                   headers: list[tuple[str, bytes]] | None = None) -> Delivery:
        p = partition if partition is not None else _partition(key)
        if topic in self.keep:
            self.kept[topic].append(_Rec(topic, p, len(self.kept[topic]), key, value))
        return self._ack(topic, p)

    async def send_rows(self, topic: str, rows: list[Row]) -> list[Delivery]:
        return [self._ack(topic, p) for _, _, p in rows]

    async def flush(self) -> None:
        return None


class NoChangelogs(ChangelogSource):
    async def read(self, topic: str, partitions: set[int],
                   start: Mapping[int, int] | None = None
                   ) -> tuple[dict[bytes, bytes], dict[int, int]]:
        return {}, {}


def _subject_key(line: bytes) -> bytes | None:
    """The record key ``motcua ingest`` gives a line: its subject (None if unreadable)."""
    try:
        subject = orjson.loads(line).get("subject")
    except (orjson.JSONDecodeError, AttributeError):
        return None
    return str(subject).encode() if subject is not None else None


async def _pipeline(producer: Producer, registry: Any, state: Path) -> Pipeline:
    from streams.localstate import LocalState

    pipeline = Pipeline(TOPICS, producer, NoChangelogs(), registry=registry,
                        local=LocalState(state),
                        identity={"partitions": PARTITIONS})
    every = set(range(PARTITIONS))
    await pipeline.recover(every, every)
    return pipeline


async def record(lines: Path, registry: Any, work: Path) -> list[_Rec]:
    """The contributions messages the tracker sends for ``lines``, in order."""
    recorder = Recorder({TOPICS.contributions, TOPICS.links})
    pipeline = await _pipeline(recorder, registry, work / "tracker.sqlite")
    per_part: dict[int, list[_Rec]] = {p: [] for p in range(PARTITIONS)}
    links = recorder.kept[TOPICS.links]
    links_seen = 0

    async def track(p: int) -> None:
        nonlocal links_seen
        for r in links[links_seen:]:  # links read with the events of their partition
            per_part[r.partition].append(r)
        links_seen = len(links)
        recs: list[Record] = [*per_part[p]]
        per_part[p] = []
        await pipeline.track_batch(recs)

    with lines.open("rb") as fh:
        for i, line in enumerate(fh):
            key = _subject_key(line)
            p = _partition(key)
            per_part[p].append(_Rec(TOPICS.events, p, i, key, line.rstrip(b"\n")))
            if len(per_part[p]) >= 2000:
                await track(p)
    while any(per_part.values()) or links_seen < len(links):
        for p in range(PARTITIONS):
            await track(p)
    await pipeline.sweep()
    return recorder.kept[TOPICS.contributions]


async def aggregate(messages: list[_Rec], registry: Any, work: Path, batch: int,
                    profile: bool) -> None:
    pipeline = await _pipeline(Recorder(set()), registry, work / "aggregator.sqlite")
    tenth = max(1, len(messages) // 10)
    rows: list[str] = []
    n_msgs = n_entries = 0
    agg = pub = 0.0
    prof: cProfile.Profile | None = None
    for i in range(0, len(messages), batch):
        chunk: list[Record] = [*messages[i : i + batch]]
        decile = i // tenth
        if profile and decile in (0, 9) and prof is None:
            prof = cProfile.Profile()
            prof.enable()
        t0 = time.process_time()
        await pipeline.aggregate_batch(chunk)
        t1 = time.process_time()
        await pipeline.publish()
        t2 = time.process_time()
        agg += t1 - t0
        pub += t2 - t1
        n_msgs += len(chunk)
        n_entries += sum(len(orjson.loads(m.value)["d"]) for m in chunk)
        if (i + batch) // tenth != decile or i + batch >= len(messages):
            if prof is not None:
                prof.disable()
                out = io.StringIO()
                pstats.Stats(prof, stream=out).sort_stats("cumulative").print_stats(25)
                print(f"--- profile of tenth {decile + 1}\n{out.getvalue()}")
                prof = None
            rows.append(f"{decile + 1:>5} {n_msgs:>8,} {n_entries:>9,} "
                        f"{n_entries / n_msgs:>8.1f} {agg / n_msgs * 1e6:>10,.0f} "
                        f"{agg / n_entries * 1e6:>9,.1f} {pub / n_msgs * 1e6:>10,.0f}")
            n_msgs = n_entries = 0
            agg = pub = 0.0
    print("tenth messages   entries  per msg  µs/msg agg  µs/entry  µs/msg pub")
    print("\n".join(rows))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=300_000)
    parser.add_argument("--communes", type=int, default=90)
    parser.add_argument("--file", type=Path, help="an input written by bench_replay --keep")
    parser.add_argument("--units", type=Path, help="its units.csv")
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--save", type=Path, help="keep the recorded messages in this file")
    parser.add_argument("--load", type=Path, help="messages saved by --save (no recording)")
    args = parser.parse_args()
    gc.set_threshold(50_000, 50, 100)  # as the worker (streams.run)

    work = Path(tempfile.mkdtemp(prefix="bench-aggregator-"))
    try:
        run(args, work)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def run(args: argparse.Namespace, work: Path) -> None:
    """Record (or load) the messages, then aggregate them, in ``work``."""
    from kpi.registry import UnitRegistry
    from tests.benchmarks.bench_replay import write_input

    lines, units = args.file, args.units
    if units is None:
        lines, units = work / "province-year.jsonl", work / "units.csv"
        write_input(lines, units, args.events, args.communes)
    registry = UnitRegistry.load(units)
    if args.load is not None:
        messages = [_Rec(TOPICS.contributions, p, i, k.encode(), v.encode())
                    for i, (k, v, p) in enumerate(orjson.loads(args.load.read_bytes()))]
    else:
        t0 = time.monotonic()
        messages = asyncio.run(record(lines, registry, work))
        print(f"recorded {len(messages):,} contributions messages in "
              f"{time.monotonic() - t0:,.0f} s", flush=True)
    if args.save is not None:
        args.save.write_bytes(orjson.dumps([(m.key.decode() if m.key else None,
                                             m.value.decode(), m.partition)
                                            for m in messages]))
    asyncio.run(aggregate(messages, registry, work, args.batch, args.profile))


if __name__ == "__main__":
    main()
