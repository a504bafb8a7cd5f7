"""`motcua report` without --events reads the SQL store and prints the batch report; with
a unit registry (docs/contract.md) it reads own figures and totals as they were and computes
the restated view from the stored own figures — on SQLite and PostgreSQL."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest
from typer.testing import CliRunner

from consumers.snapshots import snapshot_row
from consumers.store import make_engine, upgrade, upsert_snapshots
from motcua.cli import app
from tests.eventkit import EVENTS_REGISTRY, event_dict, families_quarter, received_dict
from tests.pgschema import pg_schema

pytestmark = pytest.mark.integration

EVENTS = [
    event_dict("dossier.received", "2025-03-03T09:00:00+07:00", "H1", unit_code="U1",
               unit_level="commune", procedure_code="P", channel="online",
               due_at="2025-03-05T17:00:00+07:00"),
    event_dict("dossier.resolved", "2025-03-04T10:00:00+07:00", "H1"),
    event_dict("dossier.received", "2025-03-10T09:00:00+07:00", "H2", unit_code="U1",
               unit_level="commune", procedure_code="P", channel="direct",
               due_at="2025-03-12T17:00:00+07:00"),
    event_dict("dossier.resolved", "2025-03-13T10:00:00+07:00", "H2"),
]


def test_store_report_equals_batch_report(tmp_path: Path) -> None:
    events = tmp_path / "e.jsonl"
    events.write_bytes(b"\n".join(orjson.dumps(e) for e in EVENTS) + b"\n")
    runner = CliRunner()
    args = ["report", "--unit", "U1", "--period", "2025-03", "--json",
            "--as-of", "2025-04-01T00:00:00+07:00"]
    batch = orjson.loads(runner.invoke(app, [*args, "--events", str(events)]).stdout)
    # H1 resolved on 4/3 (early: before the due date 5/3); H2 on 13/3 after its due → late.
    assert batch["counts"]["resolved_early"] == 1 and batch["counts"]["resolved_late"] == 1
    assert batch["ratios"]["on_time_resolved"] == 0.5

    url = f"sqlite:///{tmp_path / 'store.db'}"
    engine = make_engine(url)
    upgrade(engine)
    with engine.begin() as conn:
        upsert_snapshots(conn, [snapshot_row(batch)])
    engine.dispose()
    result = runner.invoke(app, ["report", "--unit", "U1", "--period", "2025-03", "--json",
                                 "--db", url])
    assert result.exit_code == 0, result.output
    stored = orjson.loads(result.stdout)
    assert stored == batch

    missing = runner.invoke(app, ["report", "--db", f"sqlite:///{tmp_path / 'nope' / 'x.db'}"])
    assert missing.exit_code == 1
    assert "cannot read the store" in missing.output


# --------------------------------------------------------------------------- units (v1.1)

REGISTRY = EVENTS_REGISTRY

UNIT_EVENTS = [
    # H1: filed online at commune 30001 on 10/6, resolved 12/6
    received_dict("2025-06-10T09:00:00+07:00", "H1", "30001", "commune", "online",
                  due="2025-06-13T17:00:00+07:00"),
    event_dict("dossier.resolved", "2025-06-12T10:00:00+07:00", "H1"),
    # H2: filed online at commune 30004 on 20/6, still open on 30/6, resolved 3/7 by its
    # successor 29901 (crossing the merger)
    received_dict("2025-06-20T09:00:00+07:00", "H2", "30004", "commune", "online",
                  due="2025-07-04T17:00:00+07:00"),
    event_dict("dossier.resolved", "2025-07-03T10:00:00+07:00", "H2"),
    # H3: filed at the district desk 870 on 25/6, resolved 27/6
    received_dict("2025-06-25T09:00:00+07:00", "H3", "870", "district", "direct",
                  due="2025-06-30T17:00:00+07:00"),
    event_dict("dossier.resolved", "2025-06-27T10:00:00+07:00", "H3"),
    # H4: filed at the new commune 29901 on 2/7, resolved 5/7
    received_dict("2025-07-02T09:00:00+07:00", "H4", "29901", "commune", "direct",
                  due="2025-07-08T17:00:00+07:00"),
    event_dict("dossier.resolved", "2025-07-05T10:00:00+07:00", "H4"),
    # H5: the old code 30001 still used on 10/7 (its unit in force: 29901), resolved 11/7
    received_dict("2025-07-10T09:00:00+07:00", "H5", "30001", "commune", "online",
                  due="2025-07-15T17:00:00+07:00"),
    event_dict("dossier.resolved", "2025-07-11T10:00:00+07:00", "H5"),
    # H6: filed online at 29901 on 15/7, handled by the province 82, resolved 20/7
    received_dict("2025-07-15T09:00:00+07:00", "H6", "29901", "commune", "online",
                  due="2025-07-25T17:00:00+07:00", handling_unit_code="82",
                  handling_unit_level="province"),
    event_dict("dossier.resolved", "2025-07-20T10:00:00+07:00", "H6"),
]
AS_OF = "2025-08-01T00:00:00+07:00"
KEYS = ("received", "received_online", "resolved", "in_progress")
PARENTS = {"87", "870", "82"}
"""The units that keep a total (a parent in some version): the live stream publishes a
total snapshot for these only."""


@pytest.fixture(params=["sqlite", "postgresql"])
def units_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """A store holding what the live pipeline would have published for
    :data:`UNIT_EVENTS` as of :data:`AS_OF` — every unit's own figures, and the totals of
    :data:`PARENTS` (the batch reports of ``motcua report --events``, as_was) — and the
    registry file."""
    events = tmp_path / "units.jsonl"
    events.write_bytes(b"\n".join(orjson.dumps(e) for e in UNIT_EVENTS) + b"\n")
    units = tmp_path / "units.csv"
    units.write_text(REGISTRY, encoding="utf-8")
    base = ["report", "--events", str(events), "--units", str(units), "--as-of", AS_OF,
            "--json"]
    runner = CliRunner()
    own = orjson.loads(runner.invoke(app, base).stdout)
    total = [r for r in orjson.loads(runner.invoke(app, [*base, "--scope", "total"]).stdout)
             if r["unit"] in PARENTS]
    assert own and total
    with contextlib.ExitStack() as stack:
        if request.param == "sqlite":
            url = f"sqlite:///{tmp_path / 'units.db'}"
        else:
            url = stack.enter_context(pg_schema(prefix="report"))
        engine = make_engine(url)
        upgrade(engine)
        with engine.begin() as conn:
            upsert_snapshots(conn, [snapshot_row(r) for r in [*own, *total]])
        engine.dispose()
        yield url, units


def _stored(url: str, units: Path, *args: str) -> Any:
    result = CliRunner().invoke(app, ["report", "--db", url, "--units", str(units), "--json",
                                      *args])
    assert result.exit_code == 0, result.output
    return orjson.loads(result.stdout)


def _pick(report: dict[str, Any]) -> tuple[int, ...]:
    return tuple(report["counts"][k] for k in KEYS)


def _by_unit(reports: list[dict[str, Any]]) -> dict[str, tuple[int, ...]]:
    return {r["unit"]: _pick(r) for r in reports}


def test_stored_own_and_total_as_they_were(units_store: tuple[str, Path]) -> None:
    """Hand-worked, view as_was (KEYS: received, received_online, resolved, in_progress):

    * June own: 30001 (1, 1, 1, 0) H1; 30004 (1, 1, 0, 1) H2 open at the end of June;
      870 (1, 0, 1, 0) H3. June totals: 870 = its own + both communes = (3, 2, 2, 1);
      87 (the old province, above 870) the same.
    * July own: 29901 (3, 2, 3, 0) — received H4, H5 (old code 30001), H6; resolved H2
      (handled by 30004's successor), H4, H5; 82 (0, 0, 1, 0) — resolved H6. July total of
      82 = its own + 29901 = (3, 2, 4, 0).
    """
    url, units = units_store
    june = _stored(url, units, "--period", "2025-06")
    assert _by_unit(june) == {"30001": (1, 1, 1, 0), "30004": (1, 1, 0, 1),
                              "870": (1, 0, 1, 0)}
    assert {(r["view"], r["scope"]) for r in june} == {("as_was", "own")}
    june_total = _stored(url, units, "--period", "2025-06", "--scope", "total")
    # 30001, 30004 have no units below them: their total is their own figures
    assert _by_unit(june_total) == {"87": (3, 2, 2, 1), "870": (3, 2, 2, 1),
                                    "30001": (1, 1, 1, 0), "30004": (1, 1, 0, 1)}
    assert {(r["view"], r["scope"]) for r in june_total} == {("as_was", "total")}
    names = {r["unit"]: r["unit_name"] for r in june_total}
    assert names["87"] == "Tỉnh Đồng Tháp (cũ)" and names["870"] == "Huyện Tân Hồng"
    top = next(r for r in june_total if r["unit"] == "87")
    assert top["ratios"]["online_receipt"] == pytest.approx(2 / 3)

    july = _stored(url, units, "--period", "2025-07")
    assert _by_unit(july) == {"29901": (3, 2, 3, 0), "82": (0, 0, 1, 0)}
    total_82 = _stored(url, units, "--period", "2025-07", "--unit", "82", "--scope", "total")
    assert _pick(total_82) == (3, 2, 4, 0)
    assert (total_82["scope"], total_82["unit_name"]) == ("total", "Tỉnh Đồng Tháp")
    leaf = _stored(url, units, "--period", "2025-06", "--unit", "30001", "--scope", "total")
    own = _stored(url, units, "--period", "2025-06", "--unit", "30001")
    assert leaf == {**own, "scope": "total"}


def test_stored_figures_restated(units_store: tuple[str, Path]) -> None:
    """Hand-worked, view restated (every unit replaced by its unit in force today, after
    1/7/2025: 30001, 30004 → 29901; 870, 87 → 82; 29901 under 82):

    * June own: 29901 = 30001 + 30004 = (2, 2, 1, 1); 82 = 870 + 87 = (1, 0, 1, 0).
      June total of 82 = (3, 2, 2, 1): the as_was total of the old province 87 — restated
      and as_was totals agree at the top.
    * July: as it was (no unit changed in July): 29901 (3, 2, 3, 0), 82 (0, 0, 1, 0),
      total of 82 (3, 2, 4, 0).
    """
    url, units = units_store
    june = _stored(url, units, "--period", "2025-06", "--view", "restated")
    assert _by_unit(june) == {"29901": (2, 2, 1, 1), "82": (1, 0, 1, 0)}
    assert {(r["view"], r["scope"]) for r in june} == {("restated", "own")}
    assert {r["unit"]: r["unit_name"] for r in june} == {
        "29901": "Xã Tân Thành", "82": "Tỉnh Đồng Tháp"}
    assert {r["unit"]: r["level"] for r in june} == {"29901": "commune", "82": "province"}
    assert next(r for r in june if r["unit"] == "29901")["ratios"]["online_receipt"] == 1.0
    total = _stored(url, units, "--period", "2025-06", "--view", "restated", "--scope",
                    "total", "--unit", "82")
    assert _pick(total) == (3, 2, 2, 1)
    assert (total["view"], total["scope"]) == ("restated", "total")
    as_was_top = _stored(url, units, "--period", "2025-06", "--scope", "total", "--unit", "87")
    # v1.2 communes are the registry's at the judged instant: today one (29901) restated,
    # two (30001, 30004) below 87 at the end of June as it was; every other count agrees
    assert (total["counts"]["communes"], as_was_top["counts"]["communes"]) == (1, 2)
    assert {**total["counts"], "communes": 0} == {**as_was_top["counts"], "communes": 0}
    # the stored snapshots' as_of (they were judged then), criteria scored as usual
    assert total["as_of"] == AS_OF and total["criteria"]

    july = _stored(url, units, "--period", "2025-07", "--view", "restated")
    assert _by_unit(july) == {"29901": (3, 2, 3, 0), "82": (0, 0, 1, 0)}
    july_total = _stored(url, units, "--period", "2025-07", "--view", "restated", "--scope",
                         "total", "--unit", "82")
    assert _pick(july_total) == (3, 2, 4, 0)

    # the same numbers as the batch path restated from the events (--events --view restated)
    events = Path(units).parent / "units.jsonl"
    for scope in ("own", "total"):
        batch = orjson.loads(CliRunner().invoke(app, [
            "report", "--events", str(events), "--units", str(units), "--as-of", AS_OF,
            "--json", "--view", "restated", "--scope", scope]).stdout)
        stored = _stored(url, units, "--view", "restated", "--scope", scope)
        assert {(r["unit"], r["period"]): r["counts"] for r in stored} == \
            {(r["unit"], r["period"]): r["counts"] for r in batch}


# --------------------------------------------------------------------------- families (v1.1)


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_stored_report_carries_the_family_keys(backend: str, tmp_path: Path) -> None:
    """The report of the hand-worked families quarter (C1, 2025-Q4: petitions, the
    procedure catalog, documents), stored as the sink stores it, reads back with every
    count and ratio key and the numbers of tests/unit/test_families.py."""
    from kpi.counters import COUNT_KEYS
    from kpi.ratios import RATIO_KEYS
    from tests.eventkit import write_jsonl
    from tests.unit.test_families_outputs import (
        HAND_WORKED_COUNTS,
        HAND_WORKED_RATIOS,
        families_report,
    )

    events = write_jsonl(tmp_path / "families.jsonl", families_quarter())
    batch = families_report(events)
    # the previous quarter too, so that the stored report's delta is the batch's
    before = orjson.loads(CliRunner().invoke(app, [
        "report", "--events", str(events), "--unit", "C1", "--period", "2025-Q3",
        "--as-of", batch["as_of"], "--json"]).stdout)
    with contextlib.ExitStack() as stack:
        url = (f"sqlite:///{tmp_path / 'families.db'}" if backend == "sqlite"
               else stack.enter_context(pg_schema(prefix="report")))
        engine = make_engine(url)
        upgrade(engine)
        with engine.begin() as conn:
            upsert_snapshots(conn, [snapshot_row(batch), snapshot_row(before)])
        engine.dispose()
        result = CliRunner().invoke(app, ["report", "--db", url, "--unit", "C1",
                                          "--period", "2025-Q4", "--json"])
    assert result.exit_code == 0, result.output
    stored = orjson.loads(result.stdout)
    assert stored == batch
    assert list(stored["counts"]) == list(COUNT_KEYS)
    assert list(stored["ratios"]) == list(RATIO_KEYS)
    assert {k: stored["counts"][k] for k in HAND_WORKED_COUNTS} == HAND_WORKED_COUNTS
    assert {k: stored["ratios"][k] for k in HAND_WORKED_RATIOS} == \
        pytest.approx(HAND_WORKED_RATIOS, abs=1e-12)
