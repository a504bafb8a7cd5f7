"""Alembic revisions on a database created at an older one, on SQLite and PostgreSQL: the
rows stored before survive the upgrade and read back as the newer store says.

* 0002 (docs/contract.md units) from 0001: a snapshot becomes the unit's own figures as they
  were (new counts 0, new ratios null), a ledger row's handling unit is its receiving unit,
  and the new key (unit, period, scope) holds own and total side by side;
* 0004 (the v1.1 families: petitions, procedure catalog, documents) from 0003: every
  snapshot, own and total, keeps its figures and gets 0 for each family count and null for
  each family ratio; a report with the families' figures (the hand-worked quarter of
  tests/unit/test_families.py) is stored and read back whole; downgrading drops the
  columns and keeps the rows;
* 0005 (contract v1.2: the portal's 2026 counts) from 0004: the rows keep their figures and
  get 0 for each new count; downgrading drops the columns and keeps the rows.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import Engine, inspect, text

from consumers import snapshots, store
from kpi.batch import aggregate, fold_lines
from kpi.calendar import local_instant
from kpi.counters import COUNT_KEYS, Counters
from kpi.ratios import RATIO_KEYS
from kpi.report import build_report
from kpi.units import CalendarBook
from tests.eventkit import families_quarter, json_line
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

        store.upgrade(engine, "0002_units")  # the revision under test (0003, 0004 follow)
        assert store.current_revision(engine) == "0002_units"
        # at 0002 (plain SQL: the models of this code are the head's): the old row is the
        # unit's own figures as they were, its new counts 0 and new ratios null
        with engine.connect() as conn:
            at_0002 = conn.execute(text(
                'SELECT scope, "view", unit_name, received, reused, synced, due, due_met, '
                "on_time_due, data_reuse, portal_sync FROM kpi_snapshots")).all()
        assert [tuple(r) for r in at_0002] == [
            ("own", "as_was", None, 10, 0, 0, 0, 0, None, None, None)]
        with engine.connect() as conn:
            ledger = conn.execute(text("SELECT unit, handling_unit FROM dossiers")).all()
        assert [tuple(r) for r in ledger] == [("U1", "U1")]
        # the key is now (unit, period, scope)
        inspector = inspect(engine)
        assert inspector.get_pk_constraint("kpi_snapshots")["constrained_columns"] == \
            ["unit", "period", "scope"]
        # the defaults that filled the old rows are gone: a writer must give every value
        defaults = {c["name"]: c.get("default") for c in inspector.get_columns("kpi_snapshots")}
        assert {k: defaults[k] for k in ("scope", "view", "reused", "due_met")} == \
            dict.fromkeys(("scope", "view", "reused", "due_met"))
        store.upgrade(engine, "0002_units")  # idempotent
        assert store.current_revision(engine) == "0002_units"

        store.upgrade(engine)  # and on to the head, with the rows kept
        (old,) = snapshots.load_reports(engine)
        assert old["unit"] == "U1" and old["period"] == "2025-05"
        assert (old["view"], old["scope"]) == ("as_was", "own")
        assert "unit_name" not in old and old["level"] == "commune"
        assert old["counts"] == {**dict.fromkeys(old["counts"], 0), **OLD_COUNTS}
        assert {k: old["counts"][k] for k in ("reused", "synced", "due", "due_met")} == \
            {"reused": 0, "synced": 0, "due": 0, "due_met": 0}
        assert old["ratios"] == {**dict.fromkeys(RATIO_KEYS), "online_receipt": 0.7,
                                 "on_time_resolved": 0.75}
        assert datetime.fromisoformat(old["as_of"]) == AS_OF
        # each scope upserted on its own key
        total = build_report("U1", "2025-05", Counters.from_mapping({"received": 25}),
                             AS_OF.timestamp() + 60, level="commune", scope="total",
                             unit_name="Xã Một")
        with engine.begin() as conn:
            store.upsert_snapshots(conn, [snapshots.snapshot_row(total)])
        assert snapshots.load_report(engine, "U1", "2025-05", "total") == total
        assert snapshots.load_report(engine, "U1", "2025-05") == old
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
            store.upsert_snapshots(conn, [snapshots.snapshot_row(own),
                                          snapshots.snapshot_row(total)])
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


# --------------------------------------------------------------------------- 0004

V11_COUNT_KEYS = (
    "received", "received_online", "received_postal", "received_direct",
    "received_full_online", "full_online_eligible", "resolved", "resolved_early",
    "resolved_on_time", "resolved_late", "late_with_apology", "in_progress",
    "in_progress_overdue", "fee_dossiers", "paid_online", "digitized", "e_results",
    "paper_result_dossiers", "rated", "satisfied", "dissatisfied",
    "reused", "synced", "due", "due_met",
)
V11_RATIO_KEYS = (
    "online_receipt", "full_online", "on_time_resolved", "on_time_766", "late_apology",
    "online_payment", "digitization", "e_result", "satisfaction",
    "on_time_due", "data_reuse", "portal_sync",
)
"""The snapshot columns of revision 0003 (frozen here: 0001's and 0002's keys)."""

FAMILY_COUNT_KEYS = (
    "petitions_received", "petitions_answered", "petitions_answered_on_time",
    "petitions_open", "petitions_open_overdue", "petitions_unsatisfied",
    "dossiers_petitioned", "dossiers_petitioned_late", "procedures", "procedures_published",
    "procedures_published_on_time", "procedures_online", "procedures_full_online",
    "procedures_online_payment", "procedures_online_used", "procedures_full_online_used",
    "procedures_online_payment_used", "documents_issued", "documents_e_signed",
)
FAMILY_RATIO_KEYS = (
    "petition_on_time", "petition_satisfaction", "procedures_on_time",
    "procedures_online_share", "online_procedures_used", "full_online_procedures_used",
    "online_payment_procedures_used", "e_signed_documents",
)
"""What 0004 adds (frozen here too)."""

PORTAL_COUNT_KEYS = (
    "procedures_updated", "procedures_updated_on_time", "procedures_complete", "handled",
    "sync_due", "synced_on_time", "handled_e_result", "handled_digitized", "handled_reused",
    "handled_stored_personal", "handled_citizen_data", "reuse_eligible",
    "procedures_citizen_data", "communes", "communes_e_certified_copy", "fee_procedures",
    "fee_procedures_paid_online", "fee_procedures_paid_portal", "dossiers_unsatisfied",
)
"""What 0005 adds (frozen here too)."""
HEAD = "0006_web_users"

V11_COUNTS = {"received": 12, "received_online": 9, "resolved": 5, "resolved_on_time": 4,
              "resolved_late": 1, "due": 3, "due_met": 2}


def _insert_v11_rows(engine: Engine) -> None:
    """An own and a total snapshot as revision 0003 stored them (plain SQL)."""
    counts = {k: V11_COUNTS.get(k, 0) for k in V11_COUNT_KEYS}
    ratios = {k: None for k in V11_RATIO_KEYS} | {"online_receipt": 0.75,
                                                   "on_time_due": 2 / 3}
    cols = ["unit", "period", "scope", "view", "unit_name", "level", "as_of", *counts,
            *ratios, "criteria"]
    quoted = ", ".join(f'"{c}"' for c in cols)
    with engine.begin() as conn:
        for scope, received in (("own", 12), ("total", 40)):
            conn.execute(text(f"INSERT INTO kpi_snapshots ({quoted}) VALUES "
                              f"({', '.join(':' + c for c in cols)})"), {
                "unit": "C1", "period": "2025-Q4", "scope": scope, "view": "as_was",
                "unit_name": "Xã Một", "level": "commune", "as_of": AS_OF,
                **counts, "received": received, **ratios, "criteria": "[]"})


def _families_report() -> dict:
    """C1's 2025-Q4 report of the hand-worked families quarter (every family key nonzero
    but the open-petition ones of the quarter's end)."""
    batch = fold_lines(json_line(d) for d in families_quarter())
    end = local_instant(date(2026, 1, 1))
    agg = aggregate(batch.states(), end, CalendarBook())
    return build_report("C1", "2025-Q4", agg.counters[("C1", "2025-Q4")],
                        AS_OF.timestamp() + 3600, level="commune", unit_name="Xã Một")


