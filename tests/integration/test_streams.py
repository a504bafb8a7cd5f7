"""The live pipeline (streams/) against a real broker: its KPI snapshots equal the batch
report of the same events — after shuffles, duplicates and invalid lines, after a SIGKILL
of the worker (whose restart reads only the changelogs' tail after its local state), with
two workers one of which is killed, with late events for retired dossiers, and when a due
instant passes with no new event; with a unit registry across the 2025 reorganisation (own
figures and totals), after a SIGKILL too, and after a restart with another registry (a new
merger decision).

Every worker here retires a dossier as soon as its contribution can no longer change by
time alone (``MOTCUA_RETIRE_AFTER_DAYS=0``): its state lives on in the worker's local state
and is read back when an event for it comes."""

from __future__ import annotations

import os
import re
import signal
import sqlite3
import subprocess
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest

from kpi.batch import fold_lines
from kpi.reconcile import batch_reports, differences
from kpi.registry import UnitRegistry
from kpi.simulate.reorg import write_registry
from runtime.broker import stop_process
from runtime.children import spawn
from runtime.dlq import recover_subject
from runtime.settings import Settings
from runtime.topics import changelog_topic, pipeline_group
from runtime.waiting import wait_for
from schemas.errors import NotIdle
from streams.idle import read_snapshots, wait_until_idle
from streams.launcher import spawn_worker
from tests.eventkit import event_dict

from .streams_events import event_lines, fallback_lines, later_merger, reorganisation_lines

pytestmark = pytest.mark.integration


@pytest.fixture
def start_worker(tmp_path: Path) -> Iterator[Callable[[Settings], subprocess.Popen[bytes]]]:
    procs: list[subprocess.Popen[bytes]] = []

    def start(settings: Settings) -> subprocess.Popen[bytes]:
        proc = spawn_worker(settings, str(settings.kafka_bootstrap),
                            tmp_path / f"worker-{len(procs)}.log", loglevel="info",
                            env={"MOTCUA_DATA_DIR": str(tmp_path),
                                 "MOTCUA_RETIRE_AFTER_DAYS": "0"})
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
    prod = producer(settings, bootstrap, **{"linger.ms": 20})
    try:
        for line in lines:
            subject = recover_subject(line)
            prod.send(settings.topics.events, line, key=subject.encode() if subject else None)
        prod.flush()
    finally:
        prod.close()


def expected(lines: list[bytes], horizon: float, registry: UnitRegistry | None = None
             ) -> dict[tuple[str, str], dict[str, Any]]:
    return batch_reports(fold_lines(lines), horizon, registry)


def wait_for_agreement(settings: Settings, lines: list[bytes], timeout: float,
                       registry: UnitRegistry | None = None) -> None:
    """Poll the kpi topic until every snapshot equals the batch report (no fixed sleeps);
    with ``registry``, own figures and totals."""
    bootstrap = str(settings.kafka_bootstrap)
    diffs: list[str] = ["(never read)"]
    batch = fold_lines(lines)

    def agree() -> bool:
        diffs[:] = differences(read_snapshots(settings, bootstrap),
                               batch_reports(batch, time.time(), registry))
        return not diffs

    try:
        wait_for(agree, timeout=timeout, poll=0.5, what="snapshots equal to the batch")
    except NotIdle:
        from streams.idle import group_lag

        lag = group_lag(settings, bootstrap)
        raise AssertionError(f"{len(diffs)} buckets differ after {timeout}s (pipeline group "
                             f"lag {lag}): {diffs[:3]}; {diagnose(settings, lines)}") from None


def processed(settings: Settings) -> int:
    """Events the pipeline group has committed (its committed offsets on the events
    topic)."""
    from runtime.kafka import admin, committed_offsets

    client = admin(settings, str(settings.kafka_bootstrap))
    try:
        return sum(offset for tp, offset in
                   committed_offsets(client, pipeline_group(settings)).items()
                   if tp.topic == settings.topics.events)
    finally:
        client.close()


