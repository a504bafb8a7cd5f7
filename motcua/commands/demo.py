"""``motcua demo``: the main job on the embedded default, ending with a scorecard."""

from __future__ import annotations

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
        bool, typer.Option(help="exit once the input is processed (else wait for Ctrl-C)")
    ] = False,
) -> None:
    """Start the embedded broker, publish simulated (or given) events, compute the KPIs and
    print a scorecard per unit (bảng điểm theo đơn vị)."""
    import signal
    import threading

    from rich.console import Console

    from motcua.demo import run_demo, scorecard
    from motcua.settings import load_settings

    console = Console()
    if not console.is_terminal:  # logs and CI: wide enough for the scorecard
        console = Console(width=140)
    settings = load_settings()
    result = run_demo(settings, console, events=events, scale=scale, period=period)
    scorecard(result.reports, console, f"Bảng điểm kỳ {period} — scorecard per unit")
    console.print(
        f"Reproduce any row with: motcua report --events {result.events_file} "
        f"--unit UNIT --period {period}"
    )
    if not exit_when_idle:
        console.print("done; Ctrl-C to exit")
        stop = threading.Event()
        signal.signal(signal.SIGINT, lambda *_: stop.set())
        stop.wait()
