"""`motcua report` without --events reads the SQL store and prints the batch report."""

from __future__ import annotations

from pathlib import Path

import orjson
import pytest
from typer.testing import CliRunner

from consumers.store import make_engine, snapshot_row, upgrade, upsert_snapshots
from motcua.cli import app
from tests.eventkit import event_dict

pytestmark = pytest.mark.integration

EVENTS = [
    event_dict("dossier.received", "2025-03-03T09:00:00+07:00", "H1", unit_code="U1",
               unit_level="commune", procedure_code="P", channel="online",
               due_at="2025-03-05T17:00:00+07:00"),
    event_dict("dossier.resolved", "2025-03-04T10:00:00+07:00", "H1"),
    event_dict("dossier.received", "2025-03-10T09:00:00+07:00", "H2", unit_code="U1",
               unit_level="commune", procedure_code="P", channel="direct",
               due_at="2025-03-12T17:00:00+07:00"),
    event_dict("dossier.resolved", "2025-03-13T10:00:00+07:00", "H2"),
]


def test_store_report_equals_batch_report(tmp_path: Path) -> None:
    events = tmp_path / "e.jsonl"
    events.write_bytes(b"\n".join(orjson.dumps(e) for e in EVENTS) + b"\n")
    runner = CliRunner()
    args = ["report", "--unit", "U1", "--period", "2025-03", "--json",
            "--as-of", "2025-04-01T00:00:00+07:00"]
    batch = orjson.loads(runner.invoke(app, [*args, "--events", str(events)]).stdout)
    # H1 resolved on 4/3 (early: before the due date 5/3); H2 on 13/3 after its due → late.
    assert batch["counts"]["resolved_early"] == 1 and batch["counts"]["resolved_late"] == 1
    assert batch["ratios"]["on_time_resolved"] == 0.5

    url = f"sqlite:///{tmp_path / 'store.db'}"
    engine = make_engine(url)
    upgrade(engine)
    with engine.begin() as conn:
        upsert_snapshots(conn, [snapshot_row(batch)])
    engine.dispose()
    result = runner.invoke(app, ["report", "--unit", "U1", "--period", "2025-03", "--json",
                                 "--db", url])
    assert result.exit_code == 0, result.output
    stored = orjson.loads(result.stdout)
    assert stored == batch

    missing = runner.invoke(app, ["report", "--db", f"sqlite:///{tmp_path / 'nope' / 'x.db'}"])
    assert missing.exit_code == 1
    assert "cannot read the store" in missing.output
