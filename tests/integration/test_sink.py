"""The SQL sink against a real broker and real databases (SQLite file, PostgreSQL).

A simulated stream (shuffled, with duplicates and invalid lines) is published with
``motcua ingest``'s code, and KPI snapshots computed by :mod:`kpi.batch` stand in for the
stream layer on the KPI topic (keyed by :func:`kpi.report.snapshot_key`). The sink must
reproduce the batch numbers exactly — own figures and, with a unit registry, totals —
change nothing when replayed from the start, and lose nothing while the database is down.
"""

from __future__ import annotations

import contextlib
import socket
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from datetime import date
from pathlib import Path
from typing import Any

import orjson
import pytest
from prometheus_client import CollectorRegistry
from sqlalchemy import Engine, func, select

from consumers import snapshots, store, tables
from consumers.health import KafkaHealth
from consumers.sink import Sink
from kpi.batch import BatchInput, fold_lines
from kpi.counters import Counters
from kpi.periods import parse_period
from kpi.reconcile import batch_reports, differences
from kpi.registry import UnitRegistry
from kpi.report import build_report, report_bucket, snapshot_key
from kpi.simulate import SimulationConfig, generate_lines, write_registry
from kpi.sla import summarize
from kpi.units import CalendarBook
from runtime.broker import free_port
from runtime.ingest import ingest_file
from runtime.kafka import admin, committed_offsets, group_lag, producer
from runtime.settings import Settings
from runtime.topics import declared_topics, ensure_topics
from runtime.waiting import wait_for
from tests.pgschema import pg_schema
from tests.pgserver import address, with_address

pytestmark = pytest.mark.integration

HORIZON = time.time()


# --------------------------------------------------------------------------- databases


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'sink.db'}"
        return
    with pg_schema(prefix="sink") as url:
        yield url


# --------------------------------------------------------------------------- data


def _lines(scale: float = 0.02, seed: int = 7) -> list[bytes]:
    config = SimulationConfig(
        seed=seed, scale=scale, start=date(2025, 1, 1), end=date(2025, 6, 30), communes=3,
        shuffle=True, duplicates=0.05, invalid=0.01,
    )
    return list(generate_lines(config))


def _reports(batch: BatchInput) -> dict[tuple[str, str], dict[str, Any]]:
    """The batch reports of the stream at :data:`HORIZON` (:mod:`kpi.reconcile`)."""
    return batch_reports(batch, HORIZON)


def assert_stored_reports(engine: Engine, reports: dict[tuple[str, str], dict[str, Any]]
                          ) -> None:
    """The stored snapshots are exactly the batch reports, bucket by bucket
    (:func:`kpi.report.report_bucket`: own figures and totals): the reconciliation rule
    (:func:`kpi.reconcile.differences`, whose lines name what differs) and then equality of
    the whole reports (``as_of``, ``level``, ``view``, ``scope``, ``unit_name`` and
    ``criteria`` too; no extra bucket)."""
    stored = {report_bucket(r): r for r in snapshots.load_reports(engine)}
    assert differences(stored, reports) == []
    assert stored == reports


def _ledger(batch: BatchInput) -> dict[str, str]:
    out = {}
    for state in batch.states():
        d = summarize(state, HORIZON, CalendarBook())
        if d is not None:
            out[d.code] = d.status_at(HORIZON)
    return out


def _publish(settings: Settings, bootstrap: str, lines: list[bytes], tmp_path: Path
             ) -> tuple[BatchInput, dict[tuple[str, str], dict[str, Any]], dict[str, int]]:
    """Publish; returns the batch fold, the batch reports and records per topic."""
    ensure_topics(bootstrap, declared_topics(settings), settings)
    path = tmp_path / "events.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    prod = producer(settings, bootstrap)
    try:
        summary = ingest_file(path, prod, settings)
        assert summary.failed == 0 and summary.published == summary.valid
        batch = fold_lines(lines)
        reports = _reports(batch)
        first = next(iter(sorted(reports)))
        for (unit, period), report in sorted(reports.items()):
            key = snapshot_key(unit, period).encode()
            prod.send(settings.topics.kpi, key=key, value=orjson.dumps(report))
            if (unit, period) == first:  # an older snapshot arriving later must not win
                stale = build_report(unit, period, Counters(), HORIZON - 3600)
                prod.send(settings.topics.kpi, key=key, value=orjson.dumps(stale))
        prod.send(settings.topics.kpi, key=b"U?|2025", value=b"{not json")
        prod.flush(30)
    finally:
        prod.close()
    t = settings.topics
    published = {t.events: summary.published, t.dlq: summary.dead_lettered,
                 t.kpi: len(reports) + 2}
    return batch, reports, published


