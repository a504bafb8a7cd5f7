"""Pieces shared by several commands (kept out of the per-command modules)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, TypeVar

import typer

from runtime.settings import Settings, load_settings, shown_url

T = TypeVar("T")


def service_settings(bootstrap: str | None, db: str | None) -> Settings:
    """Settings of a long-running service (sink, metrics): logging set up, and the
    ``--bootstrap`` / ``--db`` options overriding the environment."""
    logging.basicConfig(
        level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    logging.getLogger("kafka").setLevel(logging.WARNING)
    overrides: dict[str, object] = {}
    if bootstrap:
        overrides["kafka_bootstrap"] = bootstrap
    if db:
        overrides["database_url"] = db
    return load_settings(**overrides)


def read_store(db: str | None, read: Callable[[Any], T], err: Any) -> tuple[T, str]:
    """``read(engine)`` on the SQL store at ``db`` (default: the settings' URL); a database
    error becomes a one-line message and exit 1. Returns the result and the URL as shown
    (password hidden)."""
    from sqlalchemy.exc import SQLAlchemyError

    from consumers.store import make_engine

    url = db or load_settings().database_url.get_secret_value()
    shown = shown_url(url)
    engine = make_engine(url)
    try:
        return read(engine), shown
    except SQLAlchemyError as exc:
        err.print(f"[red]cannot read the store at {shown}: {exc.__class__.__name__}: "
                  f"{str(exc).splitlines()[0]}")
        raise typer.Exit(1) from exc
    finally:
        engine.dispose()
