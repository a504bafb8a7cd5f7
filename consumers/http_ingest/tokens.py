"""Bearer tokens of the HTTP ingest: each allowed a set of event ``source`` values, stored
only as hashes.

The tokens file (``MOTCUA_INGEST_TOKENS_FILE``, default ``<data dir>/ingest-tokens.jsonl``)
holds one JSON object per line::

    {"id": "3f2a9c1b7d04", "sha256": "<hex of the token's SHA-256>",
     "sources": ["urn:motcua:dvc:dong-thap"], "created": "2026-12-01T09:00:00+07:00"}

:func:`add_token` makes a new random token (256 bits, ``mct_`` + URL-safe base64), appends
only its hash and returns the token — the one moment it exists in clear. ``id`` (the first
12 hex digits of the hash) names a token in ``motcua token list`` / ``revoke`` and in the
access log. :func:`revoke_token` rewrites the file without it (atomically).

:class:`TokenStore` answers "which sources may this token send" and re-reads the file when
it changes (its size, modification time or inode), checked on every lookup.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

import orjson

from schemas.errors import InputError

TOKEN_PREFIX = "mct_"
_LOCAL = timezone(timedelta(hours=7))


@dataclass(frozen=True)
class Grant:
    """What one token may do: send events of these ``sources``."""

    id: str
    sources: frozenset[str]
    created: str = ""


def token_hash(token: str) -> str:
    """Hex SHA-256 of ``token`` (what the file stores)."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def read_grants(path: Path) -> dict[str, Grant]:
    """hash → grant of every token in ``path`` (a missing file: none)."""
    try:
        text = path.read_bytes()
    except FileNotFoundError:
        return {}
    out: dict[str, Grant] = {}
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            obj = orjson.loads(line)
            out[obj["sha256"]] = Grant(obj["id"], frozenset(obj["sources"]),
                                       obj.get("created", ""))
        except (orjson.JSONDecodeError, KeyError, TypeError) as exc:
            raise InputError(f"{path}:{number}: not a token line ({exc})") from exc
    return out


def add_token(path: Path, sources: Iterable[str]) -> tuple[str, Grant]:
    """A new token allowed ``sources``; only its hash is appended to ``path``."""
    allowed = sorted(set(sources))
    if not allowed or not all(s.strip() for s in allowed):
        raise InputError("a token needs at least one non-empty --source")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    digest = token_hash(token)
    created = datetime.now(_LOCAL).isoformat(timespec="seconds")
    grant = Grant(digest[:12], frozenset(allowed), created)
    path.parent.mkdir(parents=True, exist_ok=True)
    line = orjson.dumps({"id": grant.id, "sha256": digest, "sources": allowed,
                         "created": created}) + b"\n"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        os.write(fd, line)
    finally:
        os.close(fd)
    return token, grant


def revoke_token(path: Path, token_id: str) -> bool:
    """Remove the token with id ``token_id``; False if there was none."""
    grants = read_grants(path)
    keep = [(h, g) for h, g in grants.items() if g.id != token_id]
    if len(keep) == len(grants):
        return False
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(b"".join(
        orjson.dumps({"id": g.id, "sha256": h, "sources": sorted(g.sources),
                      "created": g.created}) + b"\n" for h, g in keep))
    os.chmod(tmp, 0o600)
    os.replace(tmp, path)
    return True


class TokenStore:
    """The grants of a tokens file, re-read when the file changes."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._stamp: tuple[int, int, int] | None = None
        self._grants: dict[str, Grant] = {}

    def _current(self) -> dict[str, Grant]:
        try:
            st = self.path.stat()
            stamp = (st.st_mtime_ns, st.st_size, st.st_ino)
        except FileNotFoundError:
            stamp = (0, 0, 0)
        with self._lock:
            if stamp != self._stamp:
                self._grants = read_grants(self.path)
                self._stamp = stamp
            return self._grants

    def lookup(self, token: str) -> Grant | None:
        """The grant of ``token``, or None for an unknown one."""
        return self._current().get(token_hash(token))


__all__ = ["Grant", "TokenStore", "add_token", "read_grants", "revoke_token", "token_hash"]
