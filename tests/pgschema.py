"""A throwaway PostgreSQL schema for the sink's tests and benchmarks, in this process's own
database on the test server (tests.pgserver: ``MOTCUA_TEST_DATABASE_URL``, or a throwaway
server when that one does not answer)."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator

from sqlalchemy import create_engine, text

from tests.pgserver import PostgresMissing, database_url, sqlalchemy_url

__all__ = ["PostgresMissing", "database_url", "pg_schema"]


@contextlib.contextmanager
def pg_schema(url: str | None = None, prefix: str = "t") -> Iterator[str]:
    """A fresh schema in ``url`` (default :func:`tests.pgserver.database_url`); yields the
    URL with its search_path pointing at it; drops it after."""
    url = sqlalchemy_url(url) if url else database_url()
    schema = f"{prefix}_{uuid.uuid4().hex[:10]}"
    admin_engine = create_engine(url, connect_args={"connect_timeout": 3})
    try:
        with admin_engine.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    except Exception as exc:
        admin_engine.dispose()
        raise PostgresMissing(
            f"PostgreSQL is not reachable at {url} ({exc.__class__.__name__})") from exc
    sep = "&" if "?" in url else "?"
    try:
        yield f"{url}{sep}options=-csearch_path%3D{schema}"
    finally:
        with admin_engine.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin_engine.dispose()
