"""The stream worker's state on local disk: one SQLite file (stdlib ``sqlite3``) per worker
process of a host.

It holds, per changelog partition:

* ``dossier`` — every dossier row (the ``dossiers`` changelog's format,
  :meth:`streams.tracker.Tracker.row`) this worker last wrote or read for the partition.
  ``retired = 1``: the dossier left memory (:meth:`streams.tracker.Tracker.retire`) and is
  read back by :meth:`get` when an event for it comes; ``retired = 0``: it is in memory,
  and the row is its checkpoint (loaded by :meth:`live` after a restart).
* ``applied`` — the same for the aggregator's rows (the ``applied`` changelog's format).
* ``counter`` — the aggregator's counters and level per (counter key, period): the
  checkpoint of what stays in memory.
* ``meta`` — the *marker*: what the state belongs to (topics, partition count, registry)
  and, per changelog partition, the next offset it reflects.

Writes are buffered (:meth:`put`, :meth:`put_counter`) and reach the file only with
:meth:`commit`, in one transaction with the marker: whatever a crash leaves, the file holds
the state *as of the offsets of its marker*, so a restart loads it and reads only the
changelogs' tail after those offsets (:meth:`streams.rebuild.Rebuild.recover`). Reads
(:meth:`get`) see the buffer first. When the pipeline commits, and why that loses
nothing: :mod:`streams.delivery`.

Why SQLite rather than RocksDB (``rocksdict``): same order of cost per read and write here,
a fraction of the resident memory, no extra dependency
(docs/decisions/streams-local-state.md). The file is never memory-mapped (mapped pages
would count in the worker's RSS); SQLite's page cache is bounded (:data:`CACHE_KIB`).

One process per directory: :meth:`LocalState.open_slot` takes the first of
``<state dir>/0``, ``/1``, … that no live process holds (an ``flock`` released when the
process dies, SIGKILL included), so a worker restarted on the same host finds its
predecessor's state and two workers of one host never share one.
"""

from __future__ import annotations

import fcntl
import logging
import os
import shutil
import sqlite3
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import orjson

log = logging.getLogger("motcua.streams")

DOSSIER = "dossier"
APPLIED = "applied"
TABLES = (DOSSIER, APPLIED)
FORMAT = 1
"""Version of the file's layout and of the marker; another version is not read."""
CACHE_KIB = 8192
"""SQLite page cache per connection."""
MAX_SLOTS = 64
CHUNK = 20_000
"""Rows per ``executemany`` when whole partitions are written (:meth:`write_rows`)."""

Key = tuple[str, int, str]
"""(table, partition, key)."""

_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS dossier (part INTEGER NOT NULL, key TEXT NOT NULL, "
    "retired INTEGER NOT NULL, row BLOB NOT NULL, PRIMARY KEY (part, key)) WITHOUT ROWID",
    "CREATE INDEX IF NOT EXISTS dossier_live ON dossier (part, key) WHERE retired = 0",
    "CREATE TABLE IF NOT EXISTS applied (part INTEGER NOT NULL, key TEXT NOT NULL, "
    "retired INTEGER NOT NULL, row BLOB NOT NULL, PRIMARY KEY (part, key)) WITHOUT ROWID",
    "CREATE INDEX IF NOT EXISTS applied_live ON applied (part, key) WHERE retired = 0",
    "CREATE TABLE IF NOT EXISTS counter (part INTEGER NOT NULL, key TEXT NOT NULL, "
    "period TEXT NOT NULL, value BLOB NOT NULL, PRIMARY KEY (part, key, period)) "
    "WITHOUT ROWID",
    "CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value BLOB NOT NULL)",
)
# every statement a constant (tests/unit/test_security.py: no SQL built at run time)
_SQL: dict[str, dict[str, str]] = {
    DOSSIER: {
        "get": "SELECT row FROM dossier WHERE part = ? AND key = ?",
        "get_many": "SELECT key, row FROM dossier WHERE part = ? AND key IN "
                    "(SELECT value FROM json_each(?))",
        "live": "SELECT key, row FROM dossier WHERE part = ? AND retired = 0",
        "put": "INSERT OR REPLACE INTO dossier VALUES (?, ?, ?, ?)",
        "drop": "DELETE FROM dossier WHERE part = ?",
        "count": "SELECT count(*) FROM dossier WHERE (? IS NULL OR part = ?) "
                 "AND (? IS NULL OR retired = ?)",
    },
    APPLIED: {
        "get": "SELECT row FROM applied WHERE part = ? AND key = ?",
        "get_many": "SELECT key, row FROM applied WHERE part = ? AND key IN "
                    "(SELECT value FROM json_each(?))",
        "live": "SELECT key, row FROM applied WHERE part = ? AND retired = 0",
        "put": "INSERT OR REPLACE INTO applied VALUES (?, ?, ?, ?)",
        "drop": "DELETE FROM applied WHERE part = ?",
        "count": "SELECT count(*) FROM applied WHERE (? IS NULL OR part = ?) "
                 "AND (? IS NULL OR retired = ?)",
    },
}
_PUT_MARKER = "INSERT OR REPLACE INTO meta VALUES ('marker', ?)"


