"""Logins of ``motcua web``: password hashes, CSRF tokens and the login attempt limit.

* passwords: argon2id (argon2-cffi's defaults, RFC 9106 low-memory profile); a generated
  password is 16 characters of ``secrets.token_urlsafe``;
* sessions: Starlette's signed cookie (itsdangerous, HttpOnly, SameSite=Lax), holding the
  login and a CSRF token; the login is checked against the store on every request, so a
  revoked login is refused from its next request;
* CSRF: every form carries the session's token (``csrf_token``); a POST is accepted when
  it carries the token of its session, or when it carries none and has no ``Origin``
  header (a script with no browser, e.g. ``curl -d login=… -d password=…``: browsers send
  ``Origin`` with every POST, so a cross-site form always has one);
* attempts: at most :data:`MAX_FAILURES` failed logins per (client, login) and
  :data:`MAX_FAILURES_PER_CLIENT` per client within :data:`WINDOW_SECONDS`; then HTTP 429
  until the oldest failure leaves the window.
"""

from __future__ import annotations

import hmac
import secrets
import threading
import time
from collections import deque
from collections.abc import Callable
from pathlib import Path

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

_HASHER = PasswordHasher()

MAX_FAILURES = 5
MAX_FAILURES_PER_CLIENT = 20
WINDOW_SECONDS = 300.0


def new_password() -> str:
    """A random password (about 96 bits)."""
    return secrets.token_urlsafe(12)


def hash_password(password: str) -> str:
    """The argon2id hash (PHC string) of ``password``."""
    return _HASHER.hash(password)


def check_password(stored_hash: str, password: str) -> bool:
    """True when ``password`` matches ``stored_hash`` (never raises on a bad hash)."""
    try:
        return _HASHER.verify(stored_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def needs_rehash(stored_hash: str) -> bool:
    return _HASHER.check_needs_rehash(stored_hash)


_DUMMY_HASH = _HASHER.hash("not a password")


def burn_time(password: str) -> None:
    """Verify against a dummy hash, so an unknown login costs as long as a wrong password."""
    check_password(_DUMMY_HASH, password)


def new_csrf_token() -> str:
    return secrets.token_urlsafe(24)


def csrf_ok(session_token: str | None, sent: str | None, origin: str | None) -> bool:
    """The CSRF rule above: the session's token, or no token and no ``Origin``."""
    if sent is None or sent == "":
        return origin is None
    return session_token is not None and hmac.compare_digest(session_token, sent)


def session_secret(explicit: str | None, data_dir: Path) -> str:
    """The key that signs session cookies: ``explicit`` (MOTCUA_WEB_SECRET) when given,
    else the one kept in ``<data_dir>/web-secret`` (made on first use, mode 0600), so
    sessions survive a restart."""
    if explicit:
        return explicit
    path = data_dir / "web-secret"
    if path.exists():
        return path.read_text(encoding="ascii").strip()
    data_dir.mkdir(parents=True, exist_ok=True)
    key = secrets.token_urlsafe(48)
    path.touch(mode=0o600)
    path.write_text(key, encoding="ascii")
    return key


class AttemptLimiter:
    """Failed login attempts per (client, login) and per client in a sliding window."""

    def __init__(self, per_login: int = MAX_FAILURES,
                 per_client: int = MAX_FAILURES_PER_CLIENT, window: float = WINDOW_SECONDS,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.per_login, self.per_client, self.window = per_login, per_client, window
        self._clock = clock
        self._fails: dict[tuple[str, str], deque[float]] = {}
        self._lock = threading.Lock()

    def _recent(self, key: tuple[str, str]) -> deque[float]:
        q = self._fails.setdefault(key, deque())
        cutoff = self._clock() - self.window
        while q and q[0] <= cutoff:
            q.popleft()
        return q

    def blocked(self, client: str, login: str) -> bool:
        """True while this client may not try (this login, or any) again."""
        with self._lock:
            return (len(self._recent((client, login))) >= self.per_login
                    or len(self._recent((client, ""))) >= self.per_client)

    def failed(self, client: str, login: str) -> None:
        now = self._clock()
        with self._lock:
            self._recent((client, login)).append(now)
            self._recent((client, "")).append(now)

    def succeeded(self, client: str, login: str) -> None:
        with self._lock:
            self._fails.pop((client, login), None)
