"""The SQL sink while PostgreSQL is unreachable for a long stretch and events keep coming.

The sink (in this process, as in :mod:`tests.integration.test_sink`) talks to PostgreSQL
through a TCP relay. It first drains part of a simulated stream; then the relay is cut —
its port closed and every open connection reset, as a database restart or a network cut
would — for ``outage`` seconds, while the rest of the stream and the KPI snapshots are
published in chunks. During the outage neither the database nor the sink group's Kafka
offsets may move (sampled every second, through a direct connection and the admin API);
once the relay is back on the same port the backlog drains without a restart and the
store equals the batch computation of the whole file.

The 30-second outage runs under ``make soak`` (too long for ``make test``), which runs the
same test with a 5-second outage.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest
from prometheus_client import CollectorRegistry
from sqlalchemy import Engine, select

from consumers import store, tables
from consumers.sink import Sink
from kpi.batch import fold_lines
from kpi.dossier import fact_key
from kpi.report import snapshot_key
from runtime.ingest import ingest_file
from runtime.kafka import admin, committed_offsets, group_lag, producer
from runtime.settings import Settings
from runtime.topics import declared_topics, ensure_topics
from runtime.waiting import wait_for
from tests.integration.test_sink import (
    HORIZON,
    Relay,
    _caught_up,
    _classifications,
    _count,
    _distinct_events,
    _ledger,
    _lines,
    _reports,
    _running,
    assert_stored_reports,
)
from tests.pgschema import pg_schema
from tests.pgserver import address, database_url, with_address

pytestmark = pytest.mark.integration


def _state(engine: Engine, group: str) -> dict[str, Any]:
    """Row counts of every table and the group's offsets as stored in the database."""
    out: dict[str, Any] = {t.name: _count(engine, t) for t in tables.metadata.sorted_tables}
    o = tables.sink_offsets.c
    with engine.connect() as conn:
        out["offsets"] = sorted(conn.execute(
            select(o.topic, o.partition, o.next_offset).where(o.group_id == group)).all())
    return out


@pytest.mark.parametrize("outage", [5.0, pytest.param(30.0, marks=pytest.mark.soak)],
                         ids=lambda s: f"{s:.0f}s")
def test_database_unreachable_while_events_flow(
    outage: float, topic_settings: Callable[..., Settings], kafka_bootstrap: str,
    tmp_path: Path,
) -> None:
    t0 = time.monotonic()
    settings = topic_settings()
    lines = _lines(scale=0.02, seed=31)
    head = len(lines) * 3 // 10
    chunks = [lines[head + i::6] for i in range(6)]  # the rest, published during the outage
    ensure_topics(kafka_bootstrap, declared_topics(settings), settings)
    prod = producer(settings, kafka_bootstrap)
    t = settings.topics
    published = {t.events: 0, t.dlq: 0, t.kpi: 0}

    def publish(part: list[bytes], name: str) -> None:
        path = tmp_path / f"{name}.jsonl"
        path.write_bytes(b"\n".join(part) + b"\n")
        summary = ingest_file(path, prod, settings)
        assert summary.failed == 0
        published[t.events] += summary.published
        published[t.dlq] += summary.dead_lettered

    batch = fold_lines(lines)
    reports = _reports(batch)
    group = f"{settings.consumer_group_prefix}-sink-outage"
    registry = CollectorRegistry()
    relay = Relay(address(database_url()))
    kadmin = admin(settings, kafka_bootstrap)

    def errors() -> float:
        return registry.get_sample_value("motcua_sink_db_errors_total") or 0.0

    def kafka_offsets() -> dict[Any, int]:
        return committed_offsets(kadmin, group)

    with pg_schema(prefix="outage") as url:
        good = store.make_engine(url)  # direct: the test's own view of the database
        store.upgrade(good)
        relay.up()
        engine = store.make_engine(with_address(url, "127.0.0.1", relay.port),
                                   connect_args={"connect_timeout": 2})
        sink = Sink(settings, engine, kafka_bootstrap, group_id=group, registry=registry,
                    clock=lambda: HORIZON, backoff_initial=0.2, backoff_cap=2.0,
                    migrate=False)
        try:
            with _running(sink) as thread:
                publish(lines[:head], "head")
                wait_for(_caught_up(good, group, published), timeout=60, what="head drained")
                before = _state(good, group)
                kafka_before = kafka_offsets()
                assert before["raw_events"] > 0 and kafka_before
                errors_before = errors()

                # ---- the outage: the database is unreachable; events keep coming
                relay.down()
                t_down = time.monotonic()
                samples = 0
                for i, part in enumerate(chunks):
                    publish(part, f"chunk{i}")
                    if i == len(chunks) - 1:  # the stream layer's snapshots, too
                        for (unit, period), report in sorted(reports.items()):
                            prod.send(t.kpi, key=snapshot_key(unit, period).encode(),
                                      value=orjson.dumps(report))
                        published[t.kpi] += len(reports)
                    prod.flush(30)
                    until = t_down + outage * (i + 1) / len(chunks)
                    while (now := time.monotonic()) < until or samples == 0:
                        assert thread.is_alive()
                        assert _state(good, group) == before, "the database moved"
                        assert kafka_offsets() == kafka_before, "Kafka offsets moved"
                        samples += 1
                        time.sleep(max(0.0, min(1.0, until - now)))
                failed = errors() - errors_before
                assert failed >= 2, "the sink did not try to write during the outage"
                assert _state(good, group) == before and kafka_offsets() == kafka_before
                t_up = time.monotonic()
                relay.up()
                wait_for(_caught_up(good, group, published), timeout=60, what="backlog drained")
                t_drained = time.monotonic()
        finally:
            relay.down()
            engine.dispose()
        try:
            with good.connect() as conn:
                keys = [fact_key(s, i) for s, i in conn.execute(
                    select(tables.raw_events.c.source, tables.raw_events.c.id))]
            assert len(keys) == _distinct_events(batch)  # no duplicates
            assert set(keys) == {k for facts in batch.facts.values() for k in facts}
            assert _classifications(good) == _ledger(batch)
            assert_stored_reports(good, reports)
            assert _count(good, tables.dlq_records) == batch.invalid
            lag = group_lag(settings, kafka_bootstrap, group, list(published))
            assert lag == dict.fromkeys(published, 0)
            print(f"\noutage {t_up - t_down:.1f}s: {before['raw_events']} events stored before "
                  f"it, {sum(published.values()) - sum(o for *_, o in before['offsets'])} "
                  f"records published during it; {samples} samples, database and Kafka "
                  f"offsets unchanged; {failed:.0f} failed writes; drained "
                  f"{t_drained - t_up:.1f}s after the database came back; total "
                  f"{time.monotonic() - t0:.1f}s")
        finally:
            kadmin.close()
            prod.close()
            good.dispose()
