"""The sink's periodic ledger refresh: an open dossier whose due instant passes turns
``overdue`` in the ledger with no new event (SQLite file and PostgreSQL)."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from sqlalchemy import Engine, func, select

from consumers import store, tables
from consumers.rows import build_batch
from consumers.sink import Sink
from consumers.writer import refresh_open_dossiers, write_batch
from kpi.units import CalendarBook
from runtime.kafka import producer
from runtime.settings import Settings
from runtime.topics import declared_topics, ensure_topics
from runtime.waiting import wait_for
from tests.eventkit import event_dict, json_line, received_dict
from tests.integration.test_sink import _running
from tests.pgschema import pg_schema

pytestmark = pytest.mark.integration


@pytest.fixture(params=["sqlite", "postgresql"])
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    with contextlib.ExitStack() as stack:
        if request.param == "sqlite":
            url = f"sqlite:///{tmp_path / 'sink.db'}"
        else:
            url = stack.enter_context(pg_schema(prefix="refresh"))
        eng = store.make_engine(url)
        stack.callback(eng.dispose)
        store.upgrade(eng)
        yield eng


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat()


def _received(code: str, at: float, due: float) -> bytes:
    """Dossier ``code`` received at ``at`` with the due instant ``due`` (epoch seconds)."""
    return json_line(received_dict(_iso(at), code, level="commune", due=_iso(due),
                                   id_=f"{code}-r"))


def _resolved(code: str, at: float) -> bytes:
    return json_line(event_dict("dossier.resolved", _iso(at), code, id_=f"{code}-c"))


def _ledger(engine: Engine) -> dict[str, str]:
    with engine.connect() as conn:
        q = select(tables.dossiers.c.code, tables.dossiers.c.classification)
        return {code: cls for code, cls in conn.execute(q)}


def _count(engine: Engine, table: Any) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(func.count()).select_from(table)).scalar_one())


def test_refresh_rejudges_only_open_dossiers_past_due(engine: Engine) -> None:
    """The function alone, with explicit horizons (no clock, no broker)."""
    t0 = time.time() - 3600
    lines = [
        _received("A", t0, t0 + 600),          # open, due at t0 + 10 min
        _received("B", t0, t0 + 30 * 86400),   # open, due in a month
        _received("C", t0, t0 + 3 * 86400),    # resolved days before due: early
        _resolved("C", t0 + 60),
    ]
    settings = Settings()
    records = [SimpleNamespace(topic=settings.topics.events, partition=0, offset=i, key=None,
                               value=raw) for i, raw in enumerate(lines)]
    cal = CalendarBook()
    write_batch(engine, build_batch(records, settings), group_id="g", horizon=t0 + 120,
                calendar_for=cal)
    assert _ledger(engine) == {"A": "in_progress", "B": "in_progress", "C": "early"}

    assert refresh_open_dossiers(engine, t0 + 300, cal) == (0, 0)  # nothing past due yet
    assert refresh_open_dossiers(engine, t0 + 900, cal) == (1, 1)
    assert _ledger(engine) == {"A": "overdue", "B": "in_progress", "C": "early"}
    assert refresh_open_dossiers(engine, t0 + 900, cal) == (0, 0)  # A is no longer open


def test_open_dossier_turns_overdue_without_new_events(
    engine: Engine, topic_settings: Callable[..., Settings], kafka_bootstrap: str,
) -> None:
    settings = topic_settings()
    ensure_topics(kafka_bootstrap, declared_topics(settings), settings)
    now = time.time()
    soon = now + 8.0  # the sink must first see H1 open: due a few seconds ahead
    lines = [
        (b"H1", _received("H1", now - 60, soon)),
        (b"H2", _received("H2", now - 60, now + 30 * 86400)),
        (b"H3", _received("H3", now - 60, now + 3 * 86400)),
        (b"H3", _resolved("H3", now - 30)),
    ]
    prod = producer(settings, kafka_bootstrap)
    try:
        for key, value in lines:
            prod.send(settings.topics.events, key=key, value=value)
        prod.flush(30)
    finally:
        prod.close()

    group = f"{settings.consumer_group_prefix}-refresh"
    sink = Sink(settings, engine, kafka_bootstrap, group_id=group, ledger_refresh_interval=0.5,
                backoff_initial=0.2, backoff_cap=1.0)
    with _running(sink):
        wait_for(lambda: len(_ledger(engine)) == 3, timeout=60,
                 what="the ledger rows of H1, H2, H3")
        seen = _ledger(engine)
        assert seen["H3"] == "early" and seen["H2"] == "in_progress"
        if time.time() < soon:  # normally: the sink caught up well within 8 s
            assert seen["H1"] == "in_progress"
        # the batch is counted once its offsets are committed, just after its rows show
        wait_for(lambda: sink.batches > 0 and _count(engine, tables.raw_events) == 4,
                 timeout=30, what="the sink to count the batch of H1, H2, H3")
        events = _count(engine, tables.raw_events)
        batches = sink.batches
        wait_for(lambda: _ledger(engine)["H1"] == "overdue", timeout=30,
                 what="H1 to turn overdue")
        assert _ledger(engine) == {"H1": "overdue", "H2": "in_progress", "H3": "early"}
        # no event arrived meanwhile: the refresh did it
        assert _count(engine, tables.raw_events) == events == 4
        assert sink.batches == batches