def diagnose(settings: Settings, lines: list[bytes]) -> str:
    """Which side is short: the tracker's dossier table (facts) or the aggregator's applied
    table (rows), read back from their changelogs."""
    from streams.changelog import read_changelog

    bootstrap = str(settings.kafka_bootstrap)
    parts = set(range(settings.topic_partitions))
    want = fold_lines(lines).facts
    tracked = read_changelog(settings, bootstrap, changelog_topic(settings, "dossiers"), parts)
    short_facts = []
    missing: set[str] = set()
    for code, facts in want.items():
        row = tracked.get(code.encode())
        have = set(orjson.loads(row)["f"]) if row else set()
        if set(facts) - have:
            short_facts.append((code, len(facts), len(have)))
            missing |= set(facts) - have
    applied = read_changelog(settings, bootstrap, changelog_topic(settings, "applied"), parts)
    dossiers_applied = {k.decode().split("\x1f", 1)[1] for k, v in applied.items()
                        if orjson.loads(v)["r"]}
    missing_applied = [c for c, facts in want.items() if c not in dossiers_applied
                       and any(f[0] == "received" for f in facts.values())]
    where: dict[int, list[int]] = {}
    from runtime.kafka import read_topic

    for r in read_topic(settings, bootstrap, settings.topics.events):
        try:
            obj = orjson.loads(r.value or b"")
            key = f"{obj['source']}\x1f{obj['id']}"
        except Exception:
            continue
        if key in missing:
            where.setdefault(r.partition, []).append(r.offset)
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
                    snapshot_timeout: float) -> int:
    """Publish the first half, wait until the pipeline is working (a snapshot published and
    events committed), publish a quarter more and SIGKILL ``victim`` at once, then publish
    the last quarter. Returns the events the group had committed at the kill."""
    from runtime.kafka import read_topic

    bootstrap = str(settings.kafka_bootstrap)
    half, cut = len(lines) // 2, len(lines) * 3 // 4
    publish(settings, lines[:half])
    wait_for(lambda: processed(settings) > 0 and read_topic(settings, bootstrap,
                                                            settings.topics.kpi),
             timeout=snapshot_timeout, poll=0.2, what="a snapshot before the kill",
             errors=(LookupError,))
    publish(settings, lines[half:cut])
    os.kill(victim.pid, signal.SIGKILL)
    victim.wait()
    at_kill = processed(settings)
    publish(settings, lines[cut:])
    print(f"\nkilled with {at_kill}/{len(lines)} events committed ({cut} published before "
          "the kill)")
    return at_kill


def changelog_records(settings: Settings) -> int:
    """Records in the worker's two changelogs (their end offsets)."""
    from runtime.kafka import end_offsets, reader

    consumer = reader(settings, str(settings.kafka_bootstrap))
    try:
        return sum(sum(end_offsets(consumer, changelog_topic(settings, table)).values())
                   for table in ("dossiers", "applied"))
    finally:
        consumer.close()


def rebuilds(log: Path) -> list[tuple[str, int]]:
    """The worker's rebuilds, in order: ("local state" or "changelogs", rows read)."""
    out = []
    for line in log.read_text(errors="replace").splitlines():
        found = re.search(r"rebuilt from (.*?): (\d+) changelog rows read", line)
        if found:
            mode = "local state" if "local state" in found.group(1) else "changelogs"
            out.append((mode, int(found.group(2))))
    return out


def retired_rows(state_dir: Path) -> int:
    """Retired dossier rows committed in the local states under ``state_dir``."""
    total = 0
    for path in state_dir.glob("*/state.sqlite"):
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            total += db.execute("SELECT count(*) FROM dossier WHERE retired = 1").fetchone()[0]
        finally:
            db.close()
    return total


def test_sigkill_mid_stream(topic_settings: Callable[..., Settings], start_worker: Any,
                            tmp_path: Path) -> None:
    """The restarted worker rebuilds from its predecessor's local state and reads only the
    changelogs' tail after it."""
    settings = topic_settings()
    lines = fallback_lines(20_000, seed=23)  # recent dossiers: open ones, due instants
    at_kill = kill_mid_stream(settings, lines, start_worker(settings), snapshot_timeout=60)
    assert 0 < at_kill < len(lines)
    records = changelog_records(settings)
    start_worker(settings)
    wait_for_agreement(settings, lines, timeout=120)
    [(mode, read)] = rebuilds(tmp_path / "worker-1.log")
    print(f"the restarted worker read {read} of the {records} changelog records there were")
    assert mode == "local state" and read < records / 3, (mode, read, records)
    assert retired_rows(tmp_path / "state") > 0


def test_two_workers_one_killed(topic_settings: Callable[..., Settings],
                                start_worker: Any) -> None:
    """Two workers share the partitions; one is SIGKILLed mid-stream and the survivor takes
    its partitions over (a rebalance, then recovery from the changelogs): the snapshots
    still equal the batch report, nothing lost, nothing counted twice."""
    settings = topic_settings()
    lines = fallback_lines(20_000, seed=29)
    first = start_worker(settings)
    start_worker(settings)
    at_kill = kill_mid_stream(settings, lines, first, snapshot_timeout=90)
    assert 0 < at_kill < len(lines)
    wait_for_agreement(settings, lines, timeout=150)


