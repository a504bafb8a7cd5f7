"""The embedded broker restarted under a running pipeline, and the recovery by replay.

The embedded Tansu broker keeps everything in memory: a restart loses every topic, record,
committed offset and group. This test runs a stream worker (``python -m streams.run``) and
the SQL sink (``motcua sink``, SQLite) against a broker of its own on a fixed port, feeds
them the first half of a simulated file with ``motcua ingest``, restarts the broker on the
same port and feeds the second half, then records what the surviving processes did.

What they do (asserted below): both notice that the new log lacks records they had
written or stored, and stop with exit status 75 instead of counting what is left —

* the worker: its rejoin revokes and re-recovers its partitions; the changelogs now end
  before offsets the broker had acknowledged to it (or are gone), so its rebuild raises
  ``LogLost`` ("the broker lost records of …", ``streams.delivery.AtLeastOnce.check_not_lost``)
  and ``python -m streams.run`` exits 75. Before this check it rebuilt from the empty
  changelogs and published snapshots of the post-restart events only (every bucket
  wrong: docs/decisions/streams-lost-log-stops-the-worker.md);
* the sink: on (re)assignment it compares each partition's end offset with the next offset
  ``sink_offsets`` holds and refuses to write ("the broker lost records this sink already
  stored", ``consumers.sink.LogLost``). Before, it stored the wrong snapshots over the
  right ones and dropped dead letters whose coordinates the new log reused.

So no wrong number is published or stored: SQL keeps the first half's snapshots.

A worker or sink started afresh on the new broker would stop too: the sink's offsets are
in SQL, the worker's in its local state (``<data dir>/state``); hence the procedure below.

The recovery procedure: restart the broker once more, empty (replaying into a broker the
survivors had written to left a fresh worker stuck in faust's changelog recovery); in the
SQL store empty ``kpi_snapshots``, ``dlq_records`` and
``sink_offsets`` (keyed by the lost log, or holding buckets no replay rewrites); delete the
worker's local state; start a fresh worker and sink; ``motcua ingest`` the whole file
again. The snapshots on the kpi
topic and every SQL table then equal the batch report of the file — see docs/operations.md, "Fault
matrix".
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, select

from consumers import snapshots, store, tables
from kpi.batch import fold_lines
from kpi.reconcile import batch_reports, differences
from runtime.broker import embedded_broker, free_port, stop_process
from runtime.children import spawn
from runtime.kafka import group_lag, read_topic
from runtime.settings import Settings, load_settings
from runtime.topics import sink_group
from runtime.waiting import wait_for
from schemas.validate import InvalidEvent, parse_event
from streams.idle import read_snapshots
from streams.launcher import spawn_worker
from tests.integration.test_sink import _classifications, _count, _ledger, _lines

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]


class Broker:
    """An embedded broker on a fixed port that can be restarted (memory lost)."""

    def __init__(self) -> None:
        self.port = free_port()
        self.bootstrap = f"127.0.0.1:{self.port}"
        self._cm: Any = None

    def start(self) -> None:
        self._cm = embedded_broker(port=self.port)
        assert self._cm.__enter__() == self.bootstrap

    def stop(self) -> None:
        if self._cm is not None:
            cm, self._cm = self._cm, None
            cm.__exit__(None, None, None)

    def restart(self) -> None:
        self.stop()
        self.start()


@pytest.fixture
def broker() -> Iterator[Broker]:
    b = Broker()
    b.start()
    try:
        yield b
    finally:
        b.stop()


def expected(lines: list[bytes], horizon: float) -> dict[tuple[str, str], dict[str, Any]]:
    return batch_reports(fold_lines(lines), horizon)


def test_broker_restart_then_replay(broker: Broker, tmp_path: Path) -> None:
    t0 = time.monotonic()
    suffix = uuid.uuid4().hex[:10]
    settings = load_settings(
        kafka_bootstrap=broker.bootstrap, data_dir=str(tmp_path),
        consumer_group_prefix=f"restart-{suffix}",
        topics={"events": f"r.events.{suffix}", "dlq": f"r.dlq.{suffix}",
                "contributions": f"r.contributions.{suffix}", "kpi": f"r.kpi.{suffix}"},
    )
    topics = settings.topics
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("MOTCUA_")},
           **settings.as_env()}
    db_url = f"sqlite:///{tmp_path / 'sink.db'}"
    lines = _lines(scale=0.03, seed=43)
    half = len(lines) // 2
    first, second = lines[:half], lines[half:]
    invalid_lines = [ln for ln in lines if _invalid(ln)]
    invalid = set(invalid_lines)
    procs: list[subprocess.Popen[bytes]] = []
    logs: list[Path] = []

    def start(name: str, *cmd: str) -> subprocess.Popen[bytes]:
        log = tmp_path / f"{name}-{len(procs)}.log"
        with log.open("wb") as out:
            proc = spawn([sys.executable, "-m", *cmd], cwd=ROOT, env=env,
                         stdout=out, stderr=subprocess.STDOUT)
        procs.append(proc)
        logs.append(log)
        return proc

    def start_worker() -> subprocess.Popen[bytes]:
        log = tmp_path / f"worker-{len(procs)}.log"
        proc = spawn_worker(settings, broker.bootstrap, log, loglevel="info")
        procs.append(proc)
        logs.append(log)
        return proc

    def ingest(part: list[bytes], name: str) -> None:
        path = tmp_path / f"{name}.jsonl"
        path.write_bytes(b"\n".join(part) + b"\n")
        done = subprocess.run([sys.executable, "-m", "motcua", "ingest", str(path),
                               "--bootstrap", broker.bootstrap], cwd=ROOT, env=env,
                              capture_output=True, timeout=120)
        assert done.returncode == 0, done.stderr.decode(errors="replace")[-2000:]

    def snapshots_equal(part: list[bytes]) -> bool:
        try:
            snaps = read_snapshots(settings, broker.bootstrap)
        except (LookupError, TimeoutError):
            return False
        return not differences(snaps, expected(part, time.time()))

    engine = store.make_engine(db_url)

    def sink_done() -> bool:
        try:
            lag = group_lag(settings, broker.bootstrap, sink_group(settings),
                            [topics.events, topics.dlq, topics.kpi])
        except Exception:  # topics not there yet
            return False
        return not any(lag.values())

    def stored_reports() -> dict[tuple[str, str], dict[str, Any]]:
        try:
            return {(r["unit"], r["period"]): r for r in snapshots.load_reports(engine)}
        except Exception:  # tables not created yet
            return {}

    def sink_agrees(part: list[bytes]) -> bool:
        return sink_done() and not differences(stored_reports(), expected(part, time.time()))

    try:
        # ---- 1. the pipeline on the first half
        worker = start_worker()
        sink = start("sink", "motcua", "sink", "--db", db_url, "--bootstrap", broker.bootstrap)
        ingest(first, "first")
        wait_for(lambda: snapshots_equal(first), timeout=120, poll=0.5,
                 what="snapshots of the first half")
        wait_for(lambda: sink_agrees(first), timeout=60, poll=0.5,
                 what="the sink to store the first half")
        dlq_before = _dead_letters(engine)
        assert set(dlq_before.values()) == {ln for ln in first if ln in invalid}
        t_first = time.monotonic()

        # ---- 2. the broker restarts (same port, empty); the second half follows
        snapshots_before = stored_reports()
        broker.restart()
        t_restart = time.monotonic()
        ingest(second, "second")
        # both survivors notice that the log lost records they had written or stored, and
        # stop instead of counting only what is left
        for proc, name in ((worker, "worker"), (sink, "sink")):
            wait_for(lambda p=proc: p.poll() is not None,  # type: ignore[misc]
                     timeout=90, poll=0.5, what=f"the {name} to stop")
        t_stopped = time.monotonic()
        worker_log = logs[0].read_text(errors="replace")
        sink_log = logs[1].read_text(errors="replace")
        assert worker.returncode == 75, (worker.returncode, _tail(logs[0]))
        assert "the broker lost records of" in worker_log
        assert sink.returncode == 75, (sink.returncode, _tail(logs[1]))
        assert "the broker lost records this sink already stored" in sink_log
        # no wrong number was stored: the SQL snapshots are still those of the first half,
        # and the worker published nothing on the new broker
        assert stored_reports() == snapshots_before
        assert not differences(stored_reports(), expected(first, time.time()))
        assert not _records(settings, broker.bootstrap, topics.kpi)
        print(f"\nafter the restart: worker and sink stopped with exit 75 in "
              f"{t_stopped - t_restart:.1f}s; SQL still holds the first half's "
              f"{len(snapshots_before)} snapshots; nothing published on the new broker")

        # ---- 3. recovery: restart the broker empty, clear the SQL rows keyed by the lost
        # log (and the offsets that made the sink refuse), fresh worker and sink, replay
        t_replay = time.monotonic()
        t_stop = t_stopped
        # the survivors may have written to topics the restarted broker does not list
        # before they stopped; a fresh worker on it was seen waiting in faust's changelog
        # recovery (> 2 min), so the broker is restarted once more, empty
        broker.restart()
        # the replay cannot overwrite buckets it has no data for, nor dead letters at
        # coordinates of the lost log: those tables (and the offsets) are emptied;
        # raw_events and the ledger stay (the replay's inserts are idempotent)
        with engine.begin() as conn:
            for table in (tables.kpi_snapshots, tables.dlq_records, tables.sink_offsets):
                conn.execute(table.delete())
        # the worker's local state reflects the lost log (a fresh worker finding it on the
        # new broker stops with exit 75 too): it goes as well
        shutil.rmtree(settings.worker_state_dir)
        start_worker()
        start("sink", "motcua", "sink", "--db", db_url, "--bootstrap", broker.bootstrap)
        ingest(lines, "replay")
        wait_for(lambda: snapshots_equal(lines), timeout=120, poll=0.5,
                 what="snapshots of the whole file")
        wait_for(lambda: sink_agrees(lines), timeout=60, poll=0.5,
                 what="the sink to store the whole file's snapshots")
        t_recovered = time.monotonic()
        whole = expected(lines, time.time())
        distinct = sum(len(f) for f in fold_lines(lines).facts.values())
        assert {b: (r["counts"], r["ratios"]) for b, r in stored_reports().items()} == {
            b: (r["counts"], r["ratios"]) for b, r in whole.items()}
        assert _count(engine, tables.raw_events) == distinct
        assert _classifications(engine) == _ledger(fold_lines(lines))
        assert sorted(_dead_letters(engine).values()) == sorted(invalid_lines)
        print(f"recovered: {len(whole)} snapshots on the kpi topic and in SQL equal the batch "
              f"report, {distinct} events, ledger, {len(invalid_lines)} dead letters. Times: "
              f"first half {t_first - t0:.1f}s, restart to both stopped "
              f"{t_stopped - t_restart:.1f}s, "
              f"restart + replay to equality {t_recovered - t_stop:.1f}s (replay "
              f"{t_recovered - t_replay:.1f}s), total {time.monotonic() - t0:.1f}s")
    except BaseException:
        for log in logs:
            print(f"--- {log.name}\n{_tail(log)}")
        raise
    finally:
        for proc in procs:
            stop_process(proc, timeout=15)
        engine.dispose()


def _records(settings: Settings, bootstrap: str, topic: str) -> list[Any]:
    """Every record of ``topic``; none when the topic does not exist (on the restarted
    broker only a client that publishes, or asks for it, creates it: kafka-python's
    consumer asked for every topic it subscribed to, the sink's librdkafka consumer does
    not)."""
    try:
        return read_topic(settings, bootstrap, topic)
    except LookupError:
        return []


def _invalid(line: bytes) -> bool:
    try:
        parse_event(line)
    except InvalidEvent:
        return True
    return False


def _rebuilds(log: Path) -> list[str]:
    """The worker's "tracker rebuilt: …" messages, in order."""
    text = log.read_text(errors="replace") if log.exists() else ""
    return [ln[ln.index("tracker rebuilt:"):].strip() for ln in text.splitlines()
            if "tracker rebuilt:" in ln]


def _dead_letters(engine: Engine) -> dict[tuple[str, int, int], bytes]:
    d = tables.dlq_records.c
    with engine.connect() as conn:
        return {(t, p, o): bytes(raw) for t, p, o, raw in
                conn.execute(select(d.topic, d.partition, d.offset, d.raw))}


def _dlq_topic(settings: Settings, bootstrap: str) -> dict[tuple[str, int, int], bytes]:
    """(topic, partition, offset) → refused bytes of every record on the DLQ topic."""
    from runtime.dlq import DeadLetter

    return {(r.topic, r.partition, r.offset): DeadLetter.decode(r.value).raw
            for r in read_topic(settings, bootstrap, settings.topics.dlq)}


def _tail(log: Path, lines: int = 30) -> str:
    try:
        return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"

