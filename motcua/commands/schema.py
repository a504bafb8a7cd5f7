"""``motcua schema --out DIR``: JSON Schema of the event contract, exported from the models."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer


def register(app: typer.Typer) -> None:
    app.command("schema")(schema)


def schema_documents() -> dict[str, dict[str, Any]]:
    """File name → JSON Schema: one per event type, plus ``events.json`` for the union."""
    from schemas.events import EVENT_ADAPTER, MODEL_BY_TYPE

    docs = {f"{type_}.json": model.model_json_schema() for type_, model in MODEL_BY_TYPE.items()}
    docs["events.json"] = EVENT_ADAPTER.json_schema()
    return docs


def schema(
    out: Annotated[Path, typer.Option(file_okay=False, help="directory to write into")],
) -> None:
    """Write one JSON Schema per event type (e.g. vn.gov.motcua.dossier.received.json) and
    events.json for any v1 event."""
    out.mkdir(parents=True, exist_ok=True)
    docs = schema_documents()
    for name, doc in docs.items():
        text = json.dumps(doc, indent=2, ensure_ascii=False, sort_keys=True) + "\n"
        (out / name).write_text(text, encoding="utf-8")
    typer.echo(f"wrote {len(docs)} schemas to {out}")
