"""``motcua web`` as a thread of this process (``motcua demo``, the browser tests).

:func:`web_service` starts the pages on ``MOTCUA_WEB_HOST``/``MOTCUA_WEB_PORT`` (default
127.0.0.1:8080; a port already taken gives a free one, and says so) over ``settings``'
store and registry, makes (or gives a new password to) the demo login — role ``admin`` on
the registry's top unit — prints the URL, the login and its password, yields the URL and
stops the server on exit. It does not migrate the store: the sink started beside it does
(two migrations at once on a new SQLite file collide), and the login is made once the store
is at the newest revision (waiting up to :data:`MIGRATED_SECONDS`).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from rich.console import Console

from consumers.http_ingest.server import BackgroundServer
from consumers.users import UserExists, active_user, add_user, set_password_hash
from kpi.calendar import local_date
from motcua.http_service import usable_port
from motcua.web.auth import hash_password, new_password
from motcua.web.data import WebConfig
from runtime.settings import Settings

DEMO_LOGIN = "demo"
MIGRATED_SECONDS = 60.0
"""How long :func:`web_service` waits for the sink to migrate the store before the login."""


def _wait(check: Any, timeout: float) -> bool:
    import time

    end = time.monotonic() + timeout
    while not check():
        if time.monotonic() > end:
            return False
        time.sleep(0.2)
    return True


def top_unit(config: WebConfig, clock: Any = None) -> str:
    """The registry's top unit in force today (the first by code), else ``DT``."""
    if config.registry is None:
        return "DT"
    day = local_date((clock or config.clock)())
    tops = sorted(v.code for v in config.registry.in_force_units(day) if v.parent is None)
    return tops[0] if tops else "DT"


def demo_login(engine: Any, unit: str, login: str = DEMO_LOGIN) -> str:
    """A fresh password for ``login`` (admin of ``unit``), made if it does not exist."""
    password = new_password()
    if active_user(engine, login) is not None:
        set_password_hash(engine, login, hash_password(password))
        return password
    try:
        add_user(engine, login, unit, "admin", hash_password(password))
    except UserExists:  # revoked: the demo leaves it so
        return ""
    return password


def at_head(engine: Any) -> bool:
    """True once the store is at the newest revision (the sink migrates it)."""
    from alembic.script import ScriptDirectory

    from consumers.store import alembic_config, current_revision

    try:
        return current_revision(engine) == ScriptDirectory.from_config(
            alembic_config()).get_current_head()
    except Exception:  # the file or schema may not exist yet
        return False


@contextmanager
def web_service(settings: Settings, console: Console, *, login: bool = True,
                period: str | None = None) -> Iterator[str]:
    """The staff pages in a daemon thread (see the module doc); yields their URL. The
    printed address opens ``period`` when given (the demo's simulated year)."""
    import uvicorn

    from motcua.commands.web import web_address
    from motcua.web.app import create_app, web_config

    config = web_config(settings=settings)
    host, wanted = web_address()
    port = usable_port(host, wanted, console, "web", "MOTCUA_WEB_PORT")
    app = create_app(config, migrate=False)  # the sink beside it migrates the store
    server = BackgroundServer(uvicorn.Server(uvicorn.Config(
        app, host=host, port=port, log_level="warning", lifespan="off")))
    server.start()
    url = f"http://{host}:{port}"
    try:
        ready = login and _wait(lambda: at_head(app.state.store.engine), MIGRATED_SECONDS)
        if login and not ready:
            console.print(f"[yellow]web pages: {url} — the store is not migrated yet; make a "
                          "login with: motcua user add[/yellow]")
        if ready:
            unit = top_unit(config)
            password = demo_login(app.state.store.engine, unit)
            shown = f"{url}/?period={period}" if period else url
            console.print(f"web pages: {shown} — demo login [bold]{DEMO_LOGIN}[/bold] (admin, "
                          f"unit {unit}); password (more logins: motcua user add):")
            console.print(password or "(login revoked: motcua user add)", highlight=False)
        yield url
    finally:
        server.stop()
        app.state.store.close()