# --------------------------------------------------------------------------- running


@contextlib.contextmanager
def _running(sink: Sink) -> Iterator[threading.Thread]:
    stop = threading.Event()
    errors: list[BaseException] = []

    def target() -> None:
        try:
            sink.run(stop)
        except BaseException as exc:  # surfaced in the test below
            errors.append(exc)

    thread = threading.Thread(target=target, name="test-sink", daemon=True)
    thread.start()
    try:
        yield thread
    finally:
        stop.set()
        thread.join(30)
        assert not thread.is_alive(), "sink did not stop"
    if errors:
        raise errors[0]


def _caught_up(engine: Engine, group: str, expected: dict[str, int]) -> Callable[[], bool]:
    """True once the sink has committed, in the database, offsets past every record
    published (offsets are contiguous from 0 here: no transactions on these topics)."""

    def check() -> bool:
        q = (select(tables.sink_offsets.c.topic, func.sum(tables.sink_offsets.c.next_offset))
             .where(tables.sink_offsets.c.group_id == group)
             .group_by(tables.sink_offsets.c.topic))
        try:
            with engine.connect() as conn:
                done = {t: int(n) for t, n in conn.execute(q)}
        except Exception:  # the database is still down
            return False
        return all(done.get(t, 0) >= n for t, n in expected.items())

    return check


def _count(engine: Engine, table: Any) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


def _classifications(engine: Engine) -> dict[str, str]:
    with engine.connect() as conn:
        q = select(tables.dossiers.c.code, tables.dossiers.c.classification)
        return dict(conn.execute(q).all())  # type: ignore[arg-type]


def _distinct_events(batch: BatchInput) -> int:
    return batch.distinct_events()


def _sink(settings: Settings, engine: Engine, bootstrap: str, group: str,
          registry: CollectorRegistry | None = None, **kw: Any) -> Sink:
    return Sink(settings, engine, bootstrap, group_id=group, registry=registry,
                clock=lambda: HORIZON, backoff_initial=0.2, backoff_cap=1.0, **kw)


# --------------------------------------------------------------------------- tests


def test_sink_matches_batch_and_replays_idempotently(
    db_url: str, topic_settings: Callable[..., Settings], kafka_bootstrap: str,
    tmp_path: Path,
) -> None:
    settings = topic_settings()
    lines = _lines()
    batch, reports, published = _publish(settings, kafka_bootstrap, lines, tmp_path)
    engine = store.make_engine(db_url)
    try:
        group = f"{settings.consumer_group_prefix}-sink-a"
        registry = CollectorRegistry()
        with _running(_sink(settings, engine, kafka_bootstrap, group, registry)):
            wait_for(_caught_up(engine, group, published), timeout=90, what="sink caught up")
        assert (registry.get_sample_value("motcua_sink_batch_seconds_count") or 0) >= 1
        assert registry.get_sample_value("motcua_sink_db_errors_total") == 0

        # the ledger: one row per received dossier, classified as the batch path does
        expected_ledger = _ledger(batch)
        assert _classifications(engine) == expected_ledger
        # the snapshots: every unit and period, exactly the batch report (stale one lost)
        assert_stored_reports(engine, reports)
        some = next(iter(reports))
        assert snapshots.load_report(engine, *some) == reports[some]
        assert snapshots.load_report(engine, "nobody", "2025") is None
        # raw events deduplicated; every invalid line (and the bad snapshot) dead-lettered
        n_events = _count(engine, tables.raw_events)
        assert n_events == _distinct_events(batch)
        assert _count(engine, tables.dlq_records) == batch.invalid + 1

        # re-run from the start (a fresh group: offsets reset to the beginning)
        counts = {t.name: _count(engine, t) for t in tables.metadata.sorted_tables
                  if t.name != "sink_offsets"}
        group_b = f"{settings.consumer_group_prefix}-sink-b"
        with _running(_sink(settings, engine, kafka_bootstrap, group_b)):
            wait_for(_caught_up(engine, group_b, published), timeout=90,
                     what="replay caught up")
        after = {t.name: _count(engine, t) for t in tables.metadata.sorted_tables
                 if t.name != "sink_offsets"}
        assert after == counts
        assert _classifications(engine) == expected_ledger
        assert_stored_reports(engine, reports)

        # --from-beginning: the first group, at the end of every topic, reads it all again
        registry_c = CollectorRegistry()

        def read_again() -> float:
            return sum(registry_c.get_sample_value("motcua_sink_records_total", {"kind": k})
                       or 0.0 for k in ("event", "dead_letter", "snapshot"))

        with _running(_sink(settings, engine, kafka_bootstrap, group, registry_c,
                            from_beginning=True)):
            wait_for(lambda: read_again() >= sum(published.values()), timeout=90,
                     what="the first group to read every record again")
        assert read_again() == sum(published.values())
        assert {t.name: _count(engine, t) for t in tables.metadata.sorted_tables
                if t.name != "sink_offsets"} == counts
        assert _classifications(engine) == expected_ledger

        # pipeline health as /metrics would report it
        health = KafkaHealth(settings, kafka_bootstrap, {group: [settings.topics.events]})
        try:
            h = health()
        finally:
            health.close()
        assert h.dlq_records == batch.invalid
        assert h.lag == {(group, settings.topics.events): 0}
        lag = group_lag(settings, kafka_bootstrap, group_b, list(published))
        assert lag == dict.fromkeys(published, 0)
        assert h.newest_event_ts is not None and h.newest_event_ts <= time.time() + 5
    finally:
        engine.dispose()


