"""``motcua user add|list|revoke``: the logins of ``motcua web``, kept in the SQL store
(table ``web_users``, argon2 hashes only). Like ``motcua token``: ``add`` prints the
generated password alone on its last line, shown only this once."""

from __future__ import annotations

from typing import Any

import typer

user_app = typer.Typer(help="Logins of the web pages (motcua web), stored as argon2 hashes.",
                       no_args_is_help=True)

DB_HELP = "SQLAlchemy URL; default MOTCUA_DATABASE_URL"


def register(app: typer.Typer) -> None:
    app.add_typer(user_app, name="user")


def _engine(db: str | None) -> Any:
    from consumers.store import make_engine, upgrade
    from runtime.settings import load_settings

    engine = make_engine(db or load_settings().database_url.get_secret_value())
    upgrade(engine)
    return engine


@user_app.command("add")
def add(
    login: str = typer.Option(..., "--login", help="the name typed on the login page"),
    unit: str = typer.Option(..., "--unit", help="unit code: it sees this unit and the units "
                             "below it in force"),
    role: str = typer.Option("viewer", "--role", help="viewer (its unit and below) or admin "
                             "(every unit)"),
    db: str | None = typer.Option(None, "--db", help=DB_HELP),
) -> None:
    """Make a login. What it is is printed first; the generated password alone on the last
    line — it is not stored (only its argon2 hash), so keep it now."""
    from consumers.users import ROLES, UserExists, add_user
    from motcua.web.auth import hash_password, new_password

    if role not in ROLES:
        raise typer.BadParameter(f"{role!r}: expected one of {', '.join(ROLES)}",
                                 param_hint="--role")
    engine = _engine(db)
    password = new_password()
    try:
        add_user(engine, login, unit, role, hash_password(password))
    except UserExists as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(1) from exc
    finally:
        engine.dispose()
    typer.echo(f"login {login} ({role}) for unit {unit}; its password, shown only once:")
    typer.echo(password)


@user_app.command("list")
def list_(db: str | None = typer.Option(None, "--db", help=DB_HELP)) -> None:
    """One line per login: login, unit, role, created, revoked (never a password)."""
    from consumers.users import list_users
    from kpi.calendar import to_local_datetime

    engine = _engine(db)
    try:
        users = list_users(engine)
    finally:
        engine.dispose()
    for u in users:
        revoked = ("revoked " + to_local_datetime(u.revoked_at).isoformat(timespec="seconds")
                   if u.revoked_at is not None else "active")
        typer.echo(f"{u.login}\t{u.unit}\t{u.role}\t"
                   f"{to_local_datetime(u.created_at).isoformat(timespec='seconds')}\t{revoked}")
    typer.echo(f"{len(users)} logins")


@user_app.command("revoke")
def revoke(
    login: str = typer.Argument(..., help="the login shown by motcua user list"),
    db: str | None = typer.Option(None, "--db", help=DB_HELP),
) -> None:
    """Revoke a login: its sessions are refused from their next request."""
    from consumers.users import revoke_user

    engine = _engine(db)
    try:
        done = revoke_user(engine, login)
    finally:
        engine.dispose()
    if not done:
        typer.echo(f"no active login {login!r}", err=True)
        raise typer.Exit(1)
    typer.echo(f"revoked {login}")