def late_lines(lines: list[bytes], n: int = 400) -> list[bytes]:
    """Events for ``n`` resolved dossiers of ``lines`` after their completion: a rating, a
    payment or a digitization (new ids), all before now."""
    resolved: dict[str, float] = {}
    for line in lines:
        try:
            obj = orjson.loads(line)
        except orjson.JSONDecodeError:
            continue
        if isinstance(obj, dict) and obj.get("type", "").endswith("dossier.resolved"):
            resolved[obj["subject"]] = datetime.fromisoformat(obj["time"]).timestamp()
    now = time.time()
    out = []
    for i, (code, done) in enumerate(sorted(resolved.items())[:n]):
        t = min(done + 2 * 86_400, now - 60)
        kind = i % 3
        if kind == 0:
            out.append(orjson.dumps(event_dict(
                "feedback.rated", _ts(t), code, source="urn:motcua:late", id_=f"late-{i}",
                rating=["satisfied", "dissatisfied"][i % 2])))
        elif kind == 1:
            out.append(orjson.dumps(event_dict(
                "payment.completed", _ts(t), code, source="urn:motcua:late", id_=f"late-{i}",
                amount_vnd=30000, method="online")))
        else:
            out.append(orjson.dumps(event_dict(
                "dossier.digitized", _ts(t), code, source="urn:motcua:late", id_=f"late-{i}",
                components_total=2, components_digitized=2)))
    return out


def test_late_events_for_retired_dossiers(topic_settings: Callable[..., Settings],
                                          start_worker: Any, tmp_path: Path) -> None:
    """Closed dossiers retire (window 0); ratings, payments and digitizations after their
    completion are read back and counted: the snapshots still equal the batch report."""
    settings = topic_settings()
    lines = fallback_lines(8_000, seed=37)
    start_worker(settings)
    publish(settings, lines)
    wait_for_agreement(settings, lines, timeout=90)
    retired = retired_rows(tmp_path / "state")
    late = late_lines(lines)
    assert retired >= len(late) > 300
    publish(settings, late)
    wait_for_agreement(settings, lines + late, timeout=90)
    assert retired_rows(tmp_path / "state") >= retired  # retired again


def test_a_failed_batch_stops_the_worker(topic_settings: Callable[..., Settings],
                                         start_worker: Any, tmp_path: Path) -> None:
    """A batch whose records the broker does not acknowledge raises ``DeliveryFailed``
    inside faust's fetch loop: the worker process exits with its status (1), nothing of the
    failed input is committed, and a fresh worker processes it again to equality with the
    batch (at-least-once)."""
    import sys

    from schemas.errors import DeliveryFailed

    settings = topic_settings()
    lines = fallback_lines(2_000, seed=31)
    publish(settings, lines)
    log = tmp_path / "unacknowledged.log"
    env = {**os.environ, **settings.as_env(), "MOTCUA_DATA_DIR": str(tmp_path)}
    with log.open("wb") as out:
        failing = spawn(
            [sys.executable, "-m", "tests.integration.streams_unacknowledged", "info"],
            cwd=Path(__file__).resolve().parents[2], env=env, stdout=out,
            stderr=subprocess.STDOUT)
    try:
        status = failing.wait(timeout=120)
    finally:
        stop_process(failing, timeout=15)
    text = log.read_text(errors="replace")
    assert status == DeliveryFailed.exit_code, (status, text[-3000:])
    assert "the pipeline cannot go on: the broker did not acknowledge" in text
    assert processed(settings) == 0
    start_worker(settings)
    wait_for_agreement(settings, lines, timeout=90)


def _ts(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).isoformat()


def test_due_instant_passes_without_events(
    topic_settings: Callable[..., Settings], start_worker: Any
) -> None:
    settings = topic_settings()
    now = time.time()
    due = now + 6
    event = event_dict("dossier.received", _ts(now - 60), "HS-DUE-1", id_="due-1",
                       unit_code="UDUE", unit_level="commune", procedure_code="P",
                       channel="direct", due_at=_ts(due))
    lines = [orjson.dumps(event)]
    month = datetime.fromtimestamp(now + 7 * 3600, UTC).strftime("%Y-%m")
    start_worker(settings)
    publish(settings, lines)

    def overdue() -> dict[str, Any] | None:
        snap = read_snapshots(settings, str(settings.kafka_bootstrap)).get(("UDUE", month))
        if snap is None:
            return None
        assert snap["counts"]["in_progress"] == 1
        return snap if snap["counts"]["in_progress_overdue"] == 1 else None

    try:
        snap = wait_for(overdue, timeout=60, poll=0.3, what="the dossier to turn overdue",
                        errors=(LookupError,))
    except NotIdle:
        raise AssertionError("the dossier never turned overdue in the snapshots") from None
    assert snap is not None
    assert datetime.fromisoformat(snap["as_of"]).timestamp() >= due


