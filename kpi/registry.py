"""The unit registry of docs/contract.md (danh mục đơn vị hành chính): units with versions.

Since 1 July 2025 districts are abolished and provinces and communes merged, with new codes
(Decision 19/2025/QĐ-TTg); a code names one unit only while one of its versions is in force.
The registry is an operator's CSV file (UTF-8, header row), one row per *version* of a unit::

    code,name,level,parent,valid_from,valid_to,successor

* ``valid_from`` / ``valid_to``: local dates (``YYYY-MM-DD``), both inclusive; an empty
  ``valid_to`` means still in force, an empty ``valid_from`` means "since always";
* versions of one code do not overlap;
* ``parent``: the parent's code, in force during the whole version (empty at the top);
* ``successor``: only on a unit's last version, which must have ended: the unit that takes
  over its open dossiers and its history when it ceases.

A file with only ``code,name,level,parent`` (the v1 format) is read as one version per
unit, in force since always.

*The unit in force* for a code at an instant ``t`` (:meth:`UnitRegistry.in_force`): the code
itself if one of its versions covers ``t``'s local date; else, after its last version, its
successor's unit in force at ``t``; a code with no version covering ``t`` and no successor
(or not in the registry at all) stands for itself. :meth:`UnitRegistry.ancestors_at` gives the
units above it at ``t``, nearest first.

Every problem is a :class:`schemas.errors.RegistryError` naming the file and line.
"""

from __future__ import annotations

import csv
import datetime as dt
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from kpi.calendar import local_date
from kpi.periods import parse_period
from schemas.errors import RegistryError

LEVELS = ("ministry", "province", "district", "commune")
"""Unit levels of docs/contract.md (``district`` only for units that ceased by 1 July 2025)."""

V1_COLUMNS = ("code", "name", "level", "parent")
COLUMNS = (*V1_COLUMNS, "valid_from", "valid_to", "successor")

_ALWAYS = dt.date.min
_FOREVER = dt.date.max


@dataclass(frozen=True, slots=True)
class UnitVersion:
    """One row of the registry: a unit as it was from ``valid_from`` to ``valid_to``."""

    code: str
    name: str
    level: str
    parent: str | None
    valid_from: dt.date
    """First local day in force (``date.min``: since always)."""
    valid_to: dt.date | None
    """Last local day in force, inclusive (None: still in force)."""
    successor: str | None = None
    where: str = ""
    """``file:line`` of the row, for messages."""

    def covers(self, day: dt.date) -> bool:
        return self.valid_from <= day <= (self.valid_to or _FOREVER)