def _dump_marker(marker: dict[str, Any]) -> bytes:
    return orjson.dumps({"format": FORMAT, **marker}, option=orjson.OPT_NON_STR_KEYS)


class StateUnusable(Exception):
    """The file cannot be read (corrupt, another layout): the caller starts afresh."""


class LocalState:
    """One SQLite file of the worker's state (see the module docstring)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._buf: dict[Key, tuple[int, bytes]] = {}
        self._counters: dict[tuple[int, str, str], bytes] = {}
        self._lock_fd: int | None = None
        self._db = self._connect()

    # -------------------------------------------------------------------- opening
    @classmethod
    def open_slot(cls, state_dir: Path) -> LocalState:
        """The state of the first free slot under ``state_dir`` (created if needed), locked
        for this process until :meth:`close` or its death."""
        state_dir.mkdir(parents=True, exist_ok=True)
        for slot in range(MAX_SLOTS):
            d = state_dir / str(slot)
            d.mkdir(exist_ok=True)
            fd = os.open(d / "LOCK", os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                continue
            try:
                state = cls(d / "state.sqlite")
            except BaseException:
                os.close(fd)
                raise
            state._lock_fd = fd
            return state
        raise RuntimeError(f"all {MAX_SLOTS} state slots under {state_dir} are in use")

    def _connect(self) -> sqlite3.Connection:
        try:
            db = self._open()
        except sqlite3.DatabaseError as exc:  # not a database, or a broken one
            log.warning("local state %s unreadable (%s): starting it afresh", self.path, exc)
            self._remove_files()
            db = self._open()
        return db

    def _open(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        try:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")  # durable at WAL checkpoints: a crash of
            # the process loses nothing, one of the machine at most the last commits
            db.execute("PRAGMA cache_size=-8192")  # KiB: CACHE_KIB
            db.execute("PRAGMA mmap_size=0")
            for statement in _SCHEMA:
                db.execute(statement)
            db.execute("SELECT count(*) FROM meta").fetchone()
        except BaseException:
            db.close()
            raise
        return db

    def _remove_files(self) -> None:
        for suffix in ("", "-wal", "-shm", "-journal"):
            try:
                os.unlink(f"{self.path}{suffix}")
            except FileNotFoundError:
                pass

    def wipe(self) -> None:
        """Forget everything (the file is removed and created empty)."""
        self._buf.clear()
        self._counters.clear()
        self._db.close()
        self._remove_files()
        self._db = self._open()

    def copy_to(self, path: Path) -> None:
        """A consistent copy of the committed state to another file (SQLite's online
        backup), e.g. to keep it before a risky operation."""
        dest = sqlite3.connect(path)
        try:
            self._db.backup(dest)
        finally:
            dest.close()

    def close(self) -> None:
        self._db.close()
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    # ---------------------------------------------------------------------- marker
    def marker(self) -> dict[str, Any] | None:
        """The committed marker (``{"identity": …, "offsets": {table: {partition: next
        offset of its changelog}}}``), or None if there is none. Raises
        :class:`StateUnusable` if it cannot be read."""
        try:
            row = self._db.execute("SELECT value FROM meta WHERE name = 'marker'").fetchone()
            if row is None:
                return None
            obj = orjson.loads(row[0])
            if obj.get("format") != FORMAT:
                raise StateUnusable(f"layout {obj.get('format')!r}, not {FORMAT}")
            return {"identity": obj["identity"],
                    "offsets": {t: {int(p): int(o) for p, o in obj["offsets"].get(t, {}).items()}
                                for t in TABLES}}
        except (sqlite3.DatabaseError, orjson.JSONDecodeError, KeyError, TypeError,
                ValueError, AttributeError) as exc:
            raise StateUnusable(f"{self.path}: {exc!r}") from exc

    # ----------------------------------------------------------------------- reads
    def get(self, table: str, part: int, key: str) -> bytes | None:
        """The row of ``key`` in ``table`` (retired or not), the buffer first."""
        hit = self._buf.get((table, part, key))
        if hit is not None:
            return hit[1]
        row = self._db.execute(_SQL[table]["get"], (part, key)).fetchone()
        return row[0] if row is not None else None

    def get_many(self, table: str, part: int, keys: list[str]) -> dict[str, bytes]:
        """The rows of those ``keys`` that ``table`` holds (one query, the buffer first)."""
        out: dict[str, bytes] = {}
        ask: list[str] = []
        buf = self._buf
        for key in keys:
            hit = buf.get((table, part, key))
            if hit is not None:
                out[key] = hit[1]
            else:
                ask.append(key)
        if ask:
            out.update(self._db.execute(_SQL[table]["get_many"], (part, orjson.dumps(ask))))
        return out

    def live(self, table: str, part: int) -> Iterator[tuple[str, bytes]]:
        """(key, row) of every committed row of ``part`` not retired."""
        yield from self._db.execute(_SQL[table]["live"], (part,))

    def counters(self, part: int) -> Iterator[tuple[str, str, bytes]]:
        """(counter key, period, value) of every committed counter of ``part``."""
        yield from self._db.execute(
            "SELECT key, period, value FROM counter WHERE part = ?", (part,))

    def count(self, table: str, part: int | None = None, *, retired: bool | None = None
              ) -> int:
        """Committed rows of ``table`` (of ``part``; retired or not), for tests and
        benchmarks."""
        flag = None if retired is None else int(retired)
        return int(self._db.execute(_SQL[table]["count"],
                                    (part, part, flag, flag)).fetchone()[0])

    # ---------------------------------------------------------------------- writes
    def put(self, table: str, part: int, key: str, row: bytes, *, retired: bool) -> None:
        """Buffer a row (visible to :meth:`get` at once, written by :meth:`commit`)."""
        self._buf[(table, part, key)] = (int(retired), row)

    def put_counter(self, part: int, key: str, period: str, value: bytes) -> None:
        self._counters[(part, key, period)] = value

    @property
    def pending(self) -> int:
        """Buffered writes."""
        return len(self._buf) + len(self._counters)

    def discard(self) -> None:
        """Forget the buffered writes (the state stays as of its marker)."""
        self._buf.clear()
        self._counters.clear()

    def commit(self, marker: dict[str, Any]) -> None:
        """Write the buffer and ``marker`` in one transaction."""
        by_table: dict[str, list[tuple[int, str, int, bytes]]] = {t: [] for t in TABLES}
        for (table, part, key), (retired, row) in self._buf.items():
            by_table[table].append((part, key, retired, row))
        db = self._db
        db.execute("BEGIN")
        try:
            for table, rows in by_table.items():
                if rows:
                    rows.sort()  # in key order: the B-tree's pages are visited once each
                    db.executemany(_SQL[table]["put"], rows)
            if self._counters:
                db.executemany("INSERT OR REPLACE INTO counter VALUES (?, ?, ?, ?)",
                               [(p, k, per, v) for (p, k, per), v in self._counters.items()])
            db.execute(_PUT_MARKER, (_dump_marker(marker),))
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        self._buf.clear()
        self._counters.clear()

    def write_rows(self, table: str, part: int, rows: Iterable[tuple[str, bytes, bool]]
                   ) -> int:
        """Write rows of a partition the marker does not name (being rebuilt from its
        whole changelog), in transactions of :data:`CHUNK` rows, outside the buffer; the
        marker naming the partition comes with a later :meth:`commit`. Returns the rows
        written."""
        if self._marked(part, table):
            raise ValueError(f"partition {part} of {table} is in the marker")
        n = 0
        chunk: list[tuple[int, str, int, bytes]] = []
        sql = _SQL[table]["put"]
        for key, row, retired in rows:
            chunk.append((part, key, int(retired), row))
            if len(chunk) >= CHUNK:
                self._write(sql, chunk)
                n += len(chunk)
                chunk = []
        if chunk:
            self._write(sql, chunk)
            n += len(chunk)
        return n

    def _write(self, sql: str, rows: list[Any]) -> None:
        db = self._db
        db.execute("BEGIN")
        try:
            db.executemany(sql, rows)
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise

    def _marked(self, part: int, table: str) -> bool:
        marker = self.marker()
        if marker is None:
            return False
        return part in marker["offsets"].get(table, {})

    def drop(self, table: str, parts: Iterable[int], marker: dict[str, Any] | None) -> None:
        """Delete every row of ``parts`` of ``table`` (and their counters, for
        :data:`APPLIED`), committed at once with ``marker`` (which must no longer name
        them), or the marker left as it is when None."""
        parts = list(parts)
        if not parts:
            return
        db = self._db
        db.execute("BEGIN")
        try:
            for p in parts:
                db.execute(_SQL[table]["drop"], (p,))
                if table == APPLIED:
                    db.execute("DELETE FROM counter WHERE part = ?", (p,))
            if marker is not None:
                db.execute(_PUT_MARKER, (_dump_marker(marker),))
            db.execute("COMMIT")
        except BaseException:
            db.execute("ROLLBACK")
            raise
        for k in [k for k in self._buf if k[0] == table and k[1] in parts]:
            del self._buf[k]


def forget(state_dir: Path) -> list[Path]:
    """Remove every slot under ``state_dir`` that no live process holds, e.g. before a
    worker starts on a new, empty embedded broker: a state reflects the log it was written
    from, and a worker finding one whose offsets that log lacks stops (``LogLost``).
    Returns the slots removed."""
    removed: list[Path] = []
    if not state_dir.is_dir():
        return removed
    for d in sorted(state_dir.iterdir()):
        lock = d / "LOCK"
        if not d.is_dir() or not d.name.isdigit():
            continue
        fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                continue  # in use
            shutil.rmtree(d)
            removed.append(d)
        finally:
            os.close(fd)
    return removed


__all__ = ["APPLIED", "DOSSIER", "LocalState", "StateUnusable", "forget"]
