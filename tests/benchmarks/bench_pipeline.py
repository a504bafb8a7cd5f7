"""Sustained throughput of the live pipeline vs raw aiokafka consume+decode of the same topic.

    python -m tests.benchmarks.bench_pipeline [events=300000] [workers=1]

Publishes ``events`` simulated lines (shuffled, 3% duplicates, 1% invalid) to a fresh
events topic, then (1) reads the whole topic with a bare aiokafka consumer decoding every
value with orjson, (2) starts ``workers`` pipeline workers (``python -m streams.run``) and
times from the moment the group's committed offsets first move until nothing is left
uncommitted on the events and contributions topics (workers started with
:func:`streams.launcher.spawn_worker`; their logs go to a temporary directory). Startup
and group join are excluded; the ±1 s commit interval is included. Then (3) faust used as
designed reads the same topic (:mod:`tests.benchmarks.faust_design`): an agent doing
nothing with ``stream.take`` batches, and one writing a faust Table entry per record.
Uses MOTCUA_KAFKA_BOOTSTRAP or an embedded broker.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import statistics
import sys
import tempfile
import time
import uuid
from pathlib import Path

import orjson

from runtime.settings import Settings, load_settings


def make_settings(bootstrap: str) -> Settings:
    suffix = uuid.uuid4().hex[:8]
    return load_settings(
        kafka_bootstrap=bootstrap,
        consumer_group_prefix=f"bench-{suffix}",
        topics={"events": f"bench.events.{suffix}", "dlq": f"bench.dlq.{suffix}",
                "contributions": f"bench.contributions.{suffix}", "kpi": f"bench.kpi.{suffix}"},
    )


def lines_for(n: int) -> list[bytes]:
    from kpi.simulate import SimulationConfig, generate_lines

    scale = n / 130_000
    lines: list[bytes] = []
    while len(lines) < n:
        lines = list(generate_lines(SimulationConfig(
            scale=scale, shuffle=True, duplicates=0.03, invalid=0.01)))
        scale *= 1.1 * n / max(len(lines), 1)
    return lines[:n]


async def publish(settings: Settings, lines: list[bytes]) -> None:
    from aiokafka import AIOKafkaProducer

    from runtime.dlq import recover_subject

    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap, linger_ms=20,
                                max_batch_size=512 * 1024)
    await producer.start()
    try:
        for line in lines:
            subject = recover_subject(line)
            await producer.send(settings.topics.events, line,
                                key=subject.encode() if subject else None)
        await producer.flush()
    finally:
        await producer.stop()


async def raw_rate(settings: Settings, n: int) -> float:
    """Events/s of a bare aiokafka consumer reading and JSON-decoding the topic."""
    from aiokafka import AIOKafkaConsumer

    consumer = AIOKafkaConsumer(
        settings.topics.events, bootstrap_servers=settings.kafka_bootstrap,
        group_id=f"raw-{uuid.uuid4().hex[:8]}", auto_offset_reset="earliest",
        enable_auto_commit=False, max_partition_fetch_bytes=8 * 1024 * 1024)
    await consumer.start()
    try:
        seen, start = 0, None
        while seen < n:
            batch = await consumer.getmany(timeout_ms=1000, max_records=20_000)
            if batch and start is None:
                start = time.perf_counter()
            for records in batch.values():
                for record in records:
                    with contextlib.suppress(orjson.JSONDecodeError):
                        orjson.loads(record.value)
                    seen += 1
        assert start is not None
        return n / (time.perf_counter() - start)
    finally:
        await consumer.stop()


def pipeline_rate(settings: Settings, n: int, workers: int) -> tuple[float, float]:
    """(events/s, seconds) from the group's first commit to zero lag."""
    from runtime.broker import stop_process
    from runtime.waiting import wait_for
    from streams.idle import group_lag
    from streams.launcher import spawn_worker

    bootstrap = str(settings.kafka_bootstrap)
    data = Path(tempfile.mkdtemp(prefix="bench-pipeline-"))
    procs = [spawn_worker(settings, bootstrap, data / f"worker-{i}.log",
                          env={"MOTCUA_DATA_DIR": str(data)}) for i in range(workers)]
    events = settings.topics.events
    started: list[float] = []

    def caught_up() -> float | None:
        if any(p.poll() is not None for p in procs):
            raise RuntimeError(f"a worker exited (logs in {data})")
        lag = group_lag(settings, bootstrap)
        now = time.perf_counter()
        if not started and lag[events] < n:
            started.append(now)
        return now if started and not any(lag.values()) else None

    try:
        end = wait_for(caught_up, timeout=3600, poll=0.2, what="the pipeline to catch up")
        assert end is not None
        return n / (end - started[0]), end - started[0]
    finally:
        for p in procs:
            stop_process(p, timeout=30)


def faust_design(settings: Settings, n: int, mode: str) -> str:
    """faust used as designed on the same topic (:mod:`tests.benchmarks.faust_design`,
    ``take`` or ``table``), a process of its own: its one-line figure."""
    import subprocess

    env = {**os.environ, "MOTCUA_KAFKA_BOOTSTRAP": str(settings.kafka_bootstrap)}
    done = subprocess.run([sys.executable, "-m", "tests.benchmarks.faust_design", mode,
                           str(n), settings.topics.events, str(settings.topic_partitions)],
                          env=env, capture_output=True,
                          text=True, timeout=3600, check=False)
    lines = [ln[ln.index("faust "):] for ln in done.stdout.splitlines() if "faust " in ln]
    if not lines:
        raise RuntimeError(f"faust {mode} printed no figure (exit {done.returncode}): "
                           f"{done.stdout[-1000:]} {done.stderr[-2000:]}")
    return lines[-1]


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 300_000
    workers = int(sys.argv[2]) if len(sys.argv) > 2 else 1
    from runtime.broker import embedded_broker
    from runtime.topics import declared_topics, ensure_topics

    configured = os.environ.get("MOTCUA_KAFKA_BOOTSTRAP")
    with contextlib.ExitStack() as stack:
        bootstrap = configured or stack.enter_context(embedded_broker())
        settings = make_settings(bootstrap)
        ensure_topics(bootstrap, declared_topics(settings), settings)
        lines = lines_for(n)
        asyncio.run(publish(settings, lines))
        # the raw read takes well under a second: the median of three, one of them after the
        # pipeline run, so that a burst of load on the shared machine does not decide it
        raws = [asyncio.run(raw_rate(settings, n)) for _ in range(2)]
        rate, seconds = pipeline_rate(settings, n, workers)
        raws.append(asyncio.run(raw_rate(settings, n)))
        raw = statistics.median(raws)
        designs = [faust_design(settings, n, mode) for mode in ("take", "table")]
        print(f"events:                 {n}")
        print(f"raw aiokafka+orjson:    {raw:10.0f} events/s  (median of "
              f"{', '.join(f'{r:.0f}' for r in raws)})")
        print(f"pipeline ({workers} worker{'s' if workers > 1 else ''}):    "
              f"{rate:10.0f} events/s  ({seconds:.1f} s)")
        print(f"ratio:                  {rate / raw:10.3f}")
        for line in designs:  # faust as designed, for docs/decisions/streams-one-engine.md
            print(line)


if __name__ == "__main__":
    main()
