"""Bulk upserts for PostgreSQL: ``COPY`` into a staging table, then one ``INSERT … SELECT …
ON CONFLICT`` per table (psycopg 3), inside the caller's transaction.

Contract: :func:`copy_upsert` has exactly the effect of ``INSERT INTO table (cols) VALUES
<rows> ON CONFLICT (primary key) DO NOTHING`` (``update=False``) or ``DO UPDATE SET`` every
non-key column ``[WHERE excluded.<where_newer> >= table.<where_newer>]`` (``update=True``)
on rows already deduplicated by primary key. It runs on the SQLAlchemy connection's own
DBAPI connection, so it is part of the same transaction: a rollback undoes it, and nothing
is visible before the commit. The staging table is a temporary table of the session
(``ON COMMIT DELETE ROWS``: empty at the start of every transaction), named after the table
and a digest of its columns, so a migrated table gets a staging table of its new shape.
See docs/decisions/sink-copy.md.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Table
from sqlalchemy.engine import Connection

COPY_MIN_ROWS = 64
"""Below this many rows the plain ``executemany`` upsert is as fast (no staging step)."""


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def copy_upsert(
    conn: Connection,
    table: Table,
    rows: Sequence[dict[str, Any]],
    *,
    update: bool,
    where_newer: str | None = None,
) -> None:
    """Upsert ``rows`` (one per primary key; all with the same keys) into ``table``."""
    if not rows:
        return
    key = [c.name for c in table.primary_key.columns]
    cols = list(rows[0])
    shape = zlib.crc32(",".join(c.name for c in table.columns).encode())
    stage = _quote(f"_stage_{table.name}_{shape:08x}")
    target = _quote(table.name)
    col_list = ", ".join(_quote(c) for c in cols)
    conflict = ", ".join(_quote(c) for c in key)
    if update:
        sets = ", ".join(f"{_quote(c)} = excluded.{_quote(c)}" for c in cols if c not in key)
        action = f"DO UPDATE SET {sets}"
        if where_newer is not None:
            w = _quote(where_newer)
            action += f" WHERE excluded.{w} >= {target}.{w}"
    else:
        action = "DO NOTHING"
    dbapi = conn.connection.driver_connection
    assert dbapi is not None
    with dbapi.cursor() as cur:
        cur.execute(f"CREATE TEMPORARY TABLE IF NOT EXISTS {stage} "
                    f"(LIKE {target} INCLUDING DEFAULTS) ON COMMIT DELETE ROWS")
        with cur.copy(f"COPY {stage} ({col_list}) FROM STDIN") as copy:
            for row in rows:
                copy.write_row([row[c] for c in cols])
        cur.execute(f"INSERT INTO {target} ({col_list}) SELECT {col_list} FROM {stage} "
                    f"ON CONFLICT ({conflict}) {action}")
        cur.execute(f"DELETE FROM {stage}")  # the next upsert of this transaction


__all__ = ["COPY_MIN_ROWS", "copy_upsert"]
