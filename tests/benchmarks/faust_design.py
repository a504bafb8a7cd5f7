"""faust used as designed, reading the events topic: the child process of
``bench_pipeline``'s comparison (issue 24, goal 5; docs/decisions/streams-one-engine.md).

    python -m tests.benchmarks.faust_design MODE EVENTS TOPIC [PARTITIONS]

with ``MOTCUA_KAFKA_BOOTSTRAP`` set. One faust app, one agent on ``TOPIC`` (raw bytes, the
default consumer settings but the poll size and commit interval of the pipeline's worker),
reading until it has seen ``EVENTS`` records:

* ``take``: ``stream.take(1000, within=1.0)`` batches, nothing done with them — the cost
  of faust's agent path alone, the floor under any work an agent would do;
* ``table``: one faust ``Table`` write per record (``stream.items()``, key → value size;
  the in-memory store, its changelog topic of ``PARTITIONS`` partitions (default 4, as
  the topic's) written as faust does) — the floor under a
  tracker kept in faust tables (RocksDB would add its own cost to each write).

Prints one line, ``faust MODE: N records in S s (R records/s), C CPU s``, S and C counted
from the first record, then ends the process at once (``os._exit``: a benchmark child; its
offsets and its changelog are thrown away with the broker).
"""

from __future__ import annotations

import os
import resource
import sys
import time
import uuid


def cpu_now() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def main() -> None:
    import faust

    mode, total, topic_name = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    partitions = int(sys.argv[4]) if len(sys.argv) > 4 else 4
    if mode not in ("take", "table"):
        raise SystemExit(f"mode must be take or table, not {mode!r}")
    bootstrap = os.environ["MOTCUA_KAFKA_BOOTSTRAP"]
    app = faust.App(f"faust-design-{uuid.uuid4().hex[:8]}", broker=f"kafka://{bootstrap}",
                    store="memory://", topic_disable_leader=True, topic_partitions=partitions,
                    broker_max_poll_records=20_000, broker_commit_interval=1.0,
                    web_enabled=False, datadir=f"/tmp/faust-design-{os.getpid()}")
    topic = app.topic(topic_name, key_type=bytes, value_type=bytes,
                      key_serializer="raw", value_serializer="raw")
    table = app.Table("dossiers", default=int) if mode == "table" else None
    seen = 0
    first: list[float] = []

    def count(n: int) -> None:
        nonlocal seen
        if not first:
            first.extend((time.perf_counter(), cpu_now()))
        seen += n
        if seen >= total:
            seconds = time.perf_counter() - first[0]
            cpu = cpu_now() - first[1]
            print(f"faust {mode}: {seen:,} records in {seconds:.1f} s "
                  f"({seen / seconds:,.0f} records/s), {cpu:.1f} CPU s", flush=True)
            os._exit(0)

    if table is None:
        @app.agent(topic)
        async def take(stream: faust.StreamT) -> None:
            async for batch in stream.take(1000, within=1.0):
                count(len(batch))
    else:
        @app.agent(topic)
        async def write(stream: faust.StreamT) -> None:
            async for key, value in stream.items():
                table[key] = len(value)
                count(1)

    worker = faust.Worker(app, loglevel=os.environ.get("FAUST_DESIGN_LOGLEVEL", "warning"),
                          quiet=True, redirect_stdouts=False)
    worker.execute_from_commandline()


if __name__ == "__main__":
    main()
