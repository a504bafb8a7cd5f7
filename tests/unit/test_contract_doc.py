"""docs/contract.md, ``motcua schema`` and the KPI keys name the same types, fields and keys.

The contract page has one section per event type (``### `dossier.received```) whose table
lists the ``data`` fields (first cell, in backticks; third cell ``yes`` when required), and
one envelope table under "## The envelope". The JSON Schema documents that ``motcua
schema`` writes are compared with those tables both ways: a field in the code that the
page does not describe, or one the page promises that the code does not read, fails.
Likewise every table headed ``count key`` or ``ratio key`` against the report's
``kpi.counters.COUNT_KEYS`` and ``kpi.ratios.RATIO_KEYS``.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from kpi.counters import COUNT_KEYS
from kpi.ratios import RATIO_KEYS
from motcua.commands.schema import schema_documents
from schemas.events import TYPE_PREFIX

CONTRACT = Path(__file__).resolve().parents[2] / "docs" / "contract.md"
_TYPE_HEADING = re.compile(r"^### `([a-z_]+\.[a-z_]+)`\s*$")
_CELL_SEPARATOR = re.compile(r"(?<!\\)\|")
"""A table's ``|``, not an escaped ``\\|`` inside a cell (``online`` \\| ``cash``)."""
_FIELD = re.compile(r"^`([a-z0-9_]+)`$")


def _doc_tables() -> tuple[dict[str, dict[str, bool]], dict[str, bool]]:
    """(type → field → required, envelope field → required), read from the page."""
    types: dict[str, dict[str, bool]] = {}
    envelope: dict[str, bool] = {}
    current: dict[str, bool] | None = None
    for line in CONTRACT.read_text(encoding="utf-8").splitlines():
        heading = _TYPE_HEADING.match(line)
        if heading:
            current = types.setdefault(heading.group(1), {})
            continue
        if line.startswith("## "):
            current = envelope if line.startswith("## The envelope") else None
            continue
        if line.startswith("### "):
            current = None
            continue
        cells = [cell.strip() for cell in _CELL_SEPARATOR.split(line)[1:-1]]
        field = _FIELD.match(cells[0]) if len(cells) >= 3 else None
        if field and current is not None:
            current[field.group(1)] = cells[2].startswith("yes")
    return types, envelope


def _doc_keys(header: str) -> set[str]:
    """The first-column keys of every table whose header's first cell is ``header``."""
    keys: set[str] = set()
    inside = False
    for line in CONTRACT.read_text(encoding="utf-8").splitlines():
        cells = [cell.strip() for cell in _CELL_SEPARATOR.split(line)[1:-1]]
        if not cells:
            inside = False
            continue
        if cells[0] == header:
            inside = True
            continue
        key = _FIELD.match(cells[0])
        if inside and key:
            keys.add(key.group(1))
    return keys


def _schema_tables() -> tuple[dict[str, dict[str, bool]], dict[str, bool]]:
    """The same two tables, read from the JSON Schema documents of ``motcua schema``."""
    types: dict[str, dict[str, bool]] = {}
    envelope: dict[str, bool] = {}
    for name, doc in schema_documents().items():
        if name == "events.json":
            continue
        short = name.removesuffix(".json").removeprefix(TYPE_PREFIX)
        data_ref = doc["properties"]["data"]["$ref"].rsplit("/", 1)[-1]
        data: dict[str, Any] = doc["$defs"][data_ref]
        required = set(data.get("required", ()))
        types[short] = {field: field in required for field in data.get("properties", {})}
        for field in doc["properties"]:
            # ``data`` may be left out of a type without required fields; the page says
            # "required" for every type (send ``{}``), so only its presence is compared.
            envelope[field] = field == "data" or field in doc.get("required", ())
    return types, envelope


def test_the_page_describes_every_type_and_no_other() -> None:
    doc_types, _ = _doc_tables()
    schema_types, _ = _schema_tables()
    assert sorted(doc_types) == sorted(schema_types)


@pytest.mark.parametrize("type_", sorted(_schema_tables()[0]))
def test_the_page_lists_exactly_the_data_fields_of_the_schema(type_: str) -> None:
    doc_types, _ = _doc_tables()
    schema_types, _ = _schema_tables()
    documented = doc_types.get(type_, {})
    coded = schema_types[type_]
    assert {
        "only in the schema": sorted(set(coded) - set(documented)),
        "only in docs/contract.md": sorted(set(documented) - set(coded)),
    } == {"only in the schema": [], "only in docs/contract.md": []}
    assert documented == coded, "required (yes/no) differs"


def test_the_envelope_table_matches_the_schema() -> None:
    _, doc_envelope = _doc_tables()
    _, schema_envelope = _schema_tables()
    assert doc_envelope == schema_envelope


def test_the_reader_finds_tables_at_all() -> None:
    """Guard against a parser that silently reads nothing."""
    doc_types, doc_envelope = _doc_tables()
    assert len(doc_types) >= 20
    assert doc_types["dossier.received"]["unit_code"] is True
    assert "specversion" in doc_envelope


@pytest.mark.parametrize(("header", "coded"), [("count key", COUNT_KEYS),
                                                ("ratio key", RATIO_KEYS)])
def test_the_page_lists_exactly_the_report_keys(header: str, coded: tuple[str, ...]) -> None:
    documented = _doc_keys(header)
    assert len(documented) >= 20
    assert {
        "only in the code": sorted(set(coded) - documented),
        "only in docs/contract.md": sorted(documented - set(coded)),
    } == {"only in the code": [], "only in docs/contract.md": []}
