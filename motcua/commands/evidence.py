"""``motcua evidence``: evidence bundles (tài liệu kiểm chứng) of a unit and period."""

from __future__ import annotations

import hashlib
import time
from pathlib import Path
from typing import Any

import typer


def register(app: typer.Typer) -> None:
    app.command("evidence")(evidence)


def evidence(
    events: Path | None = typer.Option(
        None, "--events", exists=True, dir_okay=False, help="JSON Lines file of v1 events"
    ),
    unit: list[str] = typer.Option(..., "--unit", help="unit code (repeatable)"),
    period: list[str] = typer.Option(
        ..., "--period", help="2025-04, 2025-Q2 or 2025 (repeatable)"
    ),
    out: Path = typer.Option(..., "--out", file_okay=False, help="output directory"),
    as_of: str | None = typer.Option(
        None, "--as-of", help="judge as known before this instant (default: now)"
    ),
    units: Path | None = typer.Option(
        None, "--units", exists=True, dir_okay=False,
        help="unit registry CSV (code,name,level,parent,valid_from,valid_to,successor; "
        "default: settings units_file / MOTCUA_UNITS_FILE): counts go to the unit in force "
        "when judged (as_was); names, the unit's total besides its own figures, and one row "
        "per unit directly below it during the period",
    ),
    catalog: Path | None = typer.Option(
        None, "--catalog", exists=True, dir_okay=False,
        help="PAR catalog YAML scored instead of the shipped one selected by level and date",
    ),
    db: str | None = typer.Option(
        None, "--db", help="without --events: database URL (default MOTCUA_DATABASE_URL)"
    ),
) -> None:
    """Write OUT/<unit>_<period>/ for each unit and period: summary.html (A4) and
    summary.md, evidence.xlsx with one sheet of dossiers per criterion and one each of
    late or overdue petitions, the procedure catalog and documents issued, CSV copies
    (UTF-8 with BOM) and manifest.json (input and file SHA-256).

    Reads an event file (--events) or, without it, the events stored by ``motcua sink``
    (--db); the manifest then records the topic/partition/offset range used.
    """
    from rich.console import Console

    from kpi.attribution import Attribution
    from kpi.batch import aggregate, fold_file, fold_lines
    from kpi.evidence import (
        InputInfo,
        build_bundle,
        digest_file,
        dossiers_behind,
        families_behind,
        write_bundle,
    )
    from kpi.periods import BadPeriod, parse_period
    from kpi.sla import summarize
    from kpi.units import CalendarBook
    from motcua.commands.report import load_par_catalog, load_units, parse_as_of
    from runtime.settings import load_settings

    err = Console(stderr=True)
    for p in period:
        try:
            parse_period(p)
        except BadPeriod as exc:
            raise typer.BadParameter(str(exc), param_hint="--period") from exc
    horizon = parse_as_of(as_of)
    par_catalog = load_par_catalog(catalog)
    registry, units_path = load_units(units)
    registry_info = None
    if units_path is not None:
        sha, _ = digest_file(units_path)
        registry_info = {"path": str(units_path), "sha256": sha}

    if events is not None:
        sha, lines = digest_file(events)
        batch = fold_file(events)
        if batch.invalid:
            err.print(f"[yellow]skipped {batch.invalid} invalid line(s) of {batch.lines}[/] "
                      "(see `motcua report --events` for the reasons)")
        info = InputInfo(str(events), sha, lines, batch.valid, batch.invalid)
        source_name = events.name
    else:
        payloads, log_range, url = _stored_events(db, err)
        digest = hashlib.sha256()
        for payload in payloads:
            digest.update(payload + b"\n")
        batch = fold_lines(payloads)
        info = InputInfo(url, digest.hexdigest(), len(payloads), batch.valid, batch.invalid,
                         log_range=log_range)
        source_name = "the store"
    book = CalendarBook()
    states = list(batch.states())
    agg = aggregate(states, horizon, book, registry=registry,
                    sync_window=load_settings().sync_window_hours * 3600)
    attribution = Attribution(registry)
    dossiers = dossiers_behind(
        (d for s in states if (d := summarize(s, horizon, book)) is not None), unit, horizon,
        attribution)
    families = families_behind(states, unit, horizon, book, attribution)
    generated = time.time()
    for u in unit:
        if u not in agg.levels and (registry is None or not registry.versions(u)):
            err.print(f"[yellow]unit {u}: no dossiers in {source_name}[/]")
        for p in period:
            bundle = build_bundle(
                unit=u, period=p, dossiers=dossiers, counters=agg.counters, totals=agg.totals,
                levels=agg.levels, horizon=horizon, generated_at=generated, input_info=info,
                par_catalog=par_catalog, registry=registry, registry_info=registry_info,
                families=families,
            )
            target = write_bundle(bundle, out)
            err.print(f"{target}: {len(bundle.files)} files")


def _stored_events(db: str | None, err: Any) -> tuple[list[bytes], dict[str, Any], str]:
    """(payloads in log order, log range, URL shown without password) from the SQL store."""
    from consumers.store import export_events
    from motcua.commands._common import read_store

    (payloads, log_range), shown = read_store(db, export_events, err)
    if not payloads:
        err.print(f"[red]the store at {shown} holds no events (run `motcua sink` first)")
        raise typer.Exit(1)
    return payloads, log_range, shown
