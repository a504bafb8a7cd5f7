"""Both commands that run a sink stop with exit 75 and one clear message when the broker
lost records the sink had stored (:class:`schemas.errors.LogLost`).

The store is prepared as if the sink had already stored 1,000 records of every events
partition (``sink_offsets``); the broker's events topic holds only a few. ``motcua sink``
and ``motcua metrics --with-sink`` (real subprocesses, the session broker, a SQLite file)
must both refuse to store anything and exit 75 naming the loss.
"""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest

from consumers import store, tables
from runtime.kafka import producer
from runtime.settings import Settings
from runtime.topics import declared_topics, ensure_topics, sink_group
from schemas.errors import EXIT_LOG_LOST
from tests.eventkit import json_line, received_dict
from tests.integration.test_sink import _count
from tests.integration.test_sink_kill import _start_sink, _stop, _tail

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("command", [
    ("motcua", "sink"),
    ("motcua", "metrics", "--with-sink", "--port", "0"),
], ids=["sink", "metrics-with-sink"])
def test_lost_log_exits_75_with_the_same_message(
    command: tuple[str, ...], topic_settings: Callable[..., Settings], kafka_bootstrap: str,
    tmp_path: Path,
) -> None:
    settings = topic_settings()
    ensure_topics(kafka_bootstrap, declared_topics(settings), settings)
    url = f"sqlite:///{tmp_path / 'sink.db'}"
    engine = store.make_engine(url)
    proc: subprocess.Popen[bytes] | None = None
    log = tmp_path / "sink.log"
    try:
        store.upgrade(engine)
        now = datetime.now(UTC)
        with engine.begin() as conn:  # what a sink that stored 1,000 records per partition left
            store.upsert_offsets(conn, [
                {"group_id": sink_group(settings), "topic": settings.topics.events,
                 "partition": p, "next_offset": 1000, "updated_at": now}
                for p in range(settings.topic_partitions)])
        prod = producer(settings, kafka_bootstrap)
        try:
            for i in range(8):  # a few records, on several partitions
                code = f"H{i}"
                prod.send(settings.topics.events, key=code.encode(), value=json_line(
                    received_dict("2025-05-05T09:00:00+07:00", code)))
            prod.flush(30)
        finally:
            prod.close()

        proc = _start_sink(settings, url, kafka_bootstrap, log, "lost-log", command)
        assert proc.wait(90) == EXIT_LOG_LOST, _tail(log)
        text = " ".join(log.read_text(errors="replace").split())  # rich wraps long lines
        assert "sink stopped: the broker lost records this sink already stored" in text, text
        assert "refusing to store KPIs computed from what is left" in text, text
        assert _count(engine, tables.raw_events) == 0
        assert _count(engine, tables.dossiers) == 0
    finally:
        if proc is not None:
            _stop(proc)
        engine.dispose()
