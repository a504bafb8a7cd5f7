"""deploy/postgres/sink-role.sql on the test server (tests.pgserver, trust auth):
after the owner migrated, the sink's role may read and write every table and use every
sequence, may run the sink's own (no-op) upgrade, and may not change the schema; the
sink's statistics upkeep leaves the owner's tables alone (consumers.statistics)."""

from __future__ import annotations

import secrets
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ProgrammingError

from consumers.statistics import STALE_ROWS, analyze_stale
from consumers.store import make_engine, upgrade
from runtime.waiting import wait_for
from tests.pgserver import database_url, libpq_url, with_database

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
SQL = ROOT / "deploy" / "postgres" / "sink-role.sql"


def server(db: str, user: str | None = None) -> str:
    """The test server's ``db`` as ``user`` (default: the test server's own account)."""
    url = make_url(with_database(database_url(), db))
    return url.set(username=user or url.username).render_as_string(hide_password=False)


@pytest.fixture()
def database() -> Iterator[tuple[str, str]]:
    """(database, sink role), both dropped afterwards."""
    suffix = secrets.token_hex(4)
    db, role = f"motcua_role_{suffix}", f"motcua_sink_{suffix}"
    admin = make_engine(database_url(), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{db}"'))
    try:
        yield db, role
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)'))
            conn.execute(text(f'DROP ROLE IF EXISTS "{role}"'))
        admin.dispose()


def test_the_sink_role_writes_rows_and_nothing_else(database: tuple[str, str]) -> None:
    db, role = database
    psql = shutil.which("psql")
    assert psql, "psql is missing (Debian package postgresql-client)"
    done = subprocess.run(
        [psql, "-d", libpq_url(server(db)), "-v", f"sink_role={role}",
         "-v", "sink_password=s3cret'quote", "-v", f"owner={make_url(server(db)).username}",
         "-f", str(SQL)],
        capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    owner = make_engine(server(db))
    try:
        upgrade(owner)  # the migrate service: tables created after the grants
        with owner.connect() as conn:
            tables = conn.execute(text(
                "SELECT tablename FROM pg_tables WHERE schemaname = 'public'")).scalars().all()
            sequences = conn.execute(text(
                "SELECT sequencename FROM pg_sequences WHERE schemaname = 'public'")
            ).scalars().all()
            assert "alembic_version" in tables and len(tables) > 3
            for table in tables:
                for privilege in ("SELECT", "INSERT", "UPDATE", "DELETE"):
                    assert conn.execute(text("SELECT has_table_privilege(:r, :t, :p)"), {
                        "r": role, "t": f"public.{table}", "p": privilege}).scalar(), \
                        (table, privilege)
                for privilege in ("TRUNCATE", "REFERENCES", "TRIGGER"):
                    assert not conn.execute(text("SELECT has_table_privilege(:r, :t, :p)"), {
                        "r": role, "t": f"public.{table}", "p": privilege}).scalar(), \
                        (table, privilege)
            for seq in sequences:
                assert conn.execute(text("SELECT has_sequence_privilege(:r, :s, 'USAGE')"),
                                    {"r": role, "s": f"public.{seq}"}).scalar(), seq
            assert not conn.execute(text(
                "SELECT has_schema_privilege(:r, 'public', 'CREATE')"), {"r": role}).scalar()
            assert not conn.execute(text(
                "SELECT rolsuper OR rolcreatedb OR rolcreaterole FROM pg_roles "
                "WHERE rolname = :r"), {"r": role}).scalar()
    finally:
        owner.dispose()
    sink = make_engine(server(db, role))
    try:
        upgrade(sink)  # what the sink runs at start: at the head already, no DDL
        with sink.connect() as conn, pytest.raises(ProgrammingError):
            conn.execute(text("CREATE TABLE intruder (x int)"))
        _stale_events(sink)
        with sink.begin() as conn:  # stale, but not the sink's to analyze: left alone
            assert analyze_stale(conn, ["raw_events"]) == []
    finally:
        sink.dispose()
    owner = make_engine(server(db))
    try:
        with owner.begin() as conn:  # the owner's, as in the tests and the demo
            assert analyze_stale(conn, ["raw_events"]) == ["raw_events"]
    finally:
        owner.dispose()


def _stale_events(engine: Engine) -> None:
    """STALE_ROWS + 1 events written as the sink, counted by the server."""
    with engine.begin() as conn:
        conn.execute(text("SELECT pg_stat_force_next_flush()"))
        conn.execute(text(
            "INSERT INTO raw_events (source, id, subject, type, time, payload, topic, "
            "partition, \"offset\") SELECT 's', 'e' || n, 'H', 't', now(), '{}', 't', 0, n "
            "FROM generate_series(0, CAST(:rows AS int)) AS n"), {"rows": STALE_ROWS})

    def counted() -> bool:
        with engine.connect() as conn:
            return bool(conn.execute(text(
                "SELECT n_mod_since_analyze > :rows FROM pg_stat_user_tables "
                "WHERE relname = 'raw_events'"), {"rows": STALE_ROWS}).scalar_one())

    wait_for(counted, timeout=30, what="the events counted by the server")
