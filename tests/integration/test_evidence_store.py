"""`motcua evidence` without --events builds the bundle from the events in the SQL store;
the manifest records the log range, and the workbook matches the --events bundle."""

from __future__ import annotations

import json
from pathlib import Path

import openpyxl
import orjson
import pytest
from typer.testing import CliRunner

from consumers.store import insert_raw_events, make_engine, upgrade
from motcua.cli import app
from schemas.validate import parse_event
from tests.eventkit import event_dict

pytestmark = pytest.mark.integration

T = "2025-04-{}:00+07:00".format
EVENTS = [
    event_dict("dossier.received", T("01T08:00"), "H1", unit_code="D1", unit_level="district",
               procedure_code="P", channel="online", due_at=T("03T17:00")),
    event_dict("dossier.resolved", T("02T10:00"), "H1"),
    event_dict("dossier.received", T("01T09:00"), '=HYPERLINK("x")', unit_code="D1",
               unit_level="district", procedure_code="P", channel="direct",
               due_at=T("05T17:00")),
    event_dict("dossier.resolved", T("08T09:00"), '=HYPERLINK("x")'),
]


def _sheet_values(path: Path) -> dict[str, list[tuple]]:
    wb = openpyxl.load_workbook(path)
    return {ws.title: [tuple(c.value for c in row) for row in ws.iter_rows()]
            for ws in wb.worksheets if ws.title not in ("Tổng hợp", "Summary")}


def test_bundle_from_store_equals_bundle_from_file(tmp_path: Path) -> None:
    raw = [orjson.dumps(e) for e in EVENTS]
    events = tmp_path / "events.jsonl"
    events.write_bytes(b"\n".join(raw) + b"\n")
    url = f"sqlite:///{tmp_path / 'store.db'}"
    engine = make_engine(url)
    upgrade(engine)
    rows = []
    for offset, line in enumerate(raw):
        ev = parse_event(line)
        rows.append({"source": ev.source, "id": ev.id, "subject": ev.subject, "type": ev.type,
                     "time": ev.time, "unit": getattr(ev.data, "unit_code", None),
                     "payload": line.decode(), "topic": "motcua.events.v1",
                     "partition": offset % 2, "offset": 100 + offset})
    with engine.begin() as conn:
        insert_raw_events(conn, rows)
    engine.dispose()

    runner = CliRunner()
    common = ["evidence", "--unit", "D1", "--period", "2025-04",
              "--as-of", "2025-05-01T00:00:00+07:00"]
    from_file = runner.invoke(app, [*common, "--events", str(events), "--out",
                                    str(tmp_path / "a")])
    assert from_file.exit_code == 0, from_file.output
    from_store = runner.invoke(app, [*common, "--db", url, "--out", str(tmp_path / "b")])
    assert from_store.exit_code == 0, from_store.output

    a, b = tmp_path / "a" / "D1_2025-04", tmp_path / "b" / "D1_2025-04"
    assert _sheet_values(a / "evidence.xlsx") == _sheet_values(b / "evidence.xlsx")
    manifest = json.loads((b / "manifest.json").read_text(encoding="utf-8"))
    # offsets 100..103 alternate between partitions 0 and 1
    assert manifest["input"]["log_range"] == {"motcua.events.v1": {"0": [100, 102],
                                                                   "1": [101, 103]}}
    assert manifest["input"]["lines"] == 4

    empty = f"sqlite:///{tmp_path / 'empty.db'}"
    e2 = make_engine(empty)
    upgrade(e2)
    e2.dispose()
    none = runner.invoke(app, [*common, "--db", empty, "--out", str(tmp_path / "c")])
    assert none.exit_code == 1 and "holds no events" in none.output


def test_family_sheets_from_store_equal_those_from_file(tmp_path: Path) -> None:
    """The hand-worked families quarter (petitions, catalog entries, documents and the
    dossiers their joins need) stored as the sink stores it, in an order unlike the file's
    (the joins are made after folding): the same workbook, family sheets included."""
    from tests.eventkit import families_quarter

    docs = families_quarter()
    raw = [orjson.dumps(e) for e in docs]
    events = tmp_path / "families.jsonl"
    events.write_bytes(b"\n".join(raw) + b"\n")
    url = f"sqlite:///{tmp_path / 'store.db'}"
    engine = make_engine(url)
    upgrade(engine)
    rows = []
    for offset, line in enumerate(reversed(raw)):
        ev = parse_event(line)
        rows.append({"source": ev.source, "id": ev.id, "subject": ev.subject, "type": ev.type,
                     "time": ev.time, "unit": getattr(ev.data, "unit_code", None),
                     "payload": line.decode(), "topic": "motcua.events.v1",
                     "partition": offset % 3, "offset": offset})
    with engine.begin() as conn:
        insert_raw_events(conn, rows)
    engine.dispose()

    runner = CliRunner()
    common = ["evidence", "--unit", "C1", "--period", "2025-Q4", "--as-of", "2026-01-01"]
    for args, out in (([*common, "--events", str(events)], "a"), ([*common, "--db", url], "b")):
        result = runner.invoke(app, [*args, "--out", str(tmp_path / out)])
        assert result.exit_code == 0, result.output
    a = _sheet_values(tmp_path / "a" / "C1_2025-Q4" / "evidence.xlsx")
    b = _sheet_values(tmp_path / "b" / "C1_2025-Q4" / "evidence.xlsx")
    assert a == b
    # the lists are there: 2 late or overdue petitions, 4 catalog entries, 4 documents
    # (each sheet: header, items, then its "Tổng cộng" rows)
    assert [r[0] for r in b["PAKN quá hạn"][1:3]] == ["P2", "P4"]
    assert [r[0] for r in b["Danh mục TTHC"][1:5]] == ["PR1", "PR2", "PR4", "PR5"]
    assert [r[0] for r in b["Văn bản đi"][1:5]] == ["D1", "D2", "D3", "D4"]
