"""Killing ``motcua sink`` mid-batch and restarting it leaves no duplicates and no gaps.

The sink runs as a real subprocess (``python -m motcua sink``) against the session broker and
a SQLite file or a PostgreSQL schema. A simulated stream (shuffled, with duplicates and
invalid lines) and its KPI snapshots are published as in :mod:`tests.integration.test_sink`;
while the sink is consuming it, and only once it has committed some but not all of it and a
write transaction is open in the database, the process is SIGKILLed. A fresh process of the
same consumer group then finishes the job, and the store must be exactly what the batch path
computes: every distinct event once, the ledger, the snapshots and every dead letter.

A deterministic variant kills the sink exactly between a batch's database commit and its
Kafka offset commit (a test-only subclass, :mod:`tests.integration.sink_killed_after_db_commit`):
the replayed batch must change nothing.
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
from typing import Any

import orjson
import pytest
from sqlalchemy import Engine, create_engine, func, select, text

from consumers import store, tables
from kpi.batch import BatchInput
from kpi.dossier import fact_key
from runtime.children import spawn
from runtime.kafka import admin, committed_offsets, group_lag
from runtime.settings import Settings
from runtime.topics import sink_group
from runtime.waiting import wait_for
from tests.integration import test_sink as base
from tests.integration.test_sink import (
    _caught_up,
    _classifications,
    _count,
    _distinct_events,
    _ledger,
    _lines,
    _publish,
    assert_stored_reports,
)
from tests.pgserver import database_url

pytestmark = pytest.mark.integration

db_url = base.db_url  # the same SQLite-file / PostgreSQL-schema fixture (fails without PG)

REPO = Path(__file__).resolve().parents[2]


# --------------------------------------------------------------------------- the process


def _start_sink(settings: Settings, url: str, bootstrap: str, log: Path, app_name: str,
                command: tuple[str, ...] = ("motcua", "sink")) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "MOTCUA_TOPICS__EVENTS": settings.topics.events,
        "MOTCUA_TOPICS__DLQ": settings.topics.dlq,
        "MOTCUA_TOPICS__KPI": settings.topics.kpi,
        "MOTCUA_TOPICS__CONTRIBUTIONS": settings.topics.contributions,
        "MOTCUA_CONSUMER_GROUP_PREFIX": settings.consumer_group_prefix,
        "PGAPPNAME": app_name,  # lets the test find the sink's PostgreSQL sessions
    }
    cmd = [sys.executable, "-m", *command, "--db", url, "--bootstrap", bootstrap]
    if command == ("motcua", "sink"):
        cmd += ["--metrics-port", "0"]
    with log.open("ab") as out:
        return spawn(cmd, cwd=REPO, env=env, stdout=out, stderr=subprocess.STDOUT)


def _tail(log: Path, lines: int = 40) -> str:
    try:
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def _committed(engine: Engine, group: str) -> int:
    """Records the sink has committed in the database (sum of next offsets over every
    topic and partition); 0 before the tables exist."""
    q = (select(func.coalesce(func.sum(tables.sink_offsets.c.next_offset), 0))
         .where(tables.sink_offsets.c.group_id == group))
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
    engine = create_engine(database_url())
    q = text("SELECT count(*) FROM pg_stat_activity "
             "WHERE application_name = :app AND backend_xid IS NOT NULL")

    def pg_probe() -> bool:
        with engine.connect() as conn:
            return int(conn.execute(q, {"app": app_name}).scalar_one()) > 0

    try:
        yield pg_probe
    finally:
        engine.dispose()


def _assert_store_is_the_batch(engine: Engine, batch: BatchInput, reports: dict[Any, Any],
                               distinct: int) -> None:
    """After a kill and restart: exactly the distinct events of the stream (no duplicates
    from a replayed batch, no gaps), the ledger and snapshots as the batch path computes
    them, every invalid line and the bad snapshot dead-lettered once."""
    with engine.connect() as conn:
        keys = [fact_key(s, i) for s, i in conn.execute(
            select(tables.raw_events.c.source, tables.raw_events.c.id))]
    assert len(keys) == distinct
    assert set(keys) == {k for facts in batch.facts.values() for k in facts}
    assert _classifications(engine) == _ledger(batch)
    assert_stored_reports(engine, reports)
    assert _count(engine, tables.dlq_records) == batch.invalid + 1


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
        first_commit: list[float] = []
        with _write_probe(db_url, app_name) as writing:

            def killable() -> bool:
                """Some records committed, not all, events among them (the first batches
                may hold only KPI snapshots), and a write transaction open."""
                done = _committed(engine, group)
                if done and not first_commit:
                    first_commit.append(time.monotonic())
                assert done < total, (
                    "the sink committed everything before it could be killed mid-stream "
                    "(publish more)")
                return bool(done) and _count(engine, tables.raw_events) > 0 and writing()

            wait_for(killable, timeout=30, what="a write of the sink past its first commit",
                     poll=0.005, process=first)
            os.kill(first.pid, signal.SIGKILL)
            t_kill = time.monotonic()
        t_first_commit = first_commit[0] if first_commit else None
        assert first.wait(10) == -signal.SIGKILL

        # what the killed process left behind: a committed prefix, the open batch gone
        at_kill = _committed(engine, group)
        events_at_kill = _count(engine, tables.raw_events)
        print(f"\n[{engine.dialect.name}] killed with {at_kill}/{total} records committed "
              f"({events_at_kill}/{distinct} distinct events stored)")
        assert 0 < at_kill < total
        assert 0 < events_at_kill < distinct

        # ---- second run, same consumer group: it must finish the job exactly
        second = _start_sink(settings, db_url, kafka_bootstrap, log, app_name)
        procs.append(second)
        t_restart = time.monotonic()
        wait_for(_caught_up(engine, group, published), timeout=60, what="restarted sink caught up")
        t_caught_up = time.monotonic()
        second.send_signal(signal.SIGTERM)
        assert second.wait(30) == 0, f"sink did not stop cleanly:\n{_tail(log)}"

        _assert_store_is_the_batch(engine, batch, reports, distinct)
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


def _db_offsets(engine: Engine, group: str) -> dict[tuple[str, int], int]:
    o = tables.sink_offsets.c
    q = select(o.topic, o.partition, o.next_offset).where(o.group_id == group)
    with engine.connect() as conn:
        return {(t, p): n for t, p, n in conn.execute(q)}


def _kafka_offsets(settings: Settings, bootstrap: str, group: str) -> dict[tuple[str, int], int]:
    kadmin = admin(settings, bootstrap)
    try:
        return {(tp.topic, tp.partition): o
                for tp, o in committed_offsets(kadmin, group).items()}
    finally:
        kadmin.close()


def test_sink_killed_between_db_and_kafka_commit(
    db_url: str, topic_settings: Callable[..., Settings], kafka_bootstrap: str,
    tmp_path: Path,
) -> None:
    """Deterministic variant: the sink SIGKILLs itself right after the 2nd batch's database
    commit, before that batch's Kafka offset commit (``sink_killed_after_db_commit``). The
    database is then one batch ahead of Kafka; the restarted ``motcua sink`` replays that
    batch from the Kafka offsets, and the replay must change nothing."""
    from tests.integration.sink_killed_after_db_commit import KILLED_MARK

    t0 = time.monotonic()
    settings = topic_settings()
    lines = _lines(scale=0.1, seed=29)
    batch, reports, published = _publish(settings, kafka_bootstrap, lines, tmp_path)
    total = sum(published.values())
    distinct = _distinct_events(batch)
    group = sink_group(settings)
    app_name = f"killcommit-{settings.consumer_group_prefix}"
    log = tmp_path / "sink.log"
    engine = store.make_engine(db_url)
    procs: list[subprocess.Popen[bytes]] = []
    try:
        first = _start_sink(settings, db_url, kafka_bootstrap, log, app_name,
                            ("tests.integration.sink_killed_after_db_commit", "--kill-after",
                             "2"))
        procs.append(first)
        assert first.wait(90) == -signal.SIGKILL, f"not killed:\n{_tail(log)}"
        t_kill = time.monotonic()
        marks = [ln for ln in log.read_text().splitlines() if ln.startswith(KILLED_MARK)]
        assert len(marks) == 1, _tail(log)
        mark = orjson.loads(marks[0].removeprefix(KILLED_MARK))
        killed = {(t, p): o for t, p, o in mark["offsets"]}

        # the database holds batches 1 and 2; Kafka only batch 1
        in_db = _db_offsets(engine, group)
        in_kafka = _kafka_offsets(settings, kafka_bootstrap, group)
        assert in_kafka, "batch 1's offsets were not committed to Kafka"
        assert in_db == {**in_kafka, **killed}
        assert all(in_kafka.get(tp, 0) < o for tp, o in killed.items())
        ahead = sum(in_db.values()) - sum(in_kafka.values())
        events_at_kill = _count(engine, tables.raw_events)
        print(f"\n[{engine.dialect.name}] killed after batch 2's DB commit: {sum(in_db.values())}"
              f"/{total} records in the DB, {sum(in_kafka.values())} committed in Kafka "
              f"({ahead} to be replayed); {events_at_kill}/{distinct} distinct events stored")
        assert 0 < sum(in_kafka.values()) < sum(in_db.values()) < total

        # the real `motcua sink`, same group: replays batch 2 from Kafka, then the rest
        second = _start_sink(settings, db_url, kafka_bootstrap, log, app_name)
        procs.append(second)
        t_restart = time.monotonic()

        def replayed() -> bool:
            now_in_kafka = _kafka_offsets(settings, kafka_bootstrap, group)
            return all(now_in_kafka.get(tp, -1) >= o for tp, o in killed.items())

        wait_for(replayed, timeout=60, what="the replayed batch committed to Kafka")
        wait_for(_caught_up(engine, group, published), timeout=60, what="restarted sink caught up")
        t_caught_up = time.monotonic()
        second.send_signal(signal.SIGTERM)
        assert second.wait(30) == 0, f"sink did not stop cleanly:\n{_tail(log)}"

        _assert_store_is_the_batch(engine, batch, reports, distinct)
        # and Kafka agrees: the group has committed up to the end of every topic
        lag = group_lag(settings, kafka_bootstrap, group, list(published))
        assert lag == dict.fromkeys(published, 0)
        assert _db_offsets(engine, group) == _kafka_offsets(settings, kafka_bootstrap, group)
        print(f"[{engine.dialect.name}] {len(lines)} lines, {distinct} distinct events, "
              f"{total} records; killed {t_kill - t0:.1f}s after start, restart caught up in "
              f"{t_caught_up - t_restart:.1f}s, total {time.monotonic() - t0:.1f}s")
    except BaseException:
        print(_tail(log))
        raise
    finally:
        for proc in procs:
            _stop(proc)
        engine.dispose()
