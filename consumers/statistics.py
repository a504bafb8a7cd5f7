"""Planner statistics of the SQL store's tables, kept fresh by the sink itself (PostgreSQL).

PostgreSQL plans each query from its tables' statistics, which ``ANALYZE`` gathers.
Autovacuum runs it once about a tenth of a table changed, but it may be turned off (some
servers are, CI's among them) or be behind: a replay writes millions of rows in minutes.
A table never analyzed is planned from guesses, and the sink's read of the stored events
of a flush's dossiers (:func:`consumers.store.load_events`, an index lookup per code) was
then planned as a hash join over the whole ``raw_events`` table: 1.5 s per flush at
4.3 M rows where the index gives 65 ms, every flush dearer than the one before
(docs/decisions/sink-statistics.md).

Contract of :func:`analyze_stale`: on PostgreSQL, ``ANALYZE`` each of the named tables (of
the connection's current schema) whose rows inserted, updated or deleted since its last
analysis (``n_mod_since_analyze``) exceed :data:`STALE_ROWS` plus :data:`STALE_FRACTION`
of its rows as last counted (``reltuples``; a table never analyzed counts 0) — the rule of
autovacuum, with a larger floor — and return their names. Only tables the session's role
owns (directly, through a role it belongs to, or as a superuser) are looked at: the
least-privilege role of a production sink owns none (docs/operations.md, "Least
privilege"), so there autovacuum alone keeps the statistics. On any other database:
nothing, ``[]``.
The caller runs it in a transaction of its own, at most every few seconds
(:class:`consumers.writer.SqlWriter`).
"""

from __future__ import annotations

from collections.abc import Iterable

from psycopg import sql
from sqlalchemy import text
from sqlalchemy.engine import Connection

STALE_ROWS = 1_000
"""Changed rows a table absorbs before its statistics count as stale, whatever its size."""
STALE_FRACTION = 0.1
"""…plus this fraction of its rows (autovacuum's default ``analyze_scale_factor``)."""

_STALE = text(
    "SELECT s.relname FROM pg_stat_user_tables AS s JOIN pg_class AS c ON c.oid = s.relid "
    "WHERE s.schemaname = current_schema() AND s.relname = ANY(:names) "
    "AND s.n_mod_since_analyze > :floor + :fraction * GREATEST(c.reltuples, 0) "
    "AND pg_has_role(c.relowner, 'USAGE') "
    "ORDER BY s.relname")


def stale_tables(conn: Connection, names: Iterable[str]) -> list[str]:
    """The tables of ``names`` the session owns whose statistics are stale by the rule
    above (PostgreSQL)."""
    if conn.dialect.name != "postgresql":
        return []
    rows = conn.execute(_STALE, {"names": list(names), "floor": STALE_ROWS,
                                 "fraction": STALE_FRACTION})
    return [name for (name,) in rows]


def analyze_stale(conn: Connection, names: Iterable[str]) -> list[str]:
    """``ANALYZE`` the tables of ``names`` whose statistics are stale; their names."""
    stale = stale_tables(conn, names)
    if not stale:
        return stale
    dbapi = conn.connection.driver_connection  # psycopg's: the identifier quoted by psycopg
    assert dbapi is not None
    with dbapi.cursor() as cur:
        for name in stale:
            cur.execute(sql.SQL("ANALYZE {table}").format(table=sql.Identifier(name)))
    return stale


__all__ = ["STALE_FRACTION", "STALE_ROWS", "analyze_stale", "stale_tables"]