# ------------------------------------------------------------- with a unit registry


def _units(tmp_path: Path, rows: list[tuple[str, ...]], name: str) -> Path:
    path = tmp_path / name
    write_registry(path, rows)
    return path


def test_reorganisation_snapshots_equal_batch(topic_settings: Callable[..., Settings],
                                              start_worker: Any, tmp_path: Path) -> None:
    """The simulator across the 1/7/2025 merger with its registry (settings units_file):
    own figures and totals equal the batch with the same registry; snapshots of totals are
    keyed ``unit|period|total`` and name their unit."""
    lines, rows = reorganisation_lines(20_000, seed=13)
    units = _units(tmp_path, rows, "units.csv")
    registry = UnitRegistry.load(units)
    settings = topic_settings(units_file=units)
    start_worker(settings)
    publish(settings, lines)
    wait_for_agreement(settings, lines, timeout=120, registry=registry)
    snapshots = read_snapshots(settings, str(settings.kafka_bootstrap))
    want = expected(lines, time.time(), registry)
    totals = {b for b in want if b[0].endswith("\x1e")}
    assert ("DT\x1e", "2025") in totals and ("DT.TANHONG\x1e", "2025-06") in totals
    assert ("DT.M01", "2025-09") in want and ("DT.TANHONG.X01", "2025-06") in want
    province = snapshots[("DT\x1e", "2025")]
    assert (province["unit"], province["scope"], province["view"]) == ("DT", "total", "as_was")
    assert province["unit_name"] == registry.name_on("DT", datetime(2025, 12, 31).date())
    assert province["counts"]["received"] == sum(
        r["counts"]["received"] for (key, period), r in want.items()
        if period == "2025" and not key.endswith("\x1e"))


def test_sigkill_mid_stream_with_a_registry(topic_settings: Callable[..., Settings],
                                            start_worker: Any, tmp_path: Path) -> None:
    lines, rows = reorganisation_lines(20_000, seed=17)
    units = _units(tmp_path, rows, "units.csv")
    settings = topic_settings(units_file=units)
    at_kill = kill_mid_stream(settings, lines, start_worker(settings), snapshot_timeout=60)
    assert 0 < at_kill < len(lines)
    start_worker(settings)
    wait_for_agreement(settings, lines, timeout=150, registry=UnitRegistry.load(units))


def test_a_registry_change_reaches_the_live_numbers(
    topic_settings: Callable[..., Settings], start_worker: Any, tmp_path: Path
) -> None:
    """Registry A (the simulator's), then a new decision (B: commune DT.M03 merged into
    DT.M02 from 1/10/2025) applied by restarting the worker with B: every dossier whose row
    was written under A is re-emitted, and the live figures equal the batch with B (own and
    totals), the counts A gave DT.M03 after September retracted."""
    lines, rows = reorganisation_lines(20_000, seed=19)
    path_a = _units(tmp_path, rows, "units-a.csv")
    path_b = _units(tmp_path, later_merger(rows), "units-b.csv")
    registry_a, registry_b = UnitRegistry.load(path_a), UnitRegistry.load(path_b)
    settings_a = topic_settings(units_file=path_a)
    settings_b = settings_a.model_copy(update={"units_file": path_b})
    worker = start_worker(settings_a)
    publish(settings_a, lines)
    wait_for_agreement(settings_a, lines, timeout=120, registry=registry_a)
    stop_process(worker, timeout=30)
    now = time.time()
    want_a, want_b = expected(lines, now, registry_a), expected(lines, now, registry_b)
    assert differences(want_a, want_b)  # B moves counts
    assert any(v for v in want_a[("DT.M03", "2025-Q4")]["counts"].values())
    start_worker(settings_b)
    wait_for_agreement(settings_b, lines, timeout=120, registry=registry_b)
    moved = read_snapshots(settings_b, str(settings_b.kafka_bootstrap))[("DT.M03", "2025-Q4")]
    assert not any(moved["counts"].values())  # retracted: published as zeros