def test_sink_stores_own_and_total_snapshots(
    db_url: str, topic_settings: Callable[..., Settings], kafka_bootstrap: str,
    tmp_path: Path,
) -> None:
    """Across the 1/7/2025 reorganisation, with the simulator's unit registry: the stream
    layer's snapshots of own figures (key ``unit|period``) and of totals
    (``unit|period|total``) are stored side by side under (unit, period, scope), each the
    batch report of that bucket (view as_was, the unit's name); a tombstone of a total
    removes that total only; the ledger holds each dossier's handling unit."""
    settings = topic_settings()
    config = SimulationConfig(seed=9, scale=0.01, reorganisation=True, shuffle=True,
                              duplicates=0.02)
    lines = list(generate_lines(config))
    units = write_registry(tmp_path / "units.csv", config.registry_rows())
    assert units > 0
    registry = UnitRegistry.load(tmp_path / "units.csv")
    batch = fold_lines(lines)
    reports = batch_reports(batch, HORIZON, registry)
    for r in reports.values():  # the stream layer names the unit (kpi.registry)
        name = registry.name_on(r["unit"], parse_period(r["period"]).first_day)
        if name is not None:
            r["unit_name"] = name
    assert any("unit_name" in r for r in reports.values())
    totals = sorted(b for b, r in reports.items() if r["scope"] == "total")
    # a total whose unit also has own figures that period: the tombstone must spare those
    gone = next(b for b in totals
                if (reports[b]["unit"], reports[b]["period"]) in reports)
    unit, period = reports[gone]["unit"], reports[gone]["period"]

    ensure_topics(kafka_bootstrap, declared_topics(settings), settings)
    path = tmp_path / "events.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    prod = producer(settings, kafka_bootstrap)
    try:
        summary = ingest_file(path, prod, settings)
        assert summary.failed == 0
        for _bucket, report in sorted(reports.items()):
            key = snapshot_key(report["unit"], report["period"], report["scope"])
            prod.send(settings.topics.kpi, key=key.encode(), value=orjson.dumps(report))
        prod.send(settings.topics.kpi, key=snapshot_key(unit, period, "total").encode(),
                  value=None)
        prod.flush(30)
    finally:
        prod.close()
    t = settings.topics
    published = {t.events: summary.published, t.dlq: summary.dead_lettered,
                 t.kpi: len(reports) + 1}
    engine = store.make_engine(db_url)
    try:
        group = f"{settings.consumer_group_prefix}-sink-units"
        with _running(_sink(settings, engine, kafka_bootstrap, group)):
            wait_for(_caught_up(engine, group, published), timeout=90, what="sink caught up")
        assert_stored_reports(engine, {b: r for b, r in reports.items() if b != gone})
        assert snapshots.load_report(engine, unit, period, "total") is None
        assert snapshots.load_report(engine, unit, period) == reports[(unit, period)]
        assert {r["scope"] for r in snapshots.load_reports(engine)} == {"own", "total"}
        assert all(r["view"] == "as_was" for r in snapshots.load_reports(engine))
        assert snapshots.load_reports(engine, scope="total") == [
            r for b, r in sorted(reports.items(), key=lambda i: (i[1]["unit"], i[1]["period"]))
            if r["scope"] == "total" and b != gone]
        # the ledger: receiving and handling unit as sent (some dossiers differ)
        handling = _handling_units(batch)
        assert any(h != u for u, h in handling.values())
        with engine.connect() as conn:
            d = tables.dossiers.c
            stored = {code: (u, h) for code, u, h in conn.execute(
                select(d.code, d.unit, d.handling_unit))}
        assert stored == handling
    finally:
        engine.dispose()