def test_0004_adds_the_family_keys_to_models() -> None:
    assert set(V11_COUNT_KEYS) | set(FAMILY_COUNT_KEYS) | set(PORTAL_COUNT_KEYS) == \
        set(COUNT_KEYS)
    assert len(V11_COUNT_KEYS) + len(FAMILY_COUNT_KEYS) + len(PORTAL_COUNT_KEYS) == \
        len(COUNT_KEYS)
    assert set(V11_RATIO_KEYS) | set(FAMILY_RATIO_KEYS) == set(RATIO_KEYS)
    assert len(V11_RATIO_KEYS) + len(FAMILY_RATIO_KEYS) == len(RATIO_KEYS)


def test_upgrade_from_0003_keeps_the_rows(db_url: str) -> None:
    engine = store.make_engine(db_url)
    try:
        store.upgrade(engine, "0003_dlq_whole")
        _insert_v11_rows(engine)

        store.upgrade(engine, "0004_families")
        assert store.current_revision(engine) == "0004_families"
        store.upgrade(engine)  # the models are the head's (0005 adds count columns only)
        own, total = snapshots.load_reports(engine)
        for report, received in ((own, 12), (total, 40)):
            assert report["counts"] == {**dict.fromkeys(COUNT_KEYS, 0), **V11_COUNTS,
                                        "received": received}
            assert {k: report["counts"][k] for k in FAMILY_COUNT_KEYS} == \
                dict.fromkeys(FAMILY_COUNT_KEYS, 0)
            assert report["ratios"] == {**dict.fromkeys(RATIO_KEYS),
                                        "online_receipt": 0.75, "on_time_due": 2 / 3}
            assert (report["unit_name"], report["level"]) == ("Xã Một", "commune")
            assert datetime.fromisoformat(report["as_of"]) == AS_OF
        assert (own["scope"], total["scope"]) == ("own", "total")
        inspector = inspect(engine)
        columns = {c["name"]: c for c in inspector.get_columns("kpi_snapshots")}
        assert {k: (columns[k]["nullable"], columns[k].get("default"))
                for k in FAMILY_COUNT_KEYS} == dict.fromkeys(FAMILY_COUNT_KEYS, (False, None))
        assert all(columns[k]["nullable"] for k in FAMILY_RATIO_KEYS)
        assert inspector.get_pk_constraint("kpi_snapshots")["constrained_columns"] == \
            ["unit", "period", "scope"]

        # a report with the families' figures replaces the own row, read back whole
        report = _families_report()
        assert report["counts"]["procedures"] == 3 and report["counts"]["documents_issued"] == 4
        with engine.begin() as conn:
            store.upsert_snapshots(conn, [snapshots.snapshot_row(report)])
        assert snapshots.load_report(engine, "C1", "2025-Q4") == report
        assert snapshots.load_report(engine, "C1", "2025-Q4", "total") == total
        store.upgrade(engine)  # idempotent
        assert store.current_revision(engine) == HEAD
    finally:
        engine.dispose()


