"""``motcua report --db`` in 2026 (catalog portal-766-2026): the stored snapshots give the
same scores, delta and tree as the batch report of the same file (the hand-worked file of
tests/unit/test_report_portal_cli.py), on SQLite and PostgreSQL."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

import orjson
import pytest
from typer.testing import CliRunner

from consumers.snapshots import snapshot_row
from consumers.store import make_engine, upgrade, upsert_snapshots
from motcua.cli import app
from tests.eventkit import write_jsonl
from tests.pgschema import pg_schema
from tests.unit.test_report_portal_cli import AS_OF, REGISTRY, _events

pytestmark = pytest.mark.integration


def _run(*args: str) -> Any:
    result = CliRunner().invoke(app, ["report", "--json", *args], env={"COLUMNS": "250"})
    assert result.exit_code == 0, result.output
    return orjson.loads(result.stdout)


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_store_scores_delta_and_tree_equal_batch(backend: str, tmp_path: Path) -> None:
    events = write_jsonl(tmp_path / "events.jsonl", _events())
    units = tmp_path / "units.csv"
    units.write_text(REGISTRY, encoding="utf-8")
    batch = ["--events", str(events), "--units", str(units), "--as-of", AS_OF]
    own = _run(*batch)
    total = [r for r in _run(*batch, "--scope", "total") if r["unit"] == "82"]
    with contextlib.ExitStack() as stack:
        url = (f"sqlite:///{tmp_path / 'store.db'}" if backend == "sqlite"
               else stack.enter_context(pg_schema(prefix="portal")))
        engine = make_engine(url)
        upgrade(engine)
        with engine.begin() as conn:
            upsert_snapshots(conn, [snapshot_row(r) for r in [*own, *total]])
        engine.dispose()
        stored = _run("--db", url, "--units", str(units), "--unit", "C1", "--period",
                      "2026-08")
        stored_tree = _run("--db", url, "--units", str(units), "--unit", "82", "--period",
                           "2026-08", "--tree")
    expected = _run(*batch, "--unit", "C1", "--period", "2026-08")
    assert stored == expected
    assert stored["delta"] == pytest.approx(-2, abs=1e-9)  # against the stored July
    assert stored_tree == _run(*batch, "--unit", "82", "--period", "2026-08", "--tree")
    assert [c["unit"] for c in stored_tree["children"]] == ["C2", "C1", "S1"]
