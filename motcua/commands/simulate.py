"""``motcua simulate``: write a realistic, deterministic stream of v1 events as JSON Lines.

The events come from :func:`kpi.simulate.generate_lines`; this command only chooses the
sink (a file, or ``-`` for standard output) and shows progress and a summary. It writes as
fast as it can: ``motcua ingest FILE`` publishes the file, ``motcua soak --rate N`` publishes
a generated stream at a steady rate. The former ``--rate`` option did nothing and is refused
with that pointer (:data:`RATE_REMOVED`).
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import typer

RATE_REMOVED = (
    "--rate was removed: `motcua simulate` writes the events as fast as it can. Publish the "
    "file with `motcua ingest FILE`, or publish a generated stream at a steady rate with "
    "`motcua soak --rate N`."
)


def _parse_date(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError as exc:
        raise typer.BadParameter(f"not a date (YYYY-MM-DD): {text!r}") from exc


def register(app: typer.Typer) -> None:
    @app.command("simulate")
    def simulate(
        out: str = typer.Option(..., "--out", "-o", help="JSONL file to write ('-' = stdout)."),
        units_out: Path | None = typer.Option(
            None, "--units-out",
            help="Also write the unit registry CSV the run used (docs/contract.md: code,name,"
            "level,parent,valid_from,valid_to,successor).",
        ),
        reorganisation: bool = typer.Option(
            False, "--reorganisation/--no-reorganisation",
            help="Cross the 1/7/2025 reorganisation (district gone, communes merged into new "
            "ones under the province, illustrative codes) with v1.1 behaviours: another "
            "handling desk, dossier.synced, dossier.stopped.",
        ),
        families: bool = typer.Option(
            False, "--families/--no-families",
            help="Also emit the v1.1 families at plausible rates [M]: citizen petitions "
            "(PAKN), each desk's procedure catalog (publication deadlines, late, updated, "
            "withdrawn) and the documents it sends, and sync dossiers to the national portal, "
            "so that every Decision 766 group can be scored.",
        ),
        cutover: str = typer.Option(
            "2025-07-01", "--cutover", help="First day of the new structure (local)."
        ),
        seed: int = typer.Option(2025, "--seed", help="Random seed: same seed, same events."),
        scale: float = typer.Option(
            1.0, "--scale", min=0.0001, help="Volume multiplier (1 = Tân Hồng 2023 volumes)."
        ),
        units: int = typer.Option(9, "--units", min=0, help="Number of commune-level units."),
        start: str = typer.Option("2025-01-01", "--start", help="First receipt date (local)."),
        end: str = typer.Option("2025-12-31", "--end", help="Last date of the range (local)."),
        source: str = typer.Option(
            "urn:motcua:dvc:dong-thap", "--source", help="CloudEvents source."
        ),
        shuffle: bool = typer.Option(False, "--shuffle", help="Shuffle the arrival order."),
        shuffle_window: int = typer.Option(
            0, "--shuffle-window", min=0, help="Shuffle within a sliding window (0 = whole)."
        ),
        duplicates: float = typer.Option(
            0.0, "--duplicates", min=0.0, max=1.0, help="Fraction of events re-emitted exactly."
        ),
        invalid: float = typer.Option(
            0.0, "--invalid", min=0.0, max=1.0, help="Fraction of invalid lines injected."
        ),
        rate: float | None = typer.Option(None, "--rate", hidden=True),
    ) -> None:
        """Generate simulated one-stop events (v1 contract) as JSON Lines."""
        if rate is not None:
            raise typer.BadParameter(RATE_REMOVED, param_hint="--rate")
        from rich.console import Console
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
            TimeRemainingColumn,
        )
        from rich.table import Table

        from kpi.simulate import (
            SimulationConfig,
            SimulationStats,
            generate_lines,
            planned_counts,
            write_registry,
        )

        try:
            config = SimulationConfig(
                seed=seed, start=_parse_date(start), end=_parse_date(end), scale=scale,
                communes=units, source=source, shuffle=shuffle,
                shuffle_window=shuffle_window or None, duplicates=duplicates, invalid=invalid,
                reorganisation=reorganisation, cutover=_parse_date(cutover),
                families=families,
            )
        except ValueError as exc:
            raise typer.BadParameter(str(exc)) from exc
        console = Console(stderr=True)
        registry = config.registry_rows()
        if units_out is not None:
            write_registry(units_out, registry)
        total = sum(n for n, _ in planned_counts(config).values())
        stats = SimulationStats()
        lines: Iterator[bytes] = generate_lines(config, stats)
        t0 = time.perf_counter()
        with Progress(
            TextColumn("[bold]simulating"), BarColumn(), MofNCompleteColumn(),
            TextColumn("dossiers · {task.fields[events]:,} lines"), TimeElapsedColumn(),
            TimeRemainingColumn(), console=console, transient=False,
        ) as progress:
            task = progress.add_task("simulate", total=total, events=0)
            fh = sys.stdout.buffer if out == "-" else open(out, "wb", buffering=1 << 20)
            try:
                write = fh.write
                n = 0
                for line in lines:
                    write(line)
                    write(b"\n")
                    n += 1
                    if not n & 0x3FFF:
                        progress.update(task, completed=stats.dossiers, events=n)
                progress.update(task, completed=stats.dossiers, events=n)
            finally:
                if fh is not sys.stdout.buffer:
                    fh.close()
                else:
                    fh.flush()
        elapsed = time.perf_counter() - t0

        table = Table(title="Simulated events by unit")
        for col in ("unit", "name", "level", "dossiers", "online", "events"):
            table.add_column(col, justify="right" if col in ("dossiers", "online", "events")
                             else "left")
        shown = {row[0]: row for row in registry}  # a code's latest version
        for code, name, level, *_ in shown.values():
            s = stats.by_unit.get(code)
            if s is None:
                continue
            table.add_row(code, name, level, f"{s.dossiers:,}", f"{s.online:,}",
                          f"{s.events:,}")
        table.add_row("total", "", "", f"{stats.dossiers:,}",
                      f"{sum(s.online for s in stats.by_unit.values()):,}", f"{stats.events:,}")
        console.print(table)
        bad = ", ".join(f"{k} {v}" for k, v in sorted(stats.invalid.items())) or "none"
        console.print(
            f"{stats.dossiers:,} dossiers, {stats.events:,} events, "
            f"{stats.duplicates:,} duplicates, invalid lines: {bad}; "
            f"{stats.lines:,} lines → {out} in {elapsed:.1f}s "
            f"({stats.lines / max(elapsed, 1e-9):,.0f} lines/s)"
        )
        if stats.families:
            console.print("v1.1 families: " + ", ".join(
                f"{stats.families[k]:,} {k.replace('_', ' ')}"
                for k in ("petitions", "catalog_entries", "documents")))
        if units_out is not None:
            console.print(f"unit registry → {units_out}")
