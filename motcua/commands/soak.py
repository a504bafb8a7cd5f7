"""``motcua soak``: a sustained paced stream through the whole embedded stack, watched and
checked (see :mod:`motcua.soak`)."""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path
from typing import Annotated

import typer


def register(app: typer.Typer) -> None:
    app.command("soak")(soak)


def soak(
    minutes: Annotated[float, typer.Option(help="how long to produce")] = 10.0,
    rate: Annotated[float, typer.Option(help="events per second")] = 1000.0,
    db: Annotated[
        str | None, typer.Option(help="SQL store of the sink (default: SQLite in --workdir)")
    ] = None,
    workdir: Annotated[
        Path | None, typer.Option(help="where the event files, worker log and SQLite file go "
                                       "(default: a new temporary directory, kept)")
    ] = None,
    report_every: Annotated[float, typer.Option(help="seconds between status lines")] = 10.0,
    json_out: Annotated[
        Path | None, typer.Option("--json", help="also write the figures as JSON here")
    ] = None,
) -> None:
    """Start an embedded broker, the pipeline worker, the SQL sink and /metrics; produce
    simulated events at RATE/s for MINUTES; print RSS, CPU and consumer lag over time and
    the freshness (event produced → KPI snapshot → /metrics gauge); then check the live
    snapshots and the SQL store against the batch report of exactly what was produced.
    Exits 1 on any loss, duplication or mismatch."""
    import orjson

    from motcua.soak import SoakOptions, run_soak

    logging.basicConfig(level=logging.WARNING)
    workdir = workdir or Path(tempfile.mkdtemp(prefix="motcua-soak-"))
    options = SoakOptions(seconds=minutes * 60, rate=rate, db_url=db,
                          report_every=report_every)
    result = run_soak(options, workdir, echo=lambda line: print(line, flush=True))
    for line in result.summary():
        print(line)
    if json_out is not None:
        json_out.write_bytes(orjson.dumps(result.as_dict(), option=orjson.OPT_INDENT_2))
    if result.problems:
        raise typer.Exit(1)
