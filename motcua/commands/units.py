"""``motcua units check FILE``: validate a unit registry (docs/contract.md) and summarise it."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Annotated

import typer

units_app = typer.Typer(help="The unit registry (danh mục đơn vị hành chính, docs/contract.md).",
                        no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(units_app, name="units")


@units_app.command("check")
def check(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False,
                                         help="registry CSV: code,name,level,parent,"
                                         "valid_from,valid_to,successor")],
    on: Annotated[str | None, typer.Option(
        "--on", help="the day to count units in force (YYYY-MM-DD; default: today, local)",
    )] = None,
) -> None:
    """Validate FILE (a problem is one red line with file:line, exit 1) and print the units
    in force on --on per level, the ceased units with their successors, and the number of
    versions."""
    from rich.console import Console
    from rich.table import Table

    from kpi.calendar import local_date
    from kpi.registry import LEVELS, UnitRegistry

    if on is None:
        import time

        day = local_date(time.time())
    else:
        try:
            day = dt.date.fromisoformat(on)
        except ValueError as exc:
            raise typer.BadParameter(f"{on!r} is not a date (YYYY-MM-DD)",
                                     param_hint="--on") from exc
    registry = UnitRegistry.load(file)  # RegistryError → one red line, exit 1 (motcua.cli)
    console = Console()
    versions = sum(len(registry.versions(code)) for code in registry.codes)
    console.print(f"[green]{file}: valid[/] — {len(registry.codes)} units, {versions} "
                  "versions")
    in_force = registry.in_force_units(day)
    per_level = Table(title=f"Đơn vị đang có hiệu lực ngày {day.isoformat()}",
                      title_justify="left")
    per_level.add_column("Cấp (level)")
    per_level.add_column("Số đơn vị", justify="right")
    for level in LEVELS:
        n = sum(v.level == level for v in in_force)
        if n:
            per_level.add_row(level, str(n))
    per_level.add_section()
    per_level.add_row("tổng", str(len(in_force)))
    console.print(per_level)
    ceased = sorted(registry.ceased(), key=lambda v: (v.valid_to or dt.date.max, v.code))
    table = Table(title=f"Đơn vị đã chấm dứt: {len(ceased)}", title_justify="left")
    for column in ("Mã", "Tên", "Cấp", "Hiệu lực đến", "Đơn vị kế thừa"):
        table.add_column(column)
    for v in ceased:
        successor = "—"
        if v.successor is not None:
            name = registry.name_on(v.successor, day)
            successor = f"{v.successor} {name}" if name else v.successor
        table.add_row(v.code, v.name, v.level, v.valid_to.isoformat() if v.valid_to else "",
                      successor)
    console.print(table)