def _handling_units(batch: BatchInput) -> dict[str, tuple[str, str]]:
    """Dossier code → (receiving unit, handling unit) as the batch path summarizes them."""
    out = {}
    for state in batch.states():
        d = summarize(state, HORIZON, CalendarBook())
        if d is not None:
            out[d.code] = (d.unit, d.handling_unit)
    return out


def test_migrations_match_models(db_url: str) -> None:
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    engine = store.make_engine(db_url)
    try:
        store.upgrade(engine)
        store.upgrade(engine)  # idempotent
        assert store.current_revision(engine) == "0006_web_users"
        with engine.connect() as conn:
            assert compare_metadata(MigrationContext.configure(conn), tables.metadata) == []
    finally:
        engine.dispose()


# --------------------------------------------------------------------------- DB down


class Relay:
    """A TCP relay to PostgreSQL on a fixed local port that can be cut and restored.

    ``down()`` closes the listening socket and resets every relayed connection (so a
    pooled connection fails on its next use and a new one is refused); ``up()`` listens
    on the same port again."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.port = free_port()
        self._lock = threading.Lock()
        self._server: socket.socket | None = None
        self._open: set[socket.socket] = set()

    def up(self) -> None:
        server = socket.create_server(("127.0.0.1", self.port))  # SO_REUSEADDR on POSIX
        with self._lock:
            self._server = server
        threading.Thread(target=self._accept, args=(server,), daemon=True).start()

    def down(self) -> None:
        with self._lock:
            server, self._server = self._server, None
            conns, self._open = self._open, set()
        if server is not None:
            server.close()
        for sock in conns:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER,
                                b"\x01\x00\x00\x00\x00\x00\x00\x00")  # close = RST
                sock.close()

    def _accept(self, server: socket.socket) -> None:
        while True:
            try:
                client, _ = server.accept()
            except OSError:
                return  # closed by down()
            try:
                upstream = socket.create_connection(self.target)
            except OSError:
                client.close()
                continue
            with self._lock:
                if self._server is not server:  # cut meanwhile
                    client.close()
                    upstream.close()
                    continue
                self._open.update((client, upstream))
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(src: socket.socket, dst: socket.socket) -> None:
        with contextlib.suppress(OSError):
            while data := src.recv(65536):
                dst.sendall(data)
        with contextlib.suppress(OSError):
            dst.shutdown(socket.SHUT_WR)


def test_database_down_commits_nothing_then_drains(
    db_url: str, topic_settings: Callable[..., Settings], kafka_bootstrap: str,
    tmp_path: Path,
) -> None:
    settings = topic_settings()
    lines = _lines(scale=0.01, seed=11)
    batch, reports, published = _publish(settings, kafka_bootstrap, lines, tmp_path)
    good = store.make_engine(db_url)
    store.upgrade(good)
    proxy: Relay | None = None
    lock: sqlite3.Connection | None = None
    if db_url.startswith("sqlite"):
        # another writer holds the database: every write of the sink fails ("locked")
        lock = sqlite3.connect(db_url.removeprefix("sqlite:///"), isolation_level=None)
        lock.execute("BEGIN EXCLUSIVE")
        engine = store.make_engine(db_url, connect_args={"timeout": 0.1})
    else:
        proxy = Relay(address(db_url))  # down (port closed) until up()
        engine = store.make_engine(
            with_address(db_url, "127.0.0.1", proxy.port),
            connect_args={"connect_timeout": 2},
        )
    group = f"{settings.consumer_group_prefix}-sink-down"
    registry = CollectorRegistry()
    kadmin = admin(settings, kafka_bootstrap)
    try:
        with _running(_sink(settings, engine, kafka_bootstrap, group, registry,
                            migrate=False)):
            wait_for(
                lambda: (registry.get_sample_value("motcua_sink_db_errors_total") or 0) >= 3,
                timeout=90, what="failed writes")
            assert committed_offsets(kadmin, group) == {}
            assert registry.get_sample_value("motcua_sink_batch_seconds_count") == 0
            # restore the database: the backlog drains without a restart
            if lock is not None:
                lock.rollback()
                lock.close()
                lock = None
            if proxy is not None:
                proxy.up()
            wait_for(_caught_up(good, group, published), timeout=90, what="backlog drained")
        assert _classifications(good) == _ledger(batch)
        assert_stored_reports(good, reports)
        assert _count(good, tables.dlq_records) == batch.invalid + 1
    finally:
        kadmin.close()
        if lock is not None:
            lock.close()
        if proxy is not None:
            proxy.down()
        engine.dispose()
        good.dispose()
