"""``motcua web``: the staff pages (Vietnamese, server-rendered) on the SQL store.

Listens on ``MOTCUA_WEB_HOST`` (default 127.0.0.1) and ``MOTCUA_WEB_PORT`` (default 8080);
reads the store at ``--db`` / ``MOTCUA_DATABASE_URL`` and the unit registry at ``--units`` /
``MOTCUA_UNITS_FILE``. Logins are made with ``motcua user add``.
"""

from __future__ import annotations

import os
from pathlib import Path

import typer

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8080


def web_address() -> tuple[str, int]:
    """(host, port) from MOTCUA_WEB_HOST / MOTCUA_WEB_PORT, with the defaults above."""
    host = os.environ.get("MOTCUA_WEB_HOST") or DEFAULT_HOST
    port = int(os.environ.get("MOTCUA_WEB_PORT") or DEFAULT_PORT)
    return host, port


def register(app: typer.Typer) -> None:
    @app.command()
    def web(
        db: str | None = typer.Option(None, "--db", help="SQLAlchemy URL; default "
                                      "MOTCUA_DATABASE_URL"),
        units: Path | None = typer.Option(None, "--units", exists=True, dir_okay=False,
                                          help="unit registry CSV; default MOTCUA_UNITS_FILE"),
        host: str | None = typer.Option(None, "--host", help="default MOTCUA_WEB_HOST or "
                                        "127.0.0.1"),
        port: int | None = typer.Option(None, "--port", help="default MOTCUA_WEB_PORT or 8080"),
    ) -> None:
        """Serve the staff pages: the unit tree, scorecards, warnings, evidence."""
        import uvicorn

        from motcua.web.app import create_app, web_config

        env_host, env_port = web_address()
        config = web_config(db=db, units=units)
        typer.echo(f"motcua web on http://{host or env_host}:{port or env_port} "
                   f"(store {config.shown_url})")
        uvicorn.run(create_app(config), host=host or env_host, port=port or env_port,
                    log_level="warning")
