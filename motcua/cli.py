"""The ``motcua`` command: the top layer, which nothing else imports.

Each sub-command lives in ``motcua/commands/<name>.py`` and exposes ``register(app)``;
heavy libraries (and the project modules that pull them in) are imported inside the
commands, so ``motcua --help`` starts fast.

Exit codes are decided here and nowhere below: a :class:`schemas.errors.MotcuaError` that
reaches the command line is printed as one red line on stderr (no traceback) and ends the
command with its ``exit_code`` — 75 for :class:`~schemas.errors.LogLost` (recover, then
restart), 1 for any other. Commands raise; they do not catch these to pick a status.
"""

from __future__ import annotations

import importlib
from typing import Any

import typer
from rich.console import Console
from rich.markup import escape
from typer.core import TyperGroup

from schemas.errors import MotcuaError

COMMAND_MODULES = (
    "schema",
    "ingest",
    "report",
    "simulate",
    "evidence",
    "demo",
    "worker",
    "db",
    "sink",
    "metrics",
    "topics",
    "soak",
    "units",
    "dlq",
    "http",
    "token",
    "user",
    "web",
)


def report_failure(exc: MotcuaError) -> int:
    """Print ``exc`` as the command's last word (one red line on stderr); its exit code."""
    Console(stderr=True, soft_wrap=True).print(
        f"[red]error ({type(exc).__name__}): {escape(str(exc))}[/red]")
    return exc.exit_code


class MotcuaGroup(TyperGroup):
    """The root command group: maps :class:`MotcuaError` to an exit code (see above), for
    ``motcua`` itself and for anything invoking :data:`app` (``typer.testing.CliRunner``)."""

    def invoke(self, ctx: Any) -> Any:  # typer's own click Context
        try:
            return super().invoke(ctx)
        except MotcuaError as exc:
            raise typer.Exit(report_failure(exc)) from None


def new_app() -> typer.Typer:
    """An empty ``motcua`` application with the error mapping above (no sub-commands)."""
    return typer.Typer(
        name="motcua",
        cls=MotcuaGroup,
        help="motcua-kpi: one-stop (một cửa) dossier events → live Decision 766 / PAR Index "
             "KPIs.",
        no_args_is_help=True,
        add_completion=False,
    )


app = new_app()
for _name in COMMAND_MODULES:
    importlib.import_module(f"motcua.commands.{_name}").register(app)


def main() -> None:
    """The ``motcua`` console script and ``python -m motcua``."""
    app()