def test_downgrade_to_0003_drops_the_family_columns(db_url: str) -> None:
    engine = store.make_engine(db_url)
    try:
        store.upgrade(engine)
        report = _families_report()
        with engine.begin() as conn:
            store.upsert_snapshots(conn, [snapshots.snapshot_row(report)])
        with engine.begin() as conn:
            command.downgrade(store.alembic_config(conn), "0003_dlq_whole")
        assert store.current_revision(engine) == "0003_dlq_whole"
        columns = {c["name"] for c in inspect(engine).get_columns("kpi_snapshots")}
        assert not columns & {*FAMILY_COUNT_KEYS, *FAMILY_RATIO_KEYS}
        assert {*V11_COUNT_KEYS, *V11_RATIO_KEYS} <= columns
        with engine.connect() as conn:
            rows = conn.execute(text(
                "SELECT unit, period, scope, received, resolved, resolved_late "
                "FROM kpi_snapshots")).all()
        c = report["counts"]
        assert [tuple(r) for r in rows] == [
            ("C1", "2025-Q4", "own", c["received"], c["resolved"], c["resolved_late"])]
        store.upgrade(engine)  # up again: the family figures are 0 until the next snapshot
        (back,) = snapshots.load_reports(engine)
        assert {k: back["counts"][k] for k in FAMILY_COUNT_KEYS} == \
            dict.fromkeys(FAMILY_COUNT_KEYS, 0)
        assert back["counts"]["received"] == c["received"] == 4
    finally:
        engine.dispose()


# --------------------------------------------------------------------------- 0005


def test_0005_round_trip_keeps_the_rows(db_url: str) -> None:
    engine = store.make_engine(db_url)
    try:
        store.upgrade(engine)
        assert store.current_revision(engine) == HEAD
        counts = {"received": 6, "handled": 5, "sync_due": 6, "synced_on_time": 4,
                  "fee_procedures": 3, "communes": 2, "dossiers_unsatisfied": 1}
        report = build_report("C1", "2026-08", Counters.from_mapping(counts),
                              AS_OF.timestamp(), level="commune", unit_name="Xã Một")
        with engine.begin() as conn:
            store.upsert_snapshots(conn, [snapshots.snapshot_row(report)])
        assert snapshots.load_report(engine, "C1", "2026-08") == report
        with engine.begin() as conn:
            command.downgrade(store.alembic_config(conn), "0004_families")
        assert store.current_revision(engine) == "0004_families"
        columns = {c["name"] for c in inspect(engine).get_columns("kpi_snapshots")}
        assert not columns & set(PORTAL_COUNT_KEYS)
        with engine.connect() as conn:
            rows = conn.execute(text("SELECT unit, received FROM kpi_snapshots")).all()
        assert [tuple(r) for r in rows] == [("C1", 6)]
        store.upgrade(engine)  # up again: the new counts are 0 until the next snapshot
        (back,) = snapshots.load_reports(engine)
        assert back["counts"] == {**dict.fromkeys(COUNT_KEYS, 0), "received": 6}
        inspector = inspect(engine)
        columns_now = {c["name"]: c for c in inspector.get_columns("kpi_snapshots")}
        assert {k: (columns_now[k]["nullable"], columns_now[k].get("default"))
                for k in PORTAL_COUNT_KEYS} == dict.fromkeys(PORTAL_COUNT_KEYS, (False, None))
    finally:
        engine.dispose()
