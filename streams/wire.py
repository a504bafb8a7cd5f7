"""The byte formats the live pipeline writes and reads back (JSON, orjson), and the helpers
every part of it shares.

* contributions message (:func:`encode_entries`, :func:`decode_entries`), key = counter
  key: ``{"d": [[code, version, level, rows], ...]}`` with ``rows`` =
  ``[[period keys], [count keys]]`` pairs: the dossier's rows of that counter key; empty
  ``rows`` retract the dossier from that key. An entry ``[code, version, level, rows, 1]``
  (a fifth element) retires the dossier's row at the aggregator. Written by
  :meth:`streams.tracker.Tracker.emit`, applied by :meth:`streams.aggregator.Aggregator.apply`.
* links record (:func:`encode_link`, :func:`decode_link`), key = the target subject:
  ``[fact key, fact]`` (:mod:`kpi.links`).
* dossier table row (the ``dossiers`` changelog and the local state's ``dossier`` table,
  written by :meth:`streams.tracker.Tracker.row`): ``{"f": facts, "v": version, "u":
  keys, "h": horizon, "p": partition}`` and, with a registry, ``"r": fingerprint``
  (:func:`streams.units.registry_fingerprint`); ``"a": true`` marks a row written *ahead*
  of an emission not yet delivered; ``"x": true`` a dossier retired with this row.
  ``facts``: :func:`pack_facts`; ``keys``: the counter keys the dossier may hold rows
  under (:func:`join_keys`; null: none).
* applied table row (the ``applied`` changelog and the local state's ``applied`` table,
  written by :meth:`streams.aggregator.Aggregator.apply`), key ``counterkey␟code``:
  ``{"v": version, "l": level, "r": rows, "p": partition}``, and ``"x": true`` when the
  entry retired it.

Both table rows name their changelog partition (:func:`row_partition`) and whether they
retired their dossier (:func:`is_retired_row`).

**Format.** Each of these records is in format :data:`WIRE_FORMAT` (1). A later format
marks its objects with ``"w": n`` (a link: another shape than ``[key, fact]``); no
``"w"`` means format 1, so every record written so far is format 1 and nothing is written
differently now. Every reader here checks it and raises
:class:`schemas.errors.FormatError` on any other (:func:`check_format`): a worker of this
version meeting a newer worker's records (a rolling upgrade gone backwards) stops with
that message instead of misreading them. The local state's file has its own layout
number (:data:`streams.localstate.FORMAT`): another is started afresh, with a warning,
and rebuilt from the changelogs.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable
from typing import Any

import msgspec
import orjson

from kpi.dossier import Fact, FactKey
from schemas.errors import FormatError

WIRE_FORMAT = 1
"""The format of the records this version writes and reads (see the module's docstring)."""

SEP = "\x1f"
Rows = list[list[list[str]]]
"""``[[period keys], [count keys]]`` pairs."""
Entry = list[Any]
"""``[code, version, level, rows]`` of a contributions message."""


def join_keys(keys: Iterable[str]) -> str | None:
    """A set of counter keys as one interned string (sorted, joined by ``␟``); None if
    empty. Few distinct sets, many dossiers: they share the string."""
    ks = sorted(set(keys))
    return sys.intern(SEP.join(ks)) if ks else None


def split_keys(keys: str | None) -> list[str]:
    """:func:`join_keys` reversed."""
    return keys.split(SEP) if keys is not None else []


def kept(data: bytes) -> bytes:
    """An exact-size copy of an orjson result that will be kept (by the tracker, the
    aggregator, or a caller holding table rows): a kept ``orjson.dumps`` result holds on
    to its whole output buffer (docs/decisions/streams-compact-state.md)."""
    return bytes(memoryview(data))


_unpack = msgspec.json.Decoder(dict[str, tuple]).decode


def pack_facts(facts: dict[FactKey, Fact]) -> bytes:
    """A dossier's facts as one JSON object: exactly the ``"f"`` of its table row."""
    return kept(orjson.dumps(facts))


def unpack_facts(packed: bytes) -> dict[FactKey, Fact]:
    """:func:`pack_facts` reversed: the same keys in the same order and equal tuples of the
    same types (JSON keeps ``1`` and ``1.0`` apart; orjson's floats read back exactly)."""
    return _unpack(packed)


class _Retired(msgspec.Struct):
    x: bool = False


_decode_retired = msgspec.json.Decoder(_Retired).decode


class _Partition(msgspec.Struct):
    p: int


_decode_partition = msgspec.json.Decoder(_Partition).decode


def row_partition(raw: bytes) -> int:
    """The changelog partition a dossier or applied table row belongs to (its ``"p"``)."""
    return _decode_partition(raw).p


def is_retired_row(raw: bytes) -> bool:
    """Whether a dossier or applied table row retired its dossier (``"x": true``)."""
    return _decode_retired(raw).x


def check_format(found: object, what: str) -> None:
    """Raise :class:`FormatError` unless ``found`` (a record's ``"w"``, None when it has
    none) is :data:`WIRE_FORMAT`."""
    if found is not None and found != WIRE_FORMAT:
        raise format_error(found, what)


def format_error(found: object, what: str) -> FormatError:
    """The error for ``what`` in format ``found`` (one this version does not read)."""
    return FormatError(
        f"{what} in format {found!r}; this worker reads format {WIRE_FORMAT} only: a newer "
        "version wrote it. Run that version (or a newer one) of the worker; do not roll "
        "the workers back over records a newer one wrote (docs/upgrading.md).")


def encode_link(key: str, fact: Fact) -> bytes:
    """A links-topic record value: ``[fact key, fact]`` (kpi.links)."""
    return orjson.dumps([key, fact])


def decode_link(value: bytes) -> tuple[str, Fact]:
    """:func:`encode_link` reversed."""
    obj = orjson.loads(value)
    if not isinstance(obj, list) or len(obj) != 2:
        raise format_error(obj.get("w") if isinstance(obj, dict) else None,
                           "a links record not of the shape [key, fact]")
    key, fact = obj
    return key, tuple(fact)


def decode_entries(value: bytes) -> list[Entry]:
    obj = orjson.loads(value)
    check_format(obj.get("w"), "a contributions message")
    entries: list[Entry] = obj["d"]
    return entries


def encode_entries(entries: list[Entry]) -> bytes:
    return orjson.dumps({"d": entries})


__all__ = ["SEP", "WIRE_FORMAT", "Entry", "Rows", "check_format", "decode_entries",
           "format_error",
           "decode_link", "encode_entries", "encode_link", "is_retired_row", "join_keys",
           "kept", "pack_facts", "row_partition", "split_keys", "unpack_facts"]
