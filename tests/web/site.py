"""A running ``motcua web`` over a store filled through the sink's writer, for the browser
tests and the benchmark: a simulated year (``motcua simulate``, with its registry) plus
extra events, logins made with ``motcua user add``."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import uvicorn
from typer.testing import CliRunner

from consumers.http_ingest.server import BackgroundServer
from consumers.store import make_engine, upgrade
from kpi.registry import UnitRegistry
from motcua.cli import app as cli
from motcua.web.app import create_app
from motcua.web.data import WebConfig
from runtime.broker import free_port
from tests.eventkit import json_line
from tests.web.fill import batch_reports, write_store


@dataclass
class Site:
    url: str
    db_url: str
    units: Path
    passwords: dict[str, str] = field(default_factory=dict)


def simulate(tmp: Path, scale: float = 0.02, seed: int = 7, *, families: bool = False,
             start: str = "2025-01-01", end: str = "2025-12-31") -> tuple[Path, Path]:
    """``motcua simulate`` without the reorganisation from ``start`` to ``end`` (with the
    families and the v1.2 fields when ``families``): (events file, its registry)."""
    events, units = tmp / "events.jsonl", tmp / "units.csv"
    result = CliRunner().invoke(cli, ["simulate", "-o", str(events), "--units-out", str(units),
                                      "--scale", str(scale), "--seed", str(seed),
                                      "--no-reorganisation", "--start", start, "--end", end,
                                      "--families" if families else "--no-families"])
    assert result.exit_code == 0, result.output
    return events, units


def add_user(db_url: str, login: str, unit: str, role: str = "viewer") -> str:
    """``motcua user add``; the password is alone on its last line."""
    result = CliRunner().invoke(cli, ["user", "add", "--login", login, "--unit", unit,
                                      "--role", role, "--db", db_url])
    assert result.exit_code == 0, result.output
    return result.stdout.strip().splitlines()[-1]


def fill(db_url: str, events: Path, units: Path, extra: list[dict[str, Any]],
         now: float) -> None:
    lines = events.read_bytes().splitlines() + [json_line(e) for e in extra]
    all_events = events.parent / "all-events.jsonl"
    all_events.write_bytes(b"\n".join(lines) + b"\n")
    engine = make_engine(db_url)
    try:
        upgrade(engine)
        write_store(engine, lines, batch_reports(all_events, units, now), now)
    finally:
        engine.dispose()


@contextmanager
def running(db_url: str, units: Path, secret: str = "test-secret",
            warmed: bool = False) -> Iterator[str]:
    """The pages on a free port of 127.0.0.1; yields the base URL (``warmed``: once every
    stored period's reports were read, as on a server that has been up a while)."""
    config = WebConfig(db_url=db_url, registry=UnitRegistry.load(units), units_path=units,
                       secret=secret)
    app = create_app(config)
    port = free_port()
    server = BackgroundServer(uvicorn.Server(uvicorn.Config(
        app, host="127.0.0.1", port=port, log_level="warning", lifespan="off")))
    server.start()
    if warmed:
        assert app.state.store.warmed.wait(600)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.stop()
        app.state.store.close()


def wait_until(check: Any, timeout: float, poll: float = 0.2) -> Any:
    end = time.monotonic() + timeout
    while True:
        got = check()
        if got or time.monotonic() > end:
            return got
        time.sleep(poll)
