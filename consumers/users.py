"""The logins of ``motcua web`` in the SQL store (table ``web_users``).

Only the password's hash is stored (the caller hashes: :mod:`motcua.web.auth`). A login is
made once (:func:`add_user` refuses a name already used, revoked or not), revoked by
setting ``revoked_at`` (:func:`revoke_user`); :func:`active_user` never returns a revoked
one, so a revoked login cannot sign in from its next request on.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import NamedTuple

from sqlalchemy import Engine, select, update
from sqlalchemy.exc import IntegrityError

from consumers.store import epoch
from consumers.tables import web_users

ROLES = ("viewer", "admin")
"""``viewer``: its unit and the units below it; ``admin``: every unit."""


class User(NamedTuple):
    """One login as stored (``password_hash``: argon2, PHC string)."""

    login: str
    unit: str
    role: str
    password_hash: str
    created_at: float
    revoked_at: float | None


class UserExists(ValueError):
    """The login is already taken (possibly by a revoked user)."""


def _user(row: object) -> User:
    m = row._mapping  # type: ignore[attr-defined]
    created = epoch(m["created_at"])
    assert created is not None
    return User(m["login"], m["unit"], m["role"], m["password_hash"], created,
                epoch(m["revoked_at"]))


def add_user(engine: Engine, login: str, unit: str, role: str, password_hash: str) -> User:
    """Store a new login; :class:`UserExists` if the name is taken, ValueError for an
    unknown role or an empty login/unit."""
    if role not in ROLES:
        raise ValueError(f"role {role!r}: expected one of {', '.join(ROLES)}")
    if not login.strip() or not unit.strip():
        raise ValueError("login and unit must not be empty")
    now = datetime.now(UTC)
    row = {"login": login, "unit": unit, "role": role, "password_hash": password_hash,
           "created_at": now, "revoked_at": None}
    try:
        with engine.begin() as conn:
            conn.execute(web_users.insert(), row)
    except IntegrityError as exc:
        raise UserExists(f"login {login!r} already exists") from exc
    return User(login, unit, role, password_hash, now.timestamp(), None)


def list_users(engine: Engine) -> list[User]:
    """Every login, revoked ones included, by name."""
    with engine.connect() as conn:
        return [_user(r) for r in conn.execute(select(web_users).order_by(web_users.c.login))]


def active_user(engine: Engine, login: str) -> User | None:
    """The login if it exists and is not revoked."""
    with engine.connect() as conn:
        row = conn.execute(select(web_users).where(
            web_users.c.login == login, web_users.c.revoked_at.is_(None))).first()
    return None if row is None else _user(row)


def revoke_user(engine: Engine, login: str) -> bool:
    """Revoke an active login; False if there is none of that name."""
    with engine.begin() as conn:
        done = conn.execute(update(web_users).where(
            web_users.c.login == login, web_users.c.revoked_at.is_(None)
        ).values(revoked_at=datetime.now(UTC)))
    return bool(done.rowcount)


def set_password_hash(engine: Engine, login: str, password_hash: str) -> None:
    """Replace an active login's hash (argon2 rehash when its parameters changed)."""
    with engine.begin() as conn:
        conn.execute(update(web_users).where(web_users.c.login == login)
                     .values(password_hash=password_hash))
