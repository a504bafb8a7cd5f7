"""The msgspec structs of the fast decoder (:mod:`kpi.fastparse`), derived from the pydantic
models of :mod:`schemas.events` and :mod:`schemas.eventdata`, which are the one declaration
of every event field: a field added there reaches the fast decoder with nothing to edit here.

Each field's annotation is mapped by identity (:data:`FIELD_TYPES`): a field type of
:mod:`schemas.fields` to its msgspec counterpart with the same limits, a ``StrEnum`` to the
``Literal`` of its values, ``X | None`` to the mapped ``X | None``; defaults are copied (an
enum member as its value). What msgspec cannot check itself is a *late check*: printable
identifiers (``Code``, ``UnitCode``) and timestamps (``Timestamp``, decoded as text). The
caller names the late checks and model validators it applies by hand on its hot path; any
other late check is added to the struct's ``__post_init__`` (msgspec then refuses the
event and the caller falls back to pydantic), so the fast decoder is never more lenient.

Anything the derivation cannot reproduce exactly — an annotation with no mapping, an alias,
a constraint given with ``Field(...)`` on the field rather than in its type, a default
factory, ``extra`` other than ``ignore``, a validator the caller does not apply — raises
:class:`UndeclaredField` at import, naming the model and field.
"""

from __future__ import annotations

import types
import typing
from collections.abc import Callable, Collection, Mapping
from enum import StrEnum
from typing import Annotated, Any, Literal

import msgspec
from msgspec import Meta
from pydantic import BaseModel
from pydantic.fields import FieldInfo
from pydantic_core import PydanticUndefined

from schemas.errors import MotcuaError
from schemas.fields import (
    MAX_CODE_CHARS,
    MAX_COUNT,
    MAX_PROCESSING_DAYS,
    MAX_UNIT_CHARS,
    Code,
    Count,
    Days,
    Flag,
    Timestamp,
    UnitCode,
)

PRINTABLE = "printable"
"""Late check: ``str.isprintable()`` (the ``AfterValidator`` of ``Code`` and ``UnitCode``)."""
TIME = "time"
"""Late check: an RFC 3339 timestamp in the accepted range (``Timestamp``)."""

FIELD_TYPES: tuple[tuple[Any, Any, str | None], ...] = (
    (Code, Annotated[str, Meta(min_length=1, max_length=MAX_CODE_CHARS)], PRINTABLE),
    (UnitCode, Annotated[str, Meta(min_length=1, max_length=MAX_UNIT_CHARS)], PRINTABLE),
    (Count, Annotated[int, Meta(ge=0, le=MAX_COUNT)], None),
    (Days, Annotated[int, Meta(ge=0, le=MAX_PROCESSING_DAYS)], None),
    (Flag, bool, None),
    (Timestamp, str, TIME),
    (str, str, None),
)
"""(pydantic annotation, msgspec type, late check) of every field type the derivation knows,
matched by identity. ``tests/unit/test_fastschema.py`` checks each pair's limits agree."""

_VALIDATORS = ("validators", "field_validators", "root_validators", "model_validators")
"""The kinds of pydantic decorators that can refuse input."""


class UndeclaredField(MotcuaError, TypeError):
    """A pydantic model has something the fast decoder's derivation cannot reproduce."""


def _mapped(where: str, hint: Any) -> tuple[Any, str | None]:
    """(msgspec type, late check) of one annotation."""
    for declared, fast, late in FIELD_TYPES:
        if hint is declared:
            return fast, late
    if isinstance(hint, type) and issubclass(hint, StrEnum):
        return Literal[tuple(member.value for member in hint)], None
    origin = typing.get_origin(hint)
    if origin is Literal and all(type(v) is str for v in typing.get_args(hint)):
        return hint, None
    if origin in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        if len(args) == 1 and len(typing.get_args(hint)) == 2:
            fast, late = _mapped(where, args[0])
            return fast | None, late
    raise UndeclaredField(
        f"{where}: no msgspec counterpart for {hint!r}; give it one in "
        "kpi.fastschema.FIELD_TYPES (with its late check if msgspec cannot check it)")


def _default(where: str, info: FieldInfo) -> Any:
    if info.alias is not None or info.validation_alias is not None:
        raise UndeclaredField(f"{where}: aliases are not derived")
    if info.default_factory is not None:
        raise UndeclaredField(f"{where}: default factories are not derived")
    default = info.default
    if isinstance(default, StrEnum):
        return default.value
    if default is PydanticUndefined or default is None or type(default) in (bool, int, str):
        return default
    raise UndeclaredField(f"{where}: default {default!r} is not derived")


