"""Alembic revision 0002 (EVENTS.md v1.1) on a database created at 0001, on SQLite and
PostgreSQL: the rows stored before survive the upgrade and read back as the v1.1 store
says — a snapshot becomes the unit's own figures as they were (new counts 0, new ratios
null), a ledger row's handling unit is its receiving unit — and the new key
(unit, period, scope) holds own and total side by side."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import Engine, inspect, text

from consumers import store
from kpi.counters import Counters
from kpi.report import build_report
from tests.pgschema import pg_schema

pytestmark = pytest.mark.integration

AS_OF = datetime(2025, 5, 20, 3, 0, tzinfo=UTC)
OLD_COUNTS = {"received": 10, "received_online": 7, "resolved": 4, "resolved_on_time": 3,
              "resolved_late": 1}


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'migrate.db'}"
        return
    with pg_schema(prefix="migrate") as url:
        yield url


def _insert_v1_rows(engine: Engine) -> None:
    """One snapshot and one ledger row as revision 0001 stored them (plain SQL: the models
    of this code are 0002's)."""
    counts = {k: OLD_COUNTS.get(k, 0) for k in (
        "received", "received_online", "received_postal", "received_direct",
        "received_full_online", "full_online_eligible", "resolved", "resolved_early",
        "resolved_on_time", "resolved_late", "late_with_apology", "in_progress",
        "in_progress_overdue", "fee_dossiers", "paid_online", "digitized", "e_results",
        "paper_result_dossiers", "rated", "satisfied", "dissatisfied")}
    ratios = {"online_receipt": 0.7, "on_time_resolved": 0.75}
    cols = ["unit", "period", "level", "as_of", *counts, *ratios, "criteria"]
    values = {"unit": "U1", "period": "2025-05", "level": "commune", "as_of": AS_OF,
              **counts, **ratios, "criteria": "[]"}
    with engine.begin() as conn:
        conn.execute(text(f"INSERT INTO kpi_snapshots ({', '.join(cols)}) VALUES "
                          f"({', '.join(':' + c for c in cols)})"), values)
        conn.execute(text(
            "INSERT INTO dossiers (code, unit, level, procedure, channel, received_at, "
            "due_at, classification, supplement_requests, paused_seconds, apology, "
            "paid_online, digitized, rule_set_version, updated_at) VALUES ('H1', 'U1', "
            "'commune', 'P1', 'online', :t, :t, 'in_progress', 0, 0, false, false, false, "
            "'events-v1/sla-1', :t)"), {"t": AS_OF})


def test_upgrade_from_0001_keeps_the_rows(db_url: str) -> None:
    engine = store.make_engine(db_url)
    try:
        store.upgrade(engine, "0001_initial")
        assert store.current_revision(engine) == "0001_initial"
        _insert_v1_rows(engine)

        store.upgrade(engine, "0002_units")  # the revision under test (0003 follows it)
        assert store.current_revision(engine) == "0002_units"
        (old,) = store.load_reports(engine)
        assert old["unit"] == "U1" and old["period"] == "2025-05"
        assert (old["view"], old["scope"]) == ("as_was", "own")
        assert "unit_name" not in old and old["level"] == "commune"
        assert old["counts"] == {**dict.fromkeys(old["counts"], 0), **OLD_COUNTS}
        assert {k: old["counts"][k] for k in ("reused", "synced", "due", "due_met")} == \
            {"reused": 0, "synced": 0, "due": 0, "due_met": 0}
        assert old["ratios"]["online_receipt"] == 0.7
        assert old["ratios"]["on_time_resolved"] == 0.75
        assert {k: old["ratios"][k] for k in ("on_time_due", "data_reuse", "portal_sync")} \
            == {"on_time_due": None, "data_reuse": None, "portal_sync": None}
        assert datetime.fromisoformat(old["as_of"]) == AS_OF
        with engine.connect() as conn:
            ledger = conn.execute(text("SELECT unit, handling_unit FROM dossiers")).all()
        assert [tuple(r) for r in ledger] == [("U1", "U1")]

        # the key is now (unit, period, scope): a total beside the own row, each upserted
        # on its own key
        inspector = inspect(engine)
        assert inspector.get_pk_constraint("kpi_snapshots")["constrained_columns"] == \
            ["unit", "period", "scope"]
        # the defaults that filled the old rows are gone: a writer must give every value
        defaults = {c["name"]: c.get("default") for c in inspector.get_columns("kpi_snapshots")}
        assert {k: defaults[k] for k in ("scope", "view", "reused", "due_met")} == \
            dict.fromkeys(("scope", "view", "reused", "due_met"))
        total = build_report("U1", "2025-05", Counters.from_mapping({"received": 25}),
                             AS_OF.timestamp() + 60, level="commune", scope="total",
                             unit_name="Xã Một")
        with engine.begin() as conn:
            store.upsert_snapshots(conn, [store.snapshot_row(total)])
        assert store.load_report(engine, "U1", "2025-05", "total") == total
        assert store.load_report(engine, "U1", "2025-05") == old
        store.upgrade(engine, "0002_units")  # idempotent
        assert store.current_revision(engine) == "0002_units"
        store.upgrade(engine)  # and on to the head, with the rows kept
        assert store.load_report(engine, "U1", "2025-05") == old
    finally:
        engine.dispose()


def test_downgrade_to_0001_keeps_own_rows(db_url: str) -> None:
    engine = store.make_engine(db_url)
    try:
        store.upgrade(engine)
        own = build_report("U1", "2025-05", Counters.from_mapping(OLD_COUNTS),
                           AS_OF.timestamp(), level="commune")
        total = build_report("U1", "2025-05", Counters.from_mapping({"received": 25}),
                             AS_OF.timestamp(), level="commune", scope="total")
        with engine.begin() as conn:
            store.upsert_snapshots(conn, [store.snapshot_row(own), store.snapshot_row(total)])
        with engine.begin() as conn:
            command.downgrade(store.alembic_config(conn), "0001_initial")
        assert store.current_revision(engine) == "0001_initial"
        with engine.connect() as conn:
            rows = conn.execute(text("SELECT unit, period, received FROM kpi_snapshots")).all()
        assert [tuple(r) for r in rows] == [("U1", "2025-05", 10)]
        assert inspect(engine).get_pk_constraint("kpi_snapshots")["constrained_columns"] == \
            ["unit", "period"]
    finally:
        engine.dispose()
