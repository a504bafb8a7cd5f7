"""The v1 contract (docs/contract.md): one valid example of every type round-trips, and each rule
refuses its counter-example with a one-line reason that names the field."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import orjson
import pytest
from typer.testing import CliRunner

from schemas.events import EVENT_ADAPTER, EVENT_TYPES, MODEL_BY_TYPE
from schemas.validate import InvalidEvent, parse_event, parse_obj
from tests.eventkit import envelope

ICT = timezone(timedelta(hours=7))


RECEIVED = {
    "unit_code": "U1",
    "unit_level": "district",
    "procedure_code": "1.001234",
    "channel": "online",
    "online_level": "full",
    "full_online_eligible": True,
    "processing_days": 5,
    "fee_required": True,
    "paper_result": False,
}

VALID: dict[str, dict[str, Any]] = {
    "dossier.received": envelope("dossier.received", RECEIVED),
    "dossier.transferred": envelope("dossier.transferred", {"from_unit": "U1", "to_unit": "U2"}),
    "dossier.supplement_requested": envelope(
        "dossier.supplement_requested", {"reason": "thiếu bản sao CCCD"}
    ),
    "dossier.supplemented": envelope("dossier.supplemented", {}),
    "dossier.extended": envelope(
        "dossier.extended", {"new_due_at": "2025-05-10T17:00:00+07:00", "apology_ref": "TX-1"}
    ),
    "dossier.resolved": envelope("dossier.resolved", {"result_electronic": True}),
    "dossier.returned": envelope("dossier.returned", {"return_channel": "postal"}),
    "dossier.rejected": envelope("dossier.rejected", {"reason": "không đủ điều kiện"}),
    "dossier.withdrawn": envelope("dossier.withdrawn", {}),
    "dossier.stopped": envelope("dossier.stopped", {"reason": "hồ sơ giả mạo"}),
    "dossier.synced": envelope("dossier.synced", {"target": "dvcqg"}),
    "dossier.digitized": envelope(
        "dossier.digitized",
        {"components_total": 3, "components_digitized": 3, "components_reused": 1},
    ),
    "payment.completed": envelope(
        "payment.completed", {"amount_vnd": 50000, "method": "online", "gateway": "dvcqg"}
    ),
    "feedback.rated": envelope("feedback.rated", {"rating": "satisfied"}),
    "petition.received": envelope("petition.received", {
        "unit_code": "U1", "unit_level": "commune", "channel": "hotline",
        "within_competence": True, "processing_days": 10,
        "dossier_code": "H29.01-250401-0007"}),
    "petition.answered": envelope("petition.answered", {}),
    "petition.rated": envelope("petition.rated", {"rating": "dissatisfied"}),
    "procedure.published": envelope("procedure.published", {
        "unit_code": "U1", "unit_level": "commune", "procedure_code": "1.001234",
        "online_level": "full", "online_payment": True,
        "decided_at": "2025-04-01T00:00:00+07:00", "due_at": "2025-04-06T17:00:00+07:00"},
        subject="U1/1.001234"),
    "procedure.withdrawn": envelope("procedure.withdrawn", {}, subject="U1/1.001234"),
    "document.issued": envelope("document.issued", {
        "unit_code": "U1", "unit_level": "commune", "electronic": True,
        "digitally_signed": True}),
}


def test_every_type_has_an_example() -> None:
    assert len(EVENT_TYPES) == 20
    assert {f"vn.gov.motcua.{t}" for t in VALID} == set(EVENT_TYPES)


@pytest.mark.parametrize("short_type", sorted(VALID))
def test_valid_example_round_trips(short_type: str) -> None:
    raw = orjson.dumps(VALID[short_type])
    event = parse_event(raw)
    assert type(event) is MODEL_BY_TYPE[f"vn.gov.motcua.{short_type}"]
    assert event.short_type == short_type
    assert event.subject == VALID[short_type]["subject"]
    assert event.dedup_key == ("urn:motcua:dvc:dong-thap", "evt-0001")
    assert event.time == datetime(2025, 4, 29, 1, 15, tzinfo=UTC)
    again = parse_event(event.model_dump_json())
    assert again == event
    # every data field given in the example survives with its value
    dumped = orjson.loads(event.model_dump_json())
    for name, value in VALID[short_type]["data"].items():
        if name in ("new_due_at", "due_at", "decided_at"):
            assert datetime.fromisoformat(dumped["data"][name]) == datetime.fromisoformat(value)
        else:
            assert dumped["data"][name] == value


def test_received_defaults_and_due_at() -> None:
    data = {
        "unit_code": "U1",
        "unit_level": "commune",
        "procedure_code": "P",
        "channel": "direct",
        "due_at": "2025-05-06T17:00:00+07:00",
    }
    event = parse_obj(envelope("dossier.received", data))
    d = event.data
    assert d.online_level == "none"
    assert d.full_online_eligible is False
    assert d.fee_required is False
    assert d.paper_result is True
    assert d.processing_days is None
    assert d.due_at == datetime(2025, 5, 6, 17, 0, tzinfo=ICT)


@pytest.mark.parametrize(
    "short_type",
    ["dossier.supplement_requested", "dossier.supplemented", "dossier.resolved",
     "dossier.returned", "dossier.rejected", "dossier.withdrawn"],
)
def test_data_may_be_omitted_when_nothing_is_required(short_type: str) -> None:
    event = parse_obj(envelope(short_type, None))
    assert event.short_type == short_type


def test_extra_fields_are_ignored() -> None:
    ev = copy.deepcopy(VALID["feedback.rated"])
    ev["x_extra"] = 1
    ev["data"]["comment"] = "tốt"
    assert parse_obj(ev).data.rating == "satisfied"


def _without(obj: dict[str, Any], key: str) -> dict[str, Any]:
    out = copy.deepcopy(obj)
    del out[key]
    return out


def _data(short_type: str, **changes: Any) -> dict[str, Any]:
    ev = copy.deepcopy(VALID[short_type])
    for k, v in changes.items():
        if v is _DROP:
            del ev["data"][k]
        else:
            ev["data"][k] = v
    return ev


_DROP = object()
_RECV = VALID["dossier.received"]

INVALID: list[tuple[str, Any, str]] = [
    # (case id, the document, what the reason must contain)
    ("missing subject", _without(_RECV, "subject"), "subject: field required"),
    ("empty subject", {**_RECV, "subject": ""}, "subject:"),
    ("missing id", _without(_RECV, "id"), "id: field required"),
    ("empty id", {**_RECV, "id": ""}, "id:"),
    ("missing source", _without(_RECV, "source"), "source: field required"),
    ("empty source", {**_RECV, "source": ""}, "source:"),
    ("missing time", _without(_RECV, "time"), "time: field required"),
    ("naive time", {**_RECV, "time": "2025-04-29T08:15:00"}, "time:"),
    ("numeric time", {**_RECV, "time": 1745889300}, "time:"),
    ("not a time", {**_RECV, "time": "hôm qua"}, "time:"),
    ("wrong specversion", {**_RECV, "specversion": "0.3"}, "specversion:"),
    ("missing specversion", _without(_RECV, "specversion"), "specversion: field required"),
    ("wrong datacontenttype", {**_RECV, "datacontenttype": "text/xml"}, "datacontenttype:"),
    ("unknown type", {**_RECV, "type": "vn.gov.motcua.dossier.lost"}, "type: unknown event type"),
    ("type without prefix", {**_RECV, "type": "dossier.received"}, "type: unknown event type"),
    ("missing type", _without(_RECV, "type"), "type: field required"),
    ("missing data", _without(_RECV, "data"), "data: field required"),
    ("bad unit_level", _data("dossier.received", unit_level="ward"), "data.unit_level:"),
    ("bad channel", _data("dossier.received", channel="email"), "data.channel:"),
    ("bad online_level", _data("dossier.received", online_level="max"), "data.online_level:"),
    ("missing unit_code", _data("dossier.received", unit_code=_DROP), "data.unit_code:"),
    ("missing procedure_code", _data("dossier.received", procedure_code=_DROP),
     "data.procedure_code:"),
    ("missing due_at and processing_days", _data("dossier.received", processing_days=_DROP),
     "data: Value error, one of due_at / processing_days is required"),
    ("negative processing_days", _data("dossier.received", processing_days=-1),
     "data.processing_days:"),
    ("naive due_at", _data("dossier.received", processing_days=_DROP,
                           due_at="2025-05-06T17:00:00"), "data.due_at:"),
    ("string bool", _data("dossier.received", fee_required="yes"), "data.fee_required:"),
    ("missing to_unit", _data("dossier.transferred", to_unit=_DROP), "data.to_unit:"),
    ("missing new_due_at", _data("dossier.extended", new_due_at=_DROP), "data.new_due_at:"),
    ("numeric new_due_at", _data("dossier.extended", new_due_at=1746871200), "data.new_due_at:"),
    ("bad return_channel", _data("dossier.returned", return_channel="drone"),
     "data.return_channel:"),
    ("digitized > total", _data("dossier.digitized", components_digitized=4),
     "data: Value error, components_digitized must not exceed components_total"),
    ("negative components_total", _data("dossier.digitized", components_total=-1),
     "data.components_total:"),
    ("missing components_total", _data("dossier.digitized", components_total=_DROP),
     "data.components_total:"),
    ("negative amount_vnd", _data("payment.completed", amount_vnd=-1), "data.amount_vnd:"),
    ("float amount_vnd", _data("payment.completed", amount_vnd=50000.5), "data.amount_vnd:"),
    ("string amount_vnd", _data("payment.completed", amount_vnd="50000"), "data.amount_vnd:"),
    ("bad method", _data("payment.completed", method="crypto"), "data.method:"),
    ("bad rating", _data("feedback.rated", rating="ok"), "data.rating:"),
    ("missing rating", _data("feedback.rated", rating=_DROP), "data.rating: field required"),
    ("not an object", [1, 2], "event: Input should be an object"),
]


@pytest.mark.parametrize(("case", "doc", "needle"), INVALID, ids=[c[0] for c in INVALID])
def test_invalid_event_is_refused_with_a_reason(case: str, doc: Any, needle: str) -> None:
    with pytest.raises(InvalidEvent) as info:
        parse_obj(doc)
    reason = info.value.reason
    assert needle in reason, reason
    assert "\n" not in reason
    assert str(info.value) == reason


@pytest.mark.parametrize(
    "raw", [b"{", b"", b"not json", b'{"a": 1}\x00', b"\xff\xfe{}"], ids=repr
)
def test_not_json_is_refused(raw: bytes) -> None:
    with pytest.raises(InvalidEvent) as info:
        parse_event(raw)
    assert info.value.reason.startswith("not JSON: ")


def test_schema_command_writes_the_models_schemas(tmp_path: Path) -> None:
    import typer

    from motcua.commands import schema

    app = typer.Typer()
    schema.register(app)

    @app.callback()
    def _root() -> None:  # keep "schema" a sub-command, as under the real CLI
        pass

    result = CliRunner().invoke(app, ["schema", "--out", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    files = sorted(p.name for p in (tmp_path / "out").iterdir())
    expected = sorted([f"{t}.json" for t in EVENT_TYPES] + ["events.json"])
    assert files == expected
    assert len(files) == 21
    for type_, model in MODEL_BY_TYPE.items():
        written = json.loads((tmp_path / "out" / f"{type_}.json").read_text("utf-8"))
        assert written == model.model_json_schema()
        assert written["properties"]["type"]["const"] == type_
    union = json.loads((tmp_path / "out" / "events.json").read_text("utf-8"))
    assert union == EVENT_ADAPTER.json_schema()
    assert union["discriminator"]["propertyName"] == "type"


# ------------------------------------------------------------ v1.1 families


@pytest.mark.parametrize(("short_type", "change", "field"), [
    ("petition.received", {"processing_days": _DROP}, "data"),
    ("petition.received", {"channel": "fax"}, "data.channel"),
    ("petition.received", {"within_competence": "yes"}, "data.within_competence"),
    ("procedure.published", {"online_level": _DROP}, "data.online_level"),
    ("procedure.published", {"online_payment": _DROP}, "data.online_payment"),
    ("document.issued", {"digitally_signed": _DROP}, "data.digitally_signed"),
    ("petition.rated", {"rating": "ok"}, "data.rating"),
])
def test_v11_family_counter_examples(short_type: str, change: dict[str, Any],
                                     field: str) -> None:
    with pytest.raises(InvalidEvent) as err:
        parse_obj(_data(short_type, **change))
    assert field in err.value.reason


def test_a_catalog_entry_subject_is_unit_slash_procedure() -> None:
    wrong = copy.deepcopy(VALID["procedure.published"])
    wrong["subject"] = "1.001234"
    with pytest.raises(InvalidEvent) as err:
        parse_obj(wrong)
    assert "unit_code/procedure_code" in err.value.reason and "U1/1.001234" in err.value.reason
