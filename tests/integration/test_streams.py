"""The live pipeline (streams/) against a real broker: its KPI snapshots equal the batch
report of the same events — after shuffles, duplicates and invalid lines, after a SIGKILL
of the worker, and when a due instant passes with no new event."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest

from kpi.batch import aggregate, fold_lines
from kpi.report import build_report
from kpi.units import CalendarBook
from runtime.broker import stop_process
from runtime.dlq import recover_subject
from runtime.settings import Settings
from streams.idle import read_snapshots, wait_until_idle

from .streams_events import event_lines, fallback_lines

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]


def worker_env(settings: Settings, data_dir: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MOTCUA_")}
    env.update(settings.as_env())
    env["MOTCUA_DATA_DIR"] = str(data_dir)
    return env


@pytest.fixture
def start_worker(tmp_path: Path) -> Iterator[Callable[[Settings], subprocess.Popen[bytes]]]:
    procs: list[subprocess.Popen[bytes]] = []

    def start(settings: Settings) -> subprocess.Popen[bytes]:
        log = open(tmp_path / f"worker-{len(procs)}.log", "wb")  # noqa: SIM115
        proc = subprocess.Popen([sys.executable, "-m", "streams.run", "info"], cwd=ROOT,
                                env=worker_env(settings, tmp_path), stdout=log,
                                stderr=subprocess.STDOUT)
        procs.append(proc)
        return proc

    yield start
    for proc in procs:
        stop_process(proc, timeout=15)


def publish(settings: Settings, lines: list[bytes]) -> None:
    from runtime.kafka import producer
    from runtime.topics import declared_topics, ensure_topics

    bootstrap = str(settings.kafka_bootstrap)
    ensure_topics(bootstrap, declared_topics(settings), settings)
    prod = producer(settings, bootstrap, linger_ms=20)
    try:
        for line in lines:
            subject = recover_subject(line)
            prod.send(settings.topics.events, line, key=subject.encode() if subject else None)
        prod.flush()
    finally:
        prod.close()


def expected(lines: list[bytes], horizon: float) -> dict[tuple[str, str], dict[str, Any]]:
    agg = aggregate(fold_lines(lines).states(), horizon, CalendarBook())
    return {b: build_report(b[0], b[1], c, horizon) for b, c in agg.counters.items()}


def differences(snapshots: dict[tuple[str, str], dict[str, Any]],
                want: dict[tuple[str, str], dict[str, Any]]) -> list[str]:
    out = []
    for bucket, report in want.items():
        got = snapshots.get(bucket)
        if got is None:
            out.append(f"{bucket}: no snapshot")
        elif got["counts"] != report["counts"] or got["ratios"] != report["ratios"]:
            diff = {k: (got["counts"].get(k), v) for k, v in report["counts"].items()
                    if got["counts"].get(k) != v}
            out.append(f"{bucket}: {diff or 'ratios differ'}")
    for bucket, got in snapshots.items():
        if bucket not in want and any(got["counts"].values()):
            out.append(f"{bucket}: unexpected non-zero snapshot")
    return out


def wait_for_agreement(settings: Settings, lines: list[bytes], timeout: float) -> None:
    """Poll the kpi topic until every snapshot equals the batch report (no fixed sleeps)."""
    deadline = time.monotonic() + timeout
    diffs: list[str] = ["(never read)"]
    while time.monotonic() < deadline:
        snapshots = read_snapshots(settings, str(settings.kafka_bootstrap))
        diffs = differences(snapshots, expected(lines, time.time()))
        if not diffs:
            return
        time.sleep(0.5)
    from streams.idle import group_lag

    lag = group_lag(settings, str(settings.kafka_bootstrap))
    raise AssertionError(f"{len(diffs)} buckets differ after {timeout}s (pipeline group lag "
                         f"{lag}): {diffs[:3]}; {diagnose(settings, lines)}")


def diagnose(settings: Settings, lines: list[bytes]) -> str:
    """Which side is short: the tracker's dossier table (facts) or the aggregator's applied
    table (rows), read back from their changelogs."""
    from runtime.topics import pipeline_group
    from streams.changelog import read_changelog

    bootstrap = str(settings.kafka_bootstrap)
    parts = set(range(settings.topic_partitions))
    want = fold_lines(lines).facts
    prefix = pipeline_group(settings)
    tracked = read_changelog(settings, bootstrap, f"{prefix}-dossiers-changelog", parts)
    short_facts = []
    missing: set[str] = set()
    for code, facts in want.items():
        row = tracked.get(code.encode())
        have = set(orjson.loads(row)["f"]) if row else set()
        if set(facts) - have:
            short_facts.append((code, len(facts), len(have)))
            missing |= set(facts) - have
    applied = read_changelog(settings, bootstrap, f"{prefix}-applied-changelog", parts)
    dossiers_applied = {k.decode().split("\x1f", 1)[1] for k, v in applied.items()
                        if orjson.loads(v)["r"]}
    missing_applied = [c for c, facts in want.items() if c not in dossiers_applied
                       and any(f[0] == "received" for f in facts.values())]
    where: dict[int, list[int]] = {}
    from kafka import KafkaConsumer, TopicPartition

    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    tps = [TopicPartition(settings.topics.events, p) for p in parts]
    consumer.assign(tps)
    consumer.seek_to_beginning(*tps)
    for _ in range(40):
        batch = consumer.poll(timeout_ms=500, max_records=50_000)
        if not batch:
            break
        for tp, records in batch.items():
            for r in records:
                try:
                    obj = orjson.loads(r.value)
                    key = f"{obj['source']}\x1f{obj['id']}"
                except Exception:
                    continue
                if key in missing:
                    where.setdefault(tp.partition, []).append(r.offset)
    consumer.close()
    spans = {p: (min(o), max(o), len(o)) for p, o in sorted(where.items())}
    return (f"events of short dossiers per partition (min, max offset, n): {spans}; "
            f"tracker table short of facts for {len(short_facts)} dossiers "
            f"{short_facts[:5]}; applied table lacks {len(missing_applied)} dossiers "
            f"{missing_applied[:5]}")


def test_snapshots_equal_batch(topic_settings: Callable[..., Settings], start_worker: Any) -> None:
    settings = topic_settings()
    lines = event_lines(20_000, seed=11)
    assert len(lines) >= 20_000
    start_worker(settings)
    publish(settings, lines)
    wait_for_agreement(settings, lines, timeout=90)
    # and the readiness helper agrees
    snapshots = wait_until_idle(settings, str(settings.kafka_bootstrap), timeout=60)
    assert not differences(snapshots, expected(lines, time.time()))


def kill_mid_stream(settings: Settings, lines: list[bytes], victim: Any,
                    snapshot_timeout: float) -> None:
    """Publish the first half, wait until the pipeline has published a snapshot (so it is
    working), publish the rest and SIGKILL ``victim`` at once."""
    from runtime.kafka import read_topic

    half = len(lines) // 2
    publish(settings, lines[:half])
    deadline = time.monotonic() + snapshot_timeout
    while not read_topic(settings, str(settings.kafka_bootstrap), settings.topics.kpi):
        assert time.monotonic() < deadline, "no snapshot before the kill"
        time.sleep(0.2)
    publish(settings, lines[half:])
    os.kill(victim.pid, signal.SIGKILL)
    victim.wait()


def test_sigkill_mid_stream(topic_settings: Callable[..., Settings], start_worker: Any) -> None:
    settings = topic_settings()
    lines = fallback_lines(20_000, seed=23)  # recent dossiers: open ones, due instants
    kill_mid_stream(settings, lines, start_worker(settings), snapshot_timeout=60)
    start_worker(settings)
    wait_for_agreement(settings, lines, timeout=120)


def test_two_workers_one_killed(topic_settings: Callable[..., Settings],
                                start_worker: Any) -> None:
    """Two workers share the partitions; one is SIGKILLed mid-stream and the survivor takes
    its partitions over (a rebalance, then recovery from the changelogs): the snapshots
    still equal the batch report, nothing lost, nothing counted twice."""
    settings = topic_settings()
    lines = fallback_lines(20_000, seed=29)
    first = start_worker(settings)
    start_worker(settings)
    kill_mid_stream(settings, lines, first, snapshot_timeout=90)
    wait_for_agreement(settings, lines, timeout=150)


def _ts(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).isoformat()


def test_due_instant_passes_without_events(
    topic_settings: Callable[..., Settings], start_worker: Any
) -> None:
    settings = topic_settings()
    now = time.time()
    due = now + 6
    event = {
        "specversion": "1.0", "id": "due-1", "source": "urn:test", "subject": "HS-DUE-1",
        "type": "vn.gov.motcua.dossier.received", "time": _ts(now - 60),
        "data": {"unit_code": "UDUE", "unit_level": "commune", "procedure_code": "P",
                 "channel": "direct", "due_at": _ts(due)},
    }
    lines = [orjson.dumps(event)]
    month = datetime.fromtimestamp(now + 7 * 3600, UTC).strftime("%Y-%m")
    start_worker(settings)
    publish(settings, lines)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        snap = read_snapshots(settings, str(settings.kafka_bootstrap)).get(("UDUE", month))
        if snap is not None:
            counts = snap["counts"]
            assert counts["in_progress"] == 1
            if counts["in_progress_overdue"] == 1:
                assert datetime.fromisoformat(snap["as_of"]).timestamp() >= due
                return
        time.sleep(0.3)
    raise AssertionError("the dossier never turned overdue in the snapshots")
