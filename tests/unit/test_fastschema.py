"""The fast decoder's structs derived from the pydantic models (kpi.fastschema)."""

from __future__ import annotations

from typing import Any

import msgspec
import msgspec.inspect as mi

from kpi import fastparse
from kpi.dossier import KIND_OF_TYPE
from kpi.fastschema import PRINTABLE, TIME, derive_event
from schemas.events import MODEL_BY_TYPE, TYPE_PREFIX


def shape(t: mi.Type) -> Any:
    """``msgspec.inspect`` type info without the classes' identities (names, modules)."""
    if isinstance(t, mi.StructType):
        return ("struct", t.tag_field, t.tag, t.array_like, t.forbid_unknown_fields,
                tuple(field_shape(f) for f in t.fields))
    if isinstance(t, mi.UnionType):
        return ("union", tuple(shape(a) for a in t.types))
    return t


def field_shape(f: mi.Field) -> Any:
    factory = f.default_factory
    if isinstance(factory, type) and issubclass(factory, msgspec.Struct):
        factory = ("factory", shape(mi.type_info(factory)))
    return (f.name, f.encode_name, shape(f.type), f.required, f.default, factory)


CHECKS = {PRINTABLE: str.isprintable, TIME: lambda v: fastparse.fast_time(v) is not None}
BY_HAND = {
    "dossier.received": ("unit_code", "procedure_code", "handling_unit_code", "due_at",
                         "_due_known"),
    "dossier.transferred": ("from_unit", "to_unit"),
    "dossier.extended": ("new_due_at",),
    "dossier.digitized": ("_bounded",),
}


def test_derived_structs_equal_the_hand_written_ones() -> None:
    old = {t.tag: t for t in mi.type_info(fastparse._DECODER.type).types}
    assert sorted(old) == sorted(TYPE_PREFIX + t for t in fastparse._TYPES)
    for short in fastparse._TYPES:
        new = derive_event(MODEL_BY_TYPE[TYPE_PREFIX + short], CHECKS,
                           ("id", "source", "subject", "time"), BY_HAND.get(short, ()))
        assert shape(mi.type_info(new)) == shape(old[TYPE_PREFIX + short]), short
        assert "__post_init__" not in vars(new)  # every late check is applied by hand
        assert KIND_OF_TYPE[short]
