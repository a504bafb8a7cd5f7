"""A throwaway PostgreSQL schema on the machine's server (127.0.0.1:5432, trust auth), for
the sink's tests and benchmark."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator

from sqlalchemy import create_engine, text

PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"


class PostgresMissing(RuntimeError):
    """The server does not answer: the tests need it running (they do not skip)."""


@contextlib.contextmanager
def pg_schema(url: str = PG_URL, prefix: str = "t") -> Iterator[str]:
    """A fresh schema; yields ``url`` with its search_path pointing at it; drops it after."""
    schema = f"{prefix}_{uuid.uuid4().hex[:10]}"
    admin_engine = create_engine(url, connect_args={"connect_timeout": 3})
    try:
        with admin_engine.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    except Exception as exc:
        admin_engine.dispose()
        raise PostgresMissing(
            f"PostgreSQL is not reachable at {url} ({exc.__class__.__name__}); these tests "
            "need the machine's PostgreSQL running") from exc
    sep = "&" if "?" in url else "?"
    try:
        yield f"{url}{sep}options=-csearch_path%3D{schema}"
    finally:
        with admin_engine.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin_engine.dispose()
