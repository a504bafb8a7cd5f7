"""Benchmark of the HTTP ingest (``motcua http``) on the embedded broker.

    python -m tests.benchmarks.bench_http [--quick] [--bootstrap H:P]
                                          [--requests N] [--batches B] [--clients C]

1. **Raw producers**: the simulated events are published straight to the broker with the
   project's producer (:func:`runtime.kafka.producer`: librdkafka through
   :class:`runtime.rdproducer.FileProducer`, a Python delivery object per record;
   idempotent, ``acks=all``), and with bare confluent-kafka (the same settings,
   :func:`runtime.rdkafka.rdkafka_config`, no per-record Python) — the ceiling the ingest
   sits on.
2. ``motcua http`` is started as its own process (as deployed: uvicorn, its access log on)
   on fresh topics, with a token for the simulator's source.
3. **Single events**: ``N`` requests of one structured event each, ``C`` at a time over
   ``C`` keep-alive connections (an aiohttp client); every answer must be 202.
4. **Batches**: ``B`` requests of 100 events each (``application/cloudevents-batch+json``),
   ``C`` at a time (at most 8); every answer 202 with all 100 accepted.

Printed: requests/s and events/s of each, the raw producers' events/s and the ratios.
Targets (issue 13): ≥ 1,000 single requests/s and ≥ 20,000 events/s batched. Every event
sent is a distinct (source, id), so nothing is a duplicate. Not part of ``make test``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import httpx
import orjson

from consumers.http_ingest.tokens import add_token
from kpi.simulate import SimulationConfig, generate_lines
from kpi.simulate.config import DEFAULT_SOURCE
from runtime.broker import bootstrap_for, free_port
from runtime.kafka import producer
from runtime.rdkafka import rdkafka_config
from runtime.settings import Settings, load_settings
from runtime.topics import declared_topics, ensure_topics
from runtime.waiting import wait_for

BATCH = 100
EVENTS_PER_SCALE = 133_000  # events of one simulated Tân Hồng year at scale 1 (measured)
TARGET_SINGLE = 1_000
TARGET_BATCHED = 20_000


def _settings(bootstrap: str, data_dir: Path) -> Settings:
    suffix = uuid.uuid4().hex[:10]
    return load_settings(
        kafka_bootstrap=bootstrap, data_dir=data_dir, http_port=free_port(),
        topics={"events": f"bench.events.{suffix}", "dlq": f"bench.dlq.{suffix}",
                "contributions": f"bench.contributions.{suffix}", "kpi": f"bench.kpi.{suffix}"},
        consumer_group_prefix=f"bench-{suffix}",
    )


def _events(count: int) -> list[bytes]:
    """``count`` valid structured events of the simulator's source, distinct ids."""
    config = SimulationConfig(seed=13, scale=count / EVENTS_PER_SCALE * 1.2 + 0.01)
    lines: list[bytes] = []
    for line in generate_lines(config):
        lines.append(line)
        if len(lines) == count:
            return lines
    raise SystemExit(f"the simulator gave only {len(lines):,} events")


def raw_producer_rate(settings: Settings, bootstrap: str, events: list[bytes]) -> float:
    """Events/s of :func:`runtime.kafka.producer` publishing ``events`` (keyed by subject)."""
    keyed = [(orjson.loads(e)["subject"].encode(), e) for e in events]
    prod = producer(settings, bootstrap)
    try:
        prod.send(settings.topics.events, value=keyed[0][1], key=keyed[0][0]).get(30)  # warm
        t0 = time.perf_counter()
        for key, value in keyed:
            prod.send(settings.topics.events, value=value, key=key)
        prod.flush(120)
        took = time.perf_counter() - t0
    finally:
        prod.close()
    return len(keyed) / took


def raw_rdkafka_rate(settings: Settings, bootstrap: str, events: list[bytes]) -> float:
    """Events/s of the ingest's producer (confluent-kafka, idempotent) publishing ``events``."""
    import confluent_kafka

    keyed = [(orjson.loads(e)["subject"].encode(), e) for e in events]
    prod = confluent_kafka.Producer(rdkafka_config(settings, bootstrap, **{"linger.ms": 2}))
    topic = settings.topics.events
    prod.produce(topic, value=keyed[0][1], key=keyed[0][0])
    prod.flush(30)  # warm: connected, producer id granted
    t0 = time.perf_counter()
    for key, value in keyed:
        prod.produce(topic, value=value, key=key)
        prod.poll(0)
    if prod.flush(120):
        raise SystemExit("confluent-kafka did not deliver every event")
    return len(keyed) / (time.perf_counter() - t0)


@contextlib.contextmanager
def http_process(settings: Settings, log: Path) -> Iterator[str]:
    """``motcua http`` as a child process on ``settings``; yields its URL once /readyz is 200."""
    env = {**os.environ, **settings.as_env()}
    url = f"http://{settings.http_host}:{settings.http_port}"
    with log.open("wb") as out:
        proc = subprocess.Popen([sys.executable, "-m", "motcua", "http"], env=env,
                                stdout=out, stderr=subprocess.STDOUT)
        try:
            wait_for(lambda: httpx.get(f"{url}/readyz", timeout=5).status_code == 200,
                     timeout=60, poll=0.2, errors=(httpx.HTTPError,), what="motcua http",
                     process=proc)
            yield url
        finally:
            proc.terminate()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()


