"""The fast decoder's structs derived from the pydantic models (kpi.fastschema).

The derived structs were checked equal, by ``msgspec.inspect.type_info`` (names, order,
types, defaults, default factories), to the hand-written ones they replaced; here: that
the derivation follows the models, field by field, and refuses what it cannot reproduce.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any, Literal

import msgspec
import msgspec.inspect as mi
import orjson
import pytest
from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field, field_validator
from pydantic.fields import FieldInfo

from kpi import fastparse
from kpi.fastschema import (
    FIELD_TYPES,
    PRINTABLE,
    TIME,
    UndeclaredField,
    derive_event,
    derive_struct,
)
from schemas import fields
from schemas.eventdata import ReceivedData
from schemas.events import MODEL_BY_TYPE, DossierReceived, DossierResolved
from schemas.fields import MAX_COUNT, MAX_UNIT_CHARS, Count, Flag, Timestamp, UnitCode

CHECKS = fastparse._CHECKS
ENVELOPE = ("id", "source", "subject", "time")


class _Level(StrEnum):
    low = "low"
    high = "high"


class SampleData(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    code: UnitCode
    level: _Level = _Level.high
    when: Timestamp | None = None
    n: Count = 0
    flag: Flag = True
    note: str | None = None


def _event(data: dict[str, Any], tag: str = "vn.gov.motcua.test.sample") -> bytes:
    return orjson.dumps({"specversion": "1.0", "id": "e1", "source": "s", "type": tag,
                         "time": "2025-04-29T08:00:00+07:00", "subject": "HS-1",
                         "data": data})


def test_a_model_becomes_a_struct_field_by_field() -> None:
    # hand-worked: each field's msgspec type, requiredness and default, in model order
    info = mi.type_info(derive_struct(SampleData, CHECKS))
    assert isinstance(info, mi.StructType)
    assert [(f.name, f.type, f.required, f.default) for f in info.fields] == [
        ("code", mi.StrType(min_length=1, max_length=MAX_UNIT_CHARS), True, msgspec.NODEFAULT),
        ("level", mi.LiteralType(values=("high", "low")), False, "high"),  # the value
        ("when", mi.UnionType(types=(mi.StrType(), mi.NoneType())), False, None),
        ("n", mi.IntType(ge=0, le=MAX_COUNT), False, 0),
        ("flag", mi.BoolType(), False, True),
        ("note", mi.UnionType(types=(mi.StrType(), mi.NoneType())), False, None),
    ]
    assert type(info.fields[1].default) is str  # not the enum member


def test_late_checks_not_applied_by_hand_run_in_post_init() -> None:
    struct = derive_struct(SampleData, CHECKS)
    decode = msgspec.json.Decoder(struct).decode
    assert decode(b'{"code": "U", "when": "2025-04-29T08:00:00+07:00"}').code == "U"
    for bad in (b'{"code": "U\\u0000"}', b'{"code": "U\\u202e"}',
                b'{"code": "U", "when": "2025-04-29T08:00:00"}',  # naive
                b'{"code": "U", "when": "1999-12-31T23:00:00+07:00"}'):  # out of range
        with pytest.raises(msgspec.ValidationError):
            decode(bad)
    # the caller that applies them itself pays nothing for them
    assert "__post_init__" not in vars(derive_struct(SampleData, CHECKS, ("code", "when")))
    assert "__post_init__" in vars(derive_struct(SampleData, CHECKS, ("code",)))


class WiderData(ReceivedData):
    """ReceivedData with two fields more: one to check printable, one flag."""

    desk_code: UnitCode | None = None
    urgent: Flag = False


class WiderEvent(DossierReceived):
    data: WiderData


def test_a_field_added_to_a_model_reaches_the_decoder() -> None:
    struct = derive_event(WiderEvent, CHECKS, fastparse._ENVELOPE_BY_HAND,
                          fastparse._DATA_BY_HAND["dossier.received"])
    decode = msgspec.json.Decoder(struct).decode
    data = {"unit_code": "U", "unit_level": "commune", "procedure_code": "P",
            "channel": "online", "processing_days": 2}
    tag = "vn.gov.motcua.dossier.received"
    ev = decode(_event(data | {"desk_code": "D", "urgent": True}, tag))
    assert (ev.data.desk_code, ev.data.urgent, ev.data.unit_code) == ("D", True, "U")
    for bad in ({"desk_code": "D\u0000"}, {"desk_code": ""}, {"urgent": 1}):
        with pytest.raises(msgspec.ValidationError):
            decode(_event(data | bad, tag))


def test_each_fast_type_decodes_its_models_fields() -> None:
    for struct, kind in fastparse._KIND.items():
        info = mi.type_info(struct)
        assert isinstance(info, mi.StructType) and isinstance(info.tag, str)
        model = MODEL_BY_TYPE[info.tag]
        fields = {f.name: f for f in info.fields}
        assert list(fields) == ["data", *(n for n in model.model_fields if n not in
                                          ("type", "data"))], kind
        data_model = model.model_fields["data"].annotation
        assert isinstance(data_model, type) and issubclass(data_model, BaseModel)
        data = fields["data"]
        assert data.required == model.model_fields["data"].is_required(), kind
        assert isinstance(data.type, mi.StructType)
        assert [f.name for f in data.type.fields] == list(data_model.model_fields), kind
        assert [f.required for f in data.type.fields] == [
            f.is_required() for f in data_model.model_fields.values()], kind


def _limits(metadata: list[Any]) -> dict[str, Any]:
    out = {}
    for item in metadata:
        for name in ("min_length", "max_length", "ge", "le"):
            if getattr(item, name, None) is not None:
                out[name] = getattr(item, name)
    return out


_NAMES = {id(value): name for name, value in vars(fields).items()}


@pytest.mark.parametrize("declared, fast, late", FIELD_TYPES,
                         ids=[_NAMES.get(id(t[0]), str(t[0])) for t in FIELD_TYPES])
def test_each_field_type_keeps_the_pydantic_limits(declared: Any, fast: Any, late: Any) -> None:
    info = FieldInfo.from_annotation(declared)
    base = {str: mi.StrType, int: mi.IntType, bool: mi.BoolType, AwareDatetime: mi.StrType}
    fast_info = mi.type_info(fast)
    assert isinstance(fast_info, base[info.annotation])  # type: ignore[index]
    assert _limits(info.metadata) == _limits([fast_info])
    printable = any(isinstance(m, AfterValidator) and m.func.__name__ == "_printable"
                    for m in info.metadata)
    assert (late == PRINTABLE) == printable
    assert (late == TIME) == (info.annotation is AwareDatetime)
    if info.annotation is int:  # pydantic strict: no bool, no float, as msgspec
        assert any(getattr(m, "strict", False) for m in info.metadata)


class _Unmapped(BaseModel):
    ratio: float


class _Aliased(BaseModel):
    code: str = Field(alias="c")


class _ConstrainedOnTheField(BaseModel):
    note: str = Field(max_length=3)


class _ConstrainedInline(BaseModel):
    note: str | None = Field(default=None, min_length=1)


class _Forbidding(BaseModel):
    model_config = ConfigDict(extra="forbid")
    note: str | None = None


class _Validated(BaseModel):
    code: UnitCode

    @field_validator("code")
    @classmethod
    def _upper(cls, value: str) -> str:
        return value.upper()


class _Factory(BaseModel):
    note: str = Field(default_factory=str)


class _NestedModel(BaseModel):
    inner: SampleData


class _OddDefault(DossierResolved):
    type: Literal["vn.gov.motcua.test.odd"]
    data: SampleData = SampleData(code="X")


@pytest.mark.parametrize("model, words", [
    (_Unmapped, "_Unmapped.ratio: no msgspec counterpart"),
    (_Aliased, "_Aliased.code: aliases"),
    (_ConstrainedOnTheField, "_ConstrainedOnTheField.note: put its constraints"),
    (_ConstrainedInline, "_ConstrainedInline.note: put its constraints"),
    (_Forbidding, "_Forbidding: only extra='ignore'"),
    (_Validated, "_Validated._upper: a validator the fast decoder does not apply"),
    (_Factory, "_Factory.note: default factories"),
    (_NestedModel, "_NestedModel.inner: no msgspec counterpart"),
])
def test_what_cannot_be_derived_fails_at_import(model: type[BaseModel], words: str) -> None:
    with pytest.raises(UndeclaredField, match=words.replace(".", r"\.")):
        derive_struct(model, CHECKS)


def test_an_event_the_derivation_cannot_reproduce_fails() -> None:
    with pytest.raises(UndeclaredField, match="_OddDefault.data: only the data model's own"):
        derive_event(_OddDefault, CHECKS, ENVELOPE)
    with pytest.raises(UndeclaredField, match="checked by hand but not declared: nowhere"):
        derive_struct(SampleData, CHECKS, ("code", "nowhere"))
    with pytest.raises(UndeclaredField, match="ReceivedData._due_known"):
        derive_event(DossierReceived, CHECKS, ENVELOPE, ("unit_code",))
