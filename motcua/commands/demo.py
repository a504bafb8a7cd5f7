"""``motcua demo``: the main job on the embedded default, ending with a scorecard."""

from __future__ import annotations

import signal
import threading
from pathlib import Path
from typing import Annotated

import typer


def register(app: typer.Typer) -> None:
    app.command("demo")(demo)


def demo(
    events: Annotated[
        Path | None,
        typer.Option(exists=True, dir_okay=False, help="JSONL events instead of the simulator"),
    ] = None,
    scale: Annotated[float, typer.Option(help="simulated volume, 1.0 = Tân Hồng 2023")] = 0.25,
    period: Annotated[str, typer.Option(help="period of the scorecard")] = "2025",
    exit_when_idle: Annotated[
        bool, typer.Option(help="exit once the input is processed (else serve until Ctrl-C)")
    ] = False,
) -> None:
    """Start the embedded broker, the pipeline worker, the SQL sink and /metrics; publish
    simulated (or given) events; print a scorecard per unit (bảng điểm theo đơn vị) from the
    live KPI snapshots, checked against the batch report of the same file."""
    from rich.console import Console

    from motcua.demo import DemoResult, run_demo, scorecard
    from runtime.settings import load_settings

    console = Console()
    if not console.is_terminal:  # logs and CI: wide enough for the scorecard
        console = Console(width=140)
    settings = load_settings()
    serve: threading.Event | None = None
    if not exit_when_idle:
        serve = threading.Event()
        signal.signal(signal.SIGINT, lambda *_: serve.set())
        signal.signal(signal.SIGTERM, lambda *_: serve.set())

    def show(result: DemoResult) -> None:
        scorecard(result.reports, console, f"Bảng điểm kỳ {period} — scorecard per unit (live)")
        if result.mismatches:
            console.print(f"[red]live snapshots differ from the batch report for "
                          f"{len(result.mismatches)} (unit, period): "
                          f"{', '.join(result.mismatches[:10])}[/red]")
        else:
            console.print(f"all {result.snapshots:,} live KPI snapshots equal the batch "
                          f"report of {result.events_file} (motcua report --events FILE "
                          f"--unit U --period P)")

    result = run_demo(settings, console, events=events, scale=scale, period=period,
                      on_ready=show, serve=serve)
    if result.mismatches:
        raise typer.Exit(1)
