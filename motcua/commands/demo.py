"""``motcua demo``: the main job on the embedded default, ending with a scorecard."""

from __future__ import annotations

import signal
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

if TYPE_CHECKING:
    from rich.console import Console

    from motcua.demo import DemoResult


INTERRUPTED = 130
"""Exit status of a demo stopped by SIGINT or SIGTERM before its scorecard (128 + 2)."""


def register(app: typer.Typer) -> None:
    app.command("demo")(demo)


def demo(
    events: Annotated[
        Path | None,
        typer.Option(exists=True, dir_okay=False, help="JSONL events instead of the simulator"),
    ] = None,
    scale: Annotated[float, typer.Option(help="simulated volume, 1.0 = Tân Hồng 2023")] = 0.25,
    period: Annotated[
        str | None,
        typer.Option(help="period of the scorecard (default: the year of the last complete "
                     "month, to date — 2026 until December 2026 included)"),
    ] = None,
    reorganisation: Annotated[
        bool,
        typer.Option(help="simulate 1/1/2025 to the end of the last complete month, across "
                     "the 1/7/2025 reorganisation (district gone, "
                     "communes merged) and run with the registry it writes to "
                     "<data dir>/units.csv (unless MOTCUA_UNITS_FILE is set); "
                     "--no-reorganisation: the unchanged structure, no registry"),
    ] = True,
    families: Annotated[
        bool,
        typer.Option(help="simulate petitions (PAKN), each desk's procedure catalog and the "
                     "documents it sends and the v1.2 fields too, at plausible rates [M], "
                     "so that every Decision 766 group is scored; --no-families: dossiers "
                     "only"),
    ] = True,
    exit_when_idle: Annotated[
        bool, typer.Option(help="exit once the input is processed (else serve until Ctrl-C)")
    ] = False,
) -> None:
    """Start the embedded broker, the pipeline worker, the SQL sink and /metrics; publish
    simulated (or given) events; print a scorecard per unit (bảng điểm theo đơn vị) from the
    live KPI snapshots — own figures and totals, as it was, then restated to today's
    units — every snapshot checked against the batch report of the same file (exit 1 if
    one differs, or if a service stops; 130 if stopped by SIGINT/SIGTERM before the
    scorecard). SIGINT or SIGTERM ends every service within 10 s."""
    from rich.console import Console

    from motcua.demo import demo_period, run_demo, today
    from runtime.settings import load_settings

    console = Console()
    if not console.is_terminal:  # logs and CI: wide enough for the scorecard
        console = Console(width=150)
    settings = load_settings()
    scored = period or demo_period(today())
    serve = None if exit_when_idle else threading.Event()
    serving = threading.Event()

    def on_signal(signum: int, _frame: object) -> None:
        # serving: stop as asked (exit 0); before that: interrupt whatever runs (exit 130)
        if serve is not None and serving.is_set():
            serve.set()
        else:
            raise KeyboardInterrupt(signal.Signals(signum).name)

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)

    def ready(result: DemoResult) -> None:
        show(result, scored, console)
        serving.set()

    try:
        result = run_demo(settings, console, events=events, scale=scale, period=scored,
                          reorganisation=reorganisation, families=families,
                          on_ready=ready, serve=serve)
    except KeyboardInterrupt as exc:
        console.print(f"[yellow]stopped ({exc or 'SIGINT'}) before the demo finished; every "
                      "service it started has stopped[/yellow]")
        raise typer.Exit(INTERRUPTED) from None
    if result.mismatches:
        raise typer.Exit(1)


def show(result: DemoResult, period: str, console: Console) -> None:
    """The scorecards of ``period`` and the verdict of the live check (its last line)."""
    from kpi.attribution import AS_WAS, OWN, RESTATED, TOTAL
    from kpi.registry import UnitRegistry
    from motcua.scorecard import (
        criteria_legend,
        province_trees,
        scorecard,
        scorecard_title,
        tree_table,
    )

    registry = UnitRegistry.load(result.registry_file) if result.registry_file else None
    now = time.time()
    own, totals, restated_all = result.reports, result.totals, result.restated
    live = "live"
    scorecard(own, console, scorecard_title(period, AS_WAS, OWN, live), registry)
    if totals:
        scorecard(totals, console, scorecard_title(
            period, AS_WAS, TOTAL, "live, own + the units below then"), registry)
    restated = "from the live own figures"
    for scope in (OWN, TOTAL):
        reports = [r for r in restated_all if r["scope"] == scope]
        if reports:
            scorecard(reports, console, scorecard_title(period, RESTATED, scope, restated),
                      registry)
    criteria_legend(own, console)
    for tree in province_trees([*own, *totals], registry, now):
        tree_table(tree, console)
    if result.restated:
        _top_totals(result, console)
    if result.mismatches:
        console.print(f"[red]live snapshots differ from the batch report for "
                      f"{len(result.mismatches)} (unit, period): "
                      f"{', '.join(result.mismatches[:10])}[/red]")
    else:
        scopes = ", ".join(f"{n:,} {scope}" for scope, n in result.scopes.items() if n)
        units = (f" --units {result.registry_file} --scope own|total"
                 if result.registry_file else "")
        console.print(f"all {result.snapshots:,} live KPI snapshots equal the batch report "
                      f"({scopes}) of {result.events_file} (motcua report --events FILE"
                      f"{units} --unit U --period P)")


def _top_totals(result: DemoResult, console: Console) -> None:
    """A province's total received as it was and restated (they agree at the top)."""
    from kpi.attribution import SCOPE_LABELS_VI, TOTAL

    restated = {r["unit"]: r for r in result.restated if r["scope"] == TOTAL}
    for r in result.totals:
        other = restated.get(r["unit"])
        if other is None or r.get("level") != "province":
            continue
        a, b = r["counts"]["received"], other["counts"]["received"]
        colour, sign = ("green", "=") if a == b else ("red", "≠")
        console.print(f"[{colour}]{r['unit']} {r['period']} {SCOPE_LABELS_VI[TOTAL]}, hồ sơ "
                      f"tiếp nhận: {a:,} as_was {sign} {b:,} restated[/{colour}]")
