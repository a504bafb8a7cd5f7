"""Killing ``motcua sink`` mid-batch and restarting it leaves no duplicates and no gaps.

The sink runs as a real subprocess (``python -m motcua sink``) against the session broker and
a SQLite file or a PostgreSQL schema. A simulated stream (shuffled, with duplicates and
invalid lines) and its KPI snapshots are published as in :mod:`tests.integration.test_sink`;
while the sink is consuming it, and only once it has committed some but not all of it and a
write transaction is open in the database, the process is SIGKILLed. A fresh process of the
same consumer group then finishes the job, and the store must be exactly what the batch path
computes: every distinct event once, the ledger, the snapshots and every dead letter.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, create_engine, func, select, text

from consumers import store
from consumers.sink import sink_group
from kpi.dossier import fact_key
from motcua.kafka import group_lag
from motcua.settings import Settings
from tests.integration import test_sink as base
from tests.integration.test_sink import (
    _caught_up,
    _classifications,
    _count,
    _distinct_events,
    _ledger,
    _lines,
    _publish,
    _wait,
)
from tests.pgschema import PG_URL

pytestmark = pytest.mark.integration

db_url = base.db_url  # the same SQLite-file / PostgreSQL-schema fixture (fails without PG)

REPO = Path(__file__).resolve().parents[2]


# --------------------------------------------------------------------------- the process


def _start_sink(settings: Settings, url: str, bootstrap: str, log: Path, app_name: str
                ) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "MOTCUA_TOPICS__EVENTS": settings.topics.events,
        "MOTCUA_TOPICS__DLQ": settings.topics.dlq,
        "MOTCUA_TOPICS__KPI": settings.topics.kpi,
        "MOTCUA_TOPICS__CONTRIBUTIONS": settings.topics.contributions,
        "MOTCUA_CONSUMER_GROUP_PREFIX": settings.consumer_group_prefix,
        "PGAPPNAME": app_name,  # lets the test find the sink's PostgreSQL sessions
    }
    cmd = [sys.executable, "-m", "motcua", "sink", "--db", url, "--bootstrap", bootstrap,
           "--metrics-port", "0"]
    with log.open("ab") as out:
        return subprocess.Popen(cmd, cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT)


def _tail(log: Path, lines: int = 40) -> str:
    try:
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def _committed(engine: Engine, group: str) -> int:
    """Records the sink has committed in the database (sum of next offsets over every
    topic and partition); 0 before the tables exist."""
    q = (select(func.coalesce(func.sum(store.sink_offsets.c.next_offset), 0))
         .where(store.sink_offsets.c.group_id == group))
    try:
        with engine.connect() as conn:
            return int(conn.execute(q).scalar_one())
    except Exception:  # migrations not run yet
        return 0


@contextlib.contextmanager
def _write_probe(url: str, app_name: str) -> Iterator[Callable[[], bool]]:
    """``probe() -> bool``: is a write transaction of the sink open right now?

    SQLite: the database's write lock is held (``BEGIN IMMEDIATE`` without waiting fails;
    if it succeeds it is rolled back at once). PostgreSQL: a session of the sink has a
    transaction id, i.e. its open transaction has written something."""
    if url.startswith("sqlite"):
        con = sqlite3.connect(url.removeprefix("sqlite:///"), timeout=0, isolation_level=None)

        def sqlite_probe() -> bool:
            try:
                con.execute("BEGIN IMMEDIATE")
            except sqlite3.OperationalError as exc:
                if "locked" in str(exc) or "busy" in str(exc):
                    return True
                raise
            con.execute("ROLLBACK")
            return False

        try:
            yield sqlite_probe
        finally:
            con.close()
        return
    engine = create_engine(PG_URL)
    q = text("SELECT count(*) FROM pg_stat_activity "
             "WHERE application_name = :app AND backend_xid IS NOT NULL")

    def pg_probe() -> bool:
        with engine.connect() as conn:
            return int(conn.execute(q, {"app": app_name}).scalar_one()) > 0

    try:
        yield pg_probe
    finally:
        engine.dispose()


def _stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.kill()
        proc.wait(10)


# --------------------------------------------------------------------------- the test


def test_sink_killed_mid_batch_restarts_without_duplicates_or_gaps(
    db_url: str, topic_settings: Callable[..., Settings], kafka_bootstrap: str,
    tmp_path: Path,
) -> None:
    t0 = time.monotonic()
    settings = topic_settings()
    lines = _lines(scale=0.1, seed=23)
    batch, reports, published = _publish(settings, kafka_bootstrap, lines, tmp_path)
    total = sum(published.values())
    distinct = _distinct_events(batch)
    t_published = time.monotonic()

    group = sink_group(settings)
    app_name = f"kill-{settings.consumer_group_prefix}"
    log = tmp_path / "sink.log"
    engine = store.make_engine(db_url)
    procs: list[subprocess.Popen[bytes]] = []
    try:
        # ---- first run: SIGKILL once some, not all, is committed and a write is open
        first = _start_sink(settings, db_url, kafka_bootstrap, log, app_name)
        procs.append(first)
        with _write_probe(db_url, app_name) as writing:
            deadline = time.monotonic() + 30
            t_first_commit = None
            while True:
                assert first.poll() is None, f"sink exited early:\n{_tail(log)}"
                done = _committed(engine, group)
                if done and t_first_commit is None:
                    t_first_commit = time.monotonic()
                assert done < total, (
                    "the sink committed everything before it could be killed mid-stream "
                    "(publish more)")
                if done and writing():
                    os.kill(first.pid, signal.SIGKILL)
                    break
                assert time.monotonic() < deadline, f"no progress:\n{_tail(log)}"
                time.sleep(0.005)  # readiness polling, not a fixed wait
            t_kill = time.monotonic()
        assert first.wait(10) == -signal.SIGKILL

        # what the killed process left behind: a committed prefix, the open batch gone
        at_kill = _committed(engine, group)
        events_at_kill = _count(engine, store.raw_events)
        print(f"\n[{engine.dialect.name}] killed with {at_kill}/{total} records committed "
              f"({events_at_kill}/{distinct} distinct events stored)")
        assert 0 < at_kill < total
        assert 0 < events_at_kill < distinct

        # ---- second run, same consumer group: it must finish the job exactly
        second = _start_sink(settings, db_url, kafka_bootstrap, log, app_name)
        procs.append(second)
        t_restart = time.monotonic()
        _wait(_caught_up(engine, group, published), timeout=60, what="restarted sink caught up")
        t_caught_up = time.monotonic()
        second.send_signal(signal.SIGTERM)
        assert second.wait(30) == 0, f"sink did not stop cleanly:\n{_tail(log)}"

        # no gaps, no duplicates: exactly the distinct events of the stream
        with engine.connect() as conn:
            keys = [fact_key(s, i) for s, i in conn.execute(
                select(store.raw_events.c.source, store.raw_events.c.id))]
        assert len(keys) == distinct
        assert set(keys) == {k for facts in batch.facts.values() for k in facts}
        # the ledger and the snapshots as the batch path computes them
        assert _classifications(engine) == _ledger(batch)
        assert {(r["unit"], r["period"]): r for r in store.load_reports(engine)} == reports
        # every invalid line and the bad snapshot dead-lettered once
        assert _count(engine, store.dlq_records) == batch.invalid + 1
        # and Kafka agrees: the group has committed up to the end of every topic
        lag = group_lag(settings, kafka_bootstrap, group, list(published))
        assert lag == dict.fromkeys(published, 0)

        print(f"[{engine.dialect.name}] {len(lines)} lines, {distinct} distinct events, "
              f"{total} records; publish {t_published - t0:.1f}s, first commit "
              f"{(t_first_commit or t_kill) - t_published:.1f}s after start, kill at "
              f"{t_kill - t_published:.1f}s, restart caught up in "
              f"{t_caught_up - t_restart:.1f}s, total {time.monotonic() - t0:.1f}s")
    except BaseException:
        print(_tail(log))
        raise
    finally:
        for proc in procs:
            _stop(proc)
        engine.dispose()