class UnitRegistry:
    """Versions of units by code; answers which unit is in force for a code at an instant."""

    def __init__(self, versions: Iterable[UnitVersion]) -> None:
        by_code: dict[str, list[UnitVersion]] = {}
        for v in versions:
            by_code.setdefault(v.code, []).append(v)
        for vs in by_code.values():
            vs.sort(key=lambda v: v.valid_from)
        self._versions = by_code
        self._check()

    # ----------------------------------------------------------------- reading a file

    @classmethod
    def load(cls, path: Path) -> UnitRegistry:
        """Read and validate a registry CSV file (v1.1 columns, or the v1 four)."""
        try:
            with path.open(encoding="utf-8", newline="") as fh:
                return cls(_read_rows(csv.DictReader(fh), str(path)))
        except UnicodeDecodeError as exc:
            raise RegistryError(f"{path}: not UTF-8 ({exc.reason} at byte {exc.start})") from exc
        except OSError as exc:
            raise RegistryError(f"{path}: {exc.strerror or exc}") from exc

    # ----------------------------------------------------------------- questions

    @property
    def codes(self) -> list[str]:
        return sorted(self._versions)

    def versions(self, code: str) -> list[UnitVersion]:
        """The versions of ``code``, oldest first (empty if unknown)."""
        return list(self._versions.get(code, ()))

    def version_on(self, code: str, day: dt.date) -> UnitVersion | None:
        """The version of ``code`` in force on local date ``day``, if any."""
        for v in self._versions.get(code, ()):
            if v.covers(day):
                return v
        return None

    def in_force(self, code: str, t: float) -> str:
        """The unit in force for ``code`` at instant ``t`` (epoch seconds)."""
        return self.in_force_on(code, local_date(t))

    def in_force_on(self, code: str, day: dt.date) -> str:
        while True:
            versions = self._versions.get(code)
            if not versions or any(v.covers(day) for v in versions):
                return code
            last = versions[-1]
            if last.successor is None or last.valid_to is None or day <= last.valid_to:
                return code  # before its first version, or between versions: itself
            code = last.successor  # validated: the chain ends

    def ancestors_at(self, code: str, t: float) -> list[str]:
        """The units above ``code`` at instant ``t``, nearest first (its version's parent,
        that parent's parent in force at ``t``, …); empty when no version is in force."""
        return self.ancestors_on(code, local_date(t))

    def ancestors_on(self, code: str, day: dt.date) -> list[str]:
        out: list[str] = []
        version = self.version_on(code, day)
        while version is not None and version.parent:
            out.append(version.parent)
            version = self.version_on(version.parent, day)
        return out

    def name_on(self, code: str, day: dt.date) -> str | None:
        """The unit's name on ``day``, else the name of its latest version, else None."""
        version = self.version_on(code, day)
        if version is None:
            versions = self._versions.get(code)
            version = versions[-1] if versions else None
        return version.name if version is not None else None

    def naming_day(self, period: str, as_of: float) -> dt.date:
        """The day whose names label a report of ``period`` known at ``as_of`` (view "as it
        was"): the period's last day, or ``as_of``'s local date while the period runs.
        (The restated view names units as on ``as_of``.)"""
        p = parse_period(period)
        return local_date(as_of) if as_of < p.end else local_date(p.end - 1.0)

    def name_in(self, code: str, period: str, as_of: float) -> str | None:
        """The name that labels ``code``'s report of ``period`` as known at ``as_of``: its
        name on :meth:`naming_day` (or its last name before, if it had ceased)."""
        return self.name_on(code, self.naming_day(period, as_of))

    def level_on(self, code: str, day: dt.date) -> str | None:
        version = self.version_on(code, day)
        if version is None:
            versions = self._versions.get(code)
            version = versions[-1] if versions else None
        return version.level if version is not None else None

    def in_force_units(self, day: dt.date) -> list[UnitVersion]:
        """Every unit version in force on ``day``."""
        return [v for vs in self._versions.values() for v in vs if v.covers(day)]

    def ceased(self) -> list[UnitVersion]:
        """The last version of every unit that has ceased (with its successor, if any)."""
        return [vs[-1] for vs in self._versions.values() if vs[-1].valid_to is not None]

    # ----------------------------------------------------------------- validation

    def _check(self) -> None:
        for code, versions in self._versions.items():
            for before, after in zip(versions, versions[1:], strict=False):
                if before.valid_to is None or before.valid_to >= after.valid_from:
                    raise RegistryError(
                        f"{after.where}: version of {code} from {_shown(after.valid_from)} "
                        f"overlaps the one at {before.where} ({_span(before)})")
            for v in versions[:-1]:
                if v.successor:
                    raise RegistryError(f"{v.where}: {code} has a successor on a version that "
                                        "is not its last")
            for v in versions:
                if v.parent:
                    self._check_parent(v)
            last = versions[-1]
            if last.successor is not None:
                if last.valid_to is None:
                    raise RegistryError(f"{last.where}: {code} has a successor but is still in "
                                        "force (valid_to is empty)")
                if last.successor not in self._versions:
                    raise RegistryError(f"{last.where}: successor {last.successor!r} of {code} "
                                        "is not in the registry")
        for code in self._versions:
            self._check_chain(code)

    def _check_parent(self, v: UnitVersion) -> None:
        assert v.parent is not None
        parents = self._versions.get(v.parent)
        if not parents:
            raise RegistryError(f"{v.where}: parent {v.parent!r} of {v.code} is not in the "
                                "registry")
        if v.parent == v.code:
            raise RegistryError(f"{v.where}: {v.code} is its own parent")
        # the parent's versions must cover the child's whole version
        day, end = v.valid_from, v.valid_to or _FOREVER
        for p in parents:
            if p.valid_from <= day <= (p.valid_to or _FOREVER):
                if p.valid_to is None or p.valid_to >= end:
                    day = end
                    break
                day = p.valid_to + dt.timedelta(days=1)
        else:
            raise RegistryError(f"{v.where}: parent {v.parent} is not in force on "
                                f"{_shown(day)}, within {v.code}'s version ({_span(v)})")
        # no cycle through parents: walk up on the version's first day
        seen = [v.code]
        up: UnitVersion | None = v
        while up is not None and up.parent:
            if up.parent in seen:
                raise RegistryError(f"{v.where}: parent cycle "
                                    f"{' → '.join([*seen, up.parent])}")
            seen.append(up.parent)
            up = self.version_on(up.parent, v.valid_from)

    def _check_chain(self, code: str) -> None:
        seen = [code]
        versions = self._versions[code]
        while versions[-1].successor is not None:
            nxt = versions[-1].successor
            if nxt in seen:
                raise RegistryError(f"{versions[-1].where}: the successor chain "
                                    f"{' → '.join([*seen, nxt])} never ends")
            seen.append(nxt)
            versions = self._versions[nxt]


def _read_rows(reader: csv.DictReader[str], path: str) -> Iterator[UnitVersion]:
    fields = tuple(reader.fieldnames or ())
    missing = [c for c in V1_COLUMNS if c not in fields]
    if missing:
        raise RegistryError(f"{path}:1: missing columns {', '.join(missing)} (expected "
                            f"{','.join(COLUMNS)})")
    for line, row in enumerate(reader, start=2):
        where = f"{path}:{line}"
        code = (row.get("code") or "").strip()
        if not code:
            raise RegistryError(f"{where}: empty unit code")
        level = (row.get("level") or "").strip()
        if level not in LEVELS:
            raise RegistryError(f"{where}: level {level!r} unknown; expected one of "
                                f"{', '.join(LEVELS)}")
        valid_from = _date(row.get("valid_from"), where, "valid_from") or _ALWAYS
        valid_to = _date(row.get("valid_to"), where, "valid_to")
        if valid_to is not None and valid_to < valid_from:
            raise RegistryError(f"{where}: valid_to {valid_to} is before valid_from "
                                f"{valid_from}")
        yield UnitVersion(code, (row.get("name") or "").strip(), level,
                          (row.get("parent") or "").strip() or None, valid_from, valid_to,
                          (row.get("successor") or "").strip() or None, where)


def _date(text: str | None, where: str, column: str) -> dt.date | None:
    text = (text or "").strip()
    if not text:
        return None
    try:
        return dt.date.fromisoformat(text)
    except ValueError as exc:
        raise RegistryError(f"{where}: {column} {text!r} is not a date (YYYY-MM-DD)") from exc


def _shown(day: dt.date) -> str:
    return "always" if day == _ALWAYS else day.isoformat()


def _span(v: UnitVersion) -> str:
    return f"{_shown(v.valid_from)} – {v.valid_to.isoformat() if v.valid_to else 'now'}"


__all__ = ["COLUMNS", "LEVELS", "UnitRegistry", "UnitVersion"]