def _fields(model: type[BaseModel], skip: Collection[str] = ()) -> Any:
    """(name, hint, FieldInfo) of each field of ``model`` (in order) but ``skip``."""
    if model.model_config.get("extra", "ignore") != "ignore":
        raise UndeclaredField(f"{model.__name__}: only extra='ignore' is derived")
    hints = typing.get_type_hints(model, include_extras=True)
    for name, info in model.model_fields.items():
        if name in skip:
            continue
        where = f"{model.__name__}.{name}"
        # a constraint written as `name: str = Field(max_length=…)` is not in the hint
        if info.metadata != FieldInfo.from_annotation(hints[name]).metadata:
            raise UndeclaredField(f"{where}: put its constraints in a schemas.fields type")
        yield name, hints[name], info


def _validator_names(model: type[BaseModel]) -> list[str]:
    """The names of ``model``'s validators (every kind that can refuse input)."""
    decorators = model.__pydantic_decorators__
    return [name for kind in _VALIDATORS for name in getattr(decorators, kind)]


def _unchecked(model: type[BaseModel], by_hand: Collection[str]) -> None:
    """Raise for a validator of ``model`` that the caller does not apply by hand."""
    for name in _validator_names(model):
        if name not in by_hand:
            raise UndeclaredField(
                f"{model.__name__}.{name}: a validator the fast decoder does not apply; "
                "apply it in kpi.fastparse.fast_fact and list it as checked by hand")


def _late_checker(late: list[tuple[str, Callable[[Any], bool]]]) -> Callable[[Any], None]:
    def __post_init__(self: Any) -> None:
        for name, ok in late:
            value = getattr(self, name)
            if value is not None and not ok(value):
                raise ValueError(f"{name} fails its late check")
    return __post_init__


def derive_struct(
    model: type[BaseModel],
    checks: Mapping[str, Callable[[Any], bool]],
    by_hand: Collection[str] = (),
    *,
    skip: Collection[str] = (),
    extra: Collection[tuple[str, Any, Any]] = (),
    **options: Any,
) -> type[msgspec.Struct]:
    """The msgspec struct of ``model``'s fields but ``skip``, after the ``extra`` fields
    ((name, type, default or ``msgspec.NODEFAULT``)). ``by_hand``: the fields whose late
    check and the validators the caller applies itself; every other late check runs in
    ``__post_init__`` with ``checks[kind]``. ``options`` go to :func:`msgspec.defstruct`."""
    _unchecked(model, by_hand)
    fields: list[tuple[str, Any, Any]] = list(extra)
    late: list[tuple[str, Callable[[Any], bool]]] = []
    for name, hint, info in _fields(model, skip):
        where = f"{model.__name__}.{name}"
        fast, check = _mapped(where, hint)
        fields.append((name, fast, _default(where, info)))
        if check is not None and name not in by_hand:
            late.append((name, checks[check]))
    unknown = set(by_hand) - {name for name, _, _ in fields} - set(_validator_names(model))
    if unknown:
        raise UndeclaredField(f"{model.__name__}: checked by hand but not declared: "
                              f"{', '.join(sorted(unknown))}")
    namespace = {"__post_init__": _late_checker(late)} if late else None
    return msgspec.defstruct(
        model.__name__,
        [(n, t) if d is PydanticUndefined or d is msgspec.NODEFAULT else (n, t, d)
         for n, t, d in fields],
        namespace=namespace, module=__name__, **options)


def derive_event(
    model: type[BaseModel],
    checks: Mapping[str, Callable[[Any], bool]],
    envelope_by_hand: Collection[str],
    data_by_hand: Collection[str] = (),
) -> type[msgspec.Struct]:
    """The tagged struct of one event model of :mod:`schemas.events`: its ``type`` is the
    tag, its ``data`` the struct of its data model (with that model's defaults when the
    event's ``data`` is optional), its other fields the envelope's. ``*_by_hand`` as
    ``by_hand`` of :func:`derive_struct`."""
    where = model.__name__
    tag_hint = model.model_fields["type"].annotation
    data_info = model.model_fields["data"]
    data_model = data_info.annotation
    if typing.get_origin(tag_hint) is not Literal or len(typing.get_args(tag_hint)) != 1:
        raise UndeclaredField(f"{where}.type: not a single Literal")
    if not (isinstance(data_model, type) and issubclass(data_model, BaseModel)):
        raise UndeclaredField(f"{where}.data: not one pydantic model")
    data = derive_struct(data_model, checks, data_by_hand)
    if data_info.is_required():
        data_field: tuple[str, Any, Any] = ("data", data, msgspec.NODEFAULT)
    elif (data_info.default_factory is None
          and not any(f.is_required() for f in data_model.model_fields.values())
          and data_info.default == data_model()):
        data_field = ("data", data, msgspec.field(default_factory=data))
    else:
        raise UndeclaredField(f"{where}.data: only the data model's own defaults are derived")
    return derive_struct(
        model, checks, envelope_by_hand, skip=("type", "data"), extra=(data_field,),
        kw_only=True, tag_field="type", tag=typing.get_args(tag_hint)[0])


__all__ = [
    "FIELD_TYPES",
    "PRINTABLE",
    "TIME",
    "UndeclaredField",
    "derive_event",
    "derive_struct",
]
