"""KPI topic records → the sink's rows (:func:`consumers.rows.build_batch`): snapshots keyed
(unit, period, scope), tombstones read with :func:`kpi.report.parse_snapshot_key`, the
log order of a snapshot and a tombstone of one key kept, and what the store refuses
dead-lettered."""

from __future__ import annotations

from datetime import datetime
from typing import NamedTuple

import orjson

from consumers.rows import build_batch, merged
from consumers.snapshots import report_of_row, snapshot_row
from kpi.counters import Counters
from kpi.report import build_report, snapshot_key
from runtime.settings import load_settings

SETTINGS = load_settings()
KPI = SETTINGS.topics.kpi
NOW = datetime.fromisoformat("2025-07-20T10:00:00+07:00").timestamp()


class Record(NamedTuple):
    """The fields of a kafka-python ``ConsumerRecord`` that build_batch reads."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None


def _records(*items: tuple[str, dict | None]) -> list[Record]:
    return [Record(KPI, 0, i, key.encode(), None if r is None else orjson.dumps(r))
            for i, (key, r) in enumerate(items)]


def _report(unit: str, scope: str = "own", received: int = 1, **kw: object) -> dict:
    return build_report(unit, "2025-07", Counters.from_mapping({"received": received}), NOW,
                        level="commune", scope=scope, **kw)  # type: ignore[arg-type]


def test_snapshots_and_tombstones_of_both_scopes() -> None:
    own = _report("DT.M01", unit_name="Xã Tân Thành")
    total = _report("DT", "total", received=9, unit_name="Tỉnh Đồng Tháp")
    batch = build_batch(_records(
        (snapshot_key("DT.M01", "2025-07"), own),
        (snapshot_key("DT", "2025-07", "total"), total),
        (snapshot_key("DT", "2025-06", "total"), None),
        (snapshot_key("DT.M01", "2025-06"), None),
        ("no key at all", None),  # deletes nothing
    ), SETTINGS)
    assert [(r["unit"], r["period"], r["scope"], r["view"], r["unit_name"])
            for r in batch.snapshots] == [
        ("DT.M01", "2025-07", "own", "as_was", "Xã Tân Thành"),
        ("DT", "2025-07", "total", "as_was", "Tỉnh Đồng Tháp")]
    assert batch.tombstones == [("DT", "2025-06", "total"), ("DT.M01", "2025-06", "own")]
    assert batch.dead_letters == [] and batch.offsets == {(KPI, 0): 5}


def test_a_snapshot_after_a_tombstone_of_its_key_survives() -> None:
    """The writer upserts, then deletes: a tombstone read *before* a snapshot of its key
    must not delete that snapshot (in one poll, or across merged polls); one read after it
    still does."""
    key = snapshot_key("DT", "2025-07", "total")
    one = build_batch(_records((key, None), (key, _report("DT", "total"))), SETTINGS)
    assert one.tombstones == [] and len(one.snapshots) == 1
    first = build_batch(_records((key, None)), SETTINGS)
    later = build_batch(_records((key, _report("DT", "total"))), SETTINGS)
    assert merged([first, later]).tombstones == []
    after = build_batch(_records((key, _report("DT", "total")), (key, None)), SETTINGS)
    assert after.tombstones == [("DT", "2025-07", "total")]
    # the own figures of the same unit and period are another key: untouched
    other = build_batch(_records((snapshot_key("DT", "2025-07"), None),
                                 (key, _report("DT", "total"))), SETTINGS)
    assert other.tombstones == [("DT", "2025-07", "own")]


def test_store_keeps_the_as_was_view_only() -> None:
    restated = _report("DT", view="restated")
    odd = {**_report("DT"), "scope": "province"}
    batch = build_batch(_records((snapshot_key("DT", "2025-07"), restated),
                                 (snapshot_key("DT", "2025-07"), odd)), SETTINGS)
    assert batch.snapshots == []
    assert [d["reason"] for d in batch.dead_letters] == [
        "invalid KPI snapshot (ValueError: view 'restated': the store holds snapshots of "
        "view 'as_was' only)",
        "invalid KPI snapshot (ValueError: scope 'province': expected one of own, total)"]


class _Row:
    """A result row as SQLAlchemy hands it to :func:`report_of_row` (``_mapping``)."""

    def __init__(self, mapping: dict) -> None:
        self._mapping = mapping


def test_row_round_trip_and_v1_reports() -> None:
    for report in (_report("DT.M01", unit_name="Xã Tân Thành"), _report("DT", "total")):
        assert report_of_row(_Row(snapshot_row(report))) == report
    v1 = _report("U1")
    del v1["view"], v1["scope"]  # a v1 snapshot: the unit's own figures as they were
    row = snapshot_row(v1)
    assert (row["view"], row["scope"], row["unit_name"]) == ("as_was", "own", None)
    assert report_of_row(_Row(row)) == {**v1, "view": "as_was", "scope": "own"}
