"""Planner statistics of the SQL store (:mod:`consumers.statistics`), on real PostgreSQL.

Hand-worked case of the staleness rule (rows changed since the last ``ANALYZE`` >
``STALE_ROWS`` + ``STALE_FRACTION`` × rows then counted), with the defaults 1,000 and 0.1:

* 1,500 rows inserted into a ``raw_events`` never analyzed (counted as 0 rows):
  1,500 > 1,000 + 0.1 × 0 → stale; analyzing it counts 1,500 rows.
* then 1,150 rows more: 1,150 > 1,000 + 0.1 × 1,500 = 1,150 is false → not stale;
* one row more: 1,151 > 1,150 → stale.

And the sink's writer keeps them itself: a store whose tables were written only by
:class:`consumers.writer.SqlWriter` (this server may run without autovacuum, as CI's does)
has statistics for ``raw_events`` and ``dossiers``; with ``statistics_interval=None`` it
has none.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, text

from consumers import store
from consumers.rows import Batch, build_batch
from consumers.statistics import STALE_FRACTION, STALE_ROWS, analyze_stale, stale_tables
from consumers.writer import SqlWriter
from kpi.units import CalendarBook
from runtime.settings import load_settings
from runtime.waiting import wait_for
from tests.integration.test_sink import _lines
from tests.integration.test_sink_writer import HORIZON, Record
from tests.pgschema import pg_schema

pytestmark = pytest.mark.integration

SETTINGS = load_settings()
TABLES = ("raw_events", "dossiers")


@pytest.fixture
def engine() -> Iterator[Engine]:
    with pg_schema(prefix="stats") as url:
        engine = store.make_engine(url)
        store.upgrade(engine)
        try:
            yield engine
        finally:
            engine.dispose()


def _insert(engine: Engine, first: int, count: int) -> None:
    """``count`` events numbered from ``first``; the server's counters flushed at commit."""
    with engine.begin() as conn:
        conn.execute(text("SELECT pg_stat_force_next_flush()"))
        conn.execute(text(
            "INSERT INTO raw_events (source, id, subject, type, time, payload, topic, "
            "partition, \"offset\") SELECT 'src', 'e' || n, 'H' || (n / 7), "
            "'vn.gov.motcua.dossier.received', now(), '{}', 't', 0, n "
            "FROM generate_series(CAST(:first AS int), CAST(:last AS int)) AS n"), {"first": first,
                                                          "last": first + count - 1})


def _changed(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(text(
            "SELECT n_mod_since_analyze FROM pg_stat_user_tables "
            "WHERE schemaname = current_schema() AND relname = 'raw_events'")).scalar_one())


def _counted(engine: Engine, table: str) -> float:
    with engine.connect() as conn:
        return float(conn.execute(text(
            "SELECT reltuples FROM pg_class WHERE oid = to_regclass(:t)"), {"t": table}
        ).scalar_one())


def test_the_rule_by_hand(engine: Engine) -> None:
    assert (STALE_ROWS, STALE_FRACTION) == (1_000, 0.1)  # the figures worked out above
    assert _counted(engine, "raw_events") == -1  # never analyzed
    _insert(engine, 0, 1_500)
    wait_for(lambda: _changed(engine) == 1_500, timeout=30, what="counters of 1,500 rows")
    with engine.begin() as conn:
        assert stale_tables(conn, TABLES) == ["raw_events"]
        assert analyze_stale(conn, TABLES) == ["raw_events"]
    assert _counted(engine, "raw_events") == 1_500
    assert _changed(engine) == 0
    _insert(engine, 1_500, 1_150)
    wait_for(lambda: _changed(engine) == 1_150, timeout=30, what="counters of 1,150 rows")
    with engine.begin() as conn:
        assert stale_tables(conn, TABLES) == []
        assert analyze_stale(conn, TABLES) == []
    _insert(engine, 2_650, 1)
    wait_for(lambda: _changed(engine) == 1_151, timeout=30, what="counters of 1,151 rows")
    with engine.begin() as conn:
        assert analyze_stale(conn, TABLES) == ["raw_events"]
    assert _counted(engine, "raw_events") == 2_651


def test_nothing_on_sqlite(tmp_path: object) -> None:
    engine = store.make_engine(f"sqlite:///{tmp_path}/s.db")
    try:
        store.upgrade(engine)
        with engine.begin() as conn:
            assert analyze_stale(conn, TABLES) == []
    finally:
        engine.dispose()


def _write(engine: Engine, interval: float | None) -> SqlWriter:
    writer = SqlWriter(engine, group_id="g", clock=lambda: HORIZON,
                       calendar_for=CalendarBook(), statistics_interval=interval)
    lines = _lines(scale=0.05, seed=7)
    records = [Record(SETTINGS.topics.events, 0, i, None, line)
               for i, line in enumerate(lines)]
    for i in range(0, len(records), 1_000):
        writer.write(build_batch(records[i : i + 1_000], SETTINGS))
        writer.flush()
    assert len(lines) > 2 * STALE_ROWS
    return writer


def test_the_writer_analyzes_the_tables_it_fills(engine: Engine) -> None:
    writer = _write(engine, interval=0)

    def analyzed() -> bool:
        writer.store(Batch())  # a flush with nothing in it: the writer looks again
        return all(_counted(engine, t) > 0 for t in TABLES)

    wait_for(analyzed, timeout=30, what="raw_events and dossiers analyzed by the writer")


def test_without_upkeep_the_tables_stay_unanalyzed(engine: Engine) -> None:
    writer = _write(engine, interval=None)
    writer.store(Batch())
    assert [_counted(engine, t) for t in TABLES] == [-1, -1]
