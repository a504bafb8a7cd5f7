"""What ``motcua demo`` leaves behind for the other commands, and the fresh start it needs.

Contract:

* :func:`fresh_store` — a demo on a new in-memory broker must not find a SQL store written
  from an earlier broker: that store's ``sink_offsets`` point past the end of the new
  broker's logs, so the sink would stop with :class:`~schemas.errors.LogLost`. A SQLite
  file is moved aside to ``<file>.previous`` (one generation kept; its ``-wal``/``-shm``/
  ``-journal`` companions with it) and the demo says so. Any other store (PostgreSQL) that
  holds offsets is left alone and :class:`StoreInUse` is raised, saying what to do; an
  empty one is used as it is. So two demos in a row give the same result.
* :func:`published_broker` writes the demo's broker bootstrap to
  :func:`runtime.broker.broker_file` (``<data_dir>/broker.addr``) while it runs and removes
  it on exit; every command that needs a broker and has no ``MOTCUA_KAFKA_BOOTSTRAP`` reads
  it (:func:`runtime.broker.bootstrap_for`).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

from rich.console import Console

from runtime.broker import broker_file
from runtime.settings import Settings
from schemas.errors import PipelineError


class StoreInUse(PipelineError):
    """The demo's SQL store holds offsets of another broker and is not a file to move."""


def sqlite_file(url: str) -> Path | None:
    """The database file of a ``sqlite:///path`` URL; None for any other URL or memory."""
    prefix = "sqlite:///"
    if not url.startswith(prefix):
        return None
    path = url[len(prefix):].split("?", 1)[0]
    if not path or path == ":memory:":
        return None
    return Path(path)


def fresh_store(settings: Settings, console: Console) -> None:
    """Make the demo's store fit a new, empty broker (see the module's contract)."""
    url = settings.database_url.get_secret_value()
    path = sqlite_file(url)
    if path is not None:
        if path.exists():
            aside = path.with_name(path.name + ".previous")
            for suffix in ("", "-wal", "-shm", "-journal"):
                old = path.with_name(path.name + suffix)
                new = aside.with_name(aside.name + suffix)
                with suppress(FileNotFoundError):
                    new.unlink()
                if old.exists():
                    os.replace(old, new)
            console.print(f"a new in-memory broker: the previous SQL store {path} (offsets of "
                          f"a broker that is gone) moved to {aside}")
        return
    held = _offset_rows(url)
    if held:
        raise StoreInUse(
            f"the SQL store {settings.database_url_shown()} holds {held} sink offset(s) of "
            "another broker, and the demo starts a new, empty one: give the demo an empty "
            "database (MOTCUA_DATABASE_URL), or run it on that broker "
            "(MOTCUA_KAFKA_BOOTSTRAP)")


def _offset_rows(url: str) -> int:
    """Rows of ``sink_offsets`` in the store at ``url`` (0 without the table)."""
    from sqlalchemy import func, inspect, select

    from consumers import store, tables

    engine = store.make_engine(url)
    try:
        with engine.connect() as conn:
            if not inspect(conn).has_table(tables.sink_offsets.name):
                return 0
            return int(conn.execute(select(func.count()).select_from(tables.sink_offsets))
                       .scalar_one())
    finally:
        engine.dispose()


@contextmanager
def published_broker(settings: Settings, bootstrap: str) -> Iterator[Path]:
    """Write ``bootstrap`` to :func:`broker_file` for the ``with`` block; remove it after
    (unless another demo wrote its own meanwhile)."""
    path = broker_file(settings)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(bootstrap + "\n", encoding="utf-8")
    try:
        yield path
    finally:
        with suppress(OSError):
            if path.read_text(encoding="utf-8").strip() == bootstrap:
                path.unlink()


__all__ = ["StoreInUse", "fresh_store", "published_broker", "sqlite_file"]
