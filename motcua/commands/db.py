"""``motcua db upgrade [--db URL]``: create or migrate the SQL store (Alembic)."""

from __future__ import annotations

import typer

db_app = typer.Typer(help="The SQL store of the sink (migrations).", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(db_app, name="db")


@db_app.command("upgrade")
def upgrade(
    db: str | None = typer.Option(
        None, "--db", help="SQLAlchemy URL; default MOTCUA_DATABASE_URL or sqlite:///./motcua.db"
    ),
    revision: str = typer.Option("head", "--revision", help="target Alembic revision"),
) -> None:
    """Run the migrations up to REVISION (default: the newest). Safe to repeat."""
    from rich.console import Console

    from consumers.store import current_revision, make_engine
    from consumers.store import upgrade as run_upgrade
    from runtime.settings import load_settings

    console = Console(stderr=True)
    url = db or load_settings().database_url.get_secret_value()
    engine = make_engine(url)
    try:
        run_upgrade(engine, revision)
        console.print(f"{engine.url.render_as_string(hide_password=True)}: at revision "
                      f"{current_revision(engine)}")
    finally:
        engine.dispose()
