"""The ``motcua`` command. Each sub-command lives in ``motcua/commands/<name>.py`` and
exposes ``register(app)``; heavy imports happen inside the commands, not here."""

from __future__ import annotations

import importlib

import typer

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
)

app = typer.Typer(
    name="motcua",
    help="motcua-kpi: one-stop (một cửa) dossier events → live Decision 766 / PAR Index KPIs.",
    no_args_is_help=True,
    add_completion=False,
)

for _name in COMMAND_MODULES:
    importlib.import_module(f"motcua.commands.{_name}").register(app)


def main() -> None:
    app()