async def _drive(url: str, token: str, bodies: list[bytes], content_type: str,
                 clients: int, per_body: int) -> float:
    """Seconds to POST every body, ``clients`` at a time over as many keep-alive
    connections; each answer must be 202 with ``per_body`` events accepted.

    The client is aiohttp's: httpx's ``AsyncClient`` is slower than the ingest itself here
    (~300 ``/healthz`` requests/s at 32 connections, where aiohttp makes ~2,600)."""
    import aiohttp

    headers = {"Authorization": f"Bearer {token}", "Content-Type": content_type}
    queue = iter(bodies)
    failures: list[str] = []

    async def worker(session: aiohttp.ClientSession) -> None:
        for body in queue:
            async with session.post("/v1/events", data=body, headers=headers) as answer:
                text = await answer.read()
                if answer.status != 202 or orjson.loads(text)["accepted"] != per_body:
                    failures.append(f"{answer.status} {text[:200]!r}")

    connector = aiohttp.TCPConnector(limit=clients)
    async with aiohttp.ClientSession(url, connector=connector,
                                     timeout=aiohttp.ClientTimeout(total=60)) as session:
        async def connect() -> None:
            async with session.get("/healthz") as answer:
                await answer.read()

        await asyncio.gather(*(connect() for _ in range(clients)))
        t0 = time.perf_counter()
        await asyncio.gather(*(worker(session) for _ in range(clients)))
        took = time.perf_counter() - t0
    if failures:
        raise SystemExit(f"{len(failures)} requests failed, e.g. {failures[0]}")
    return took


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="fewer requests (a smoke run)")
    parser.add_argument("--bootstrap", help="a running broker instead of the embedded one")
    parser.add_argument("--requests", type=int, help="single-event requests (default 5,000)")
    parser.add_argument("--batches", type=int, help="batches of 100 (default 400)")
    parser.add_argument("--clients", type=int, default=32, help="concurrent connections")
    args = parser.parse_args()
    singles = args.requests or (1_000 if args.quick else 5_000)
    batches = args.batches or (60 if args.quick else 400)
    events = _events(singles + batches * BATCH)
    single_bodies, batched = events[:singles], events[singles:]
    batch_bodies = [b"[" + b",".join(batched[i:i + BATCH]) + b"]"
                    for i in range(0, len(batched), BATCH)]
    configured = load_settings(kafka_bootstrap=args.bootstrap)
    with tempfile.TemporaryDirectory() as tmp, bootstrap_for(configured) as bootstrap:
        raw_settings = _settings(bootstrap, Path(tmp))
        ensure_topics(bootstrap, declared_topics(raw_settings), raw_settings)
        raw = raw_producer_rate(raw_settings, bootstrap, events)
        print(f"project producer (FileProducer over librdkafka, idempotent, acks=all): "
              f"{len(events):,} events = {raw:,.0f} events/s", flush=True)
        rd_settings = _settings(bootstrap, Path(tmp))
        ensure_topics(bootstrap, declared_topics(rd_settings), rd_settings)
        rd = raw_rdkafka_rate(rd_settings, bootstrap, events)
        print(f"bare confluent-kafka (idempotent, acks=all): "
              f"{len(events):,} events = {rd:,.0f} events/s", flush=True)
        settings = _settings(bootstrap, Path(tmp))
        ensure_topics(bootstrap, declared_topics(settings), settings)
        token, _ = add_token(settings.tokens_file, [DEFAULT_SOURCE])
        with http_process(settings, Path(tmp) / "http.log") as url:
            took = asyncio.run(_drive(url, token, single_bodies,
                                      "application/cloudevents+json", args.clients, 1))
            single = singles / took
            print(f"single events: {singles:,} requests, {args.clients} connections, "
                  f"{took:.1f} s = {single:,.0f} requests/s ({single / raw:.1%} of the project "
                  f"producer's rate, {single / rd:.1%} of bare confluent-kafka's; "
                  f"target ≥ {TARGET_SINGLE:,}"
                  f"{'' if single >= TARGET_SINGLE else ', NOT reached'})", flush=True)
            clients = min(args.clients, 8)
            took = asyncio.run(_drive(url, token, batch_bodies,
                                      "application/cloudevents-batch+json", clients, BATCH))
            rate = len(batched) / took
            print(f"batches of {BATCH}: {len(batch_bodies):,} requests, {clients} connections, "
                  f"{took:.1f} s = {len(batch_bodies) / took:,.0f} requests/s = {rate:,.0f} "
                  f"events/s ({rate / raw:.1%} of the project producer's rate, {rate / rd:.1%} "
                  f"of bare confluent-kafka's; target ≥ "
                  f"{TARGET_BATCHED:,}{'' if rate >= TARGET_BATCHED else ', NOT reached'})",
                  flush=True)


if __name__ == "__main__":
    main()
