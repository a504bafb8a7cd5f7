"""The unit registry (danh mục đơn vị): code, name, level, parent; and per-unit calendars.

A CSV file with the header ``code,name,level,parent`` (parent empty for the top). Communes
roll up to their district, districts to their province.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from kpi.calendar import DEFAULT_RULES, CalendarRules, WorkingCalendar
from kpi.counters import Counters
from schemas.errors import RegistryError


@dataclass(frozen=True, slots=True)
class Unit:
    code: str
    name: str
    level: str
    parent: str | None


class UnitRegistry:
    def __init__(self, units: Iterable[Unit]) -> None:
        self.units: dict[str, Unit] = {u.code: u for u in units}
        for u in self.units.values():
            if u.parent and u.parent not in self.units:
                raise RegistryError(f"unit {u.code}: parent {u.parent!r} is not in the registry")
        for code in self.units:
            self.ancestors(code)  # detects cycles

    @classmethod
    def load(cls, path: Path) -> UnitRegistry:
        units = []
        with path.open(encoding="utf-8", newline="") as fh:
            reader = csv.DictReader(fh)
            missing = {"code", "name", "level", "parent"} - set(reader.fieldnames or ())
            if missing:
                raise RegistryError(f"{path}: missing columns {sorted(missing)}")
            for line, row in enumerate(reader, start=2):
                if not row["code"]:
                    raise RegistryError(f"{path}:{line}: empty unit code")
                if row["level"] not in ("province", "district", "commune"):
                    raise RegistryError(f"{path}:{line}: level {row['level']!r} unknown")
                units.append(Unit(row["code"], row["name"], row["level"], row["parent"] or None))
        return cls(units)

    def ancestors(self, code: str) -> list[str]:
        out: list[str] = []
        unit = self.units.get(code)
        while unit is not None and unit.parent:
            if unit.parent in out or unit.parent == code:
                raise RegistryError(f"unit {code}: parent cycle through {unit.parent}")
            out.append(unit.parent)
            unit = self.units.get(unit.parent)
        return out

    def children(self, code: str) -> list[Unit]:
        return [u for u in self.units.values() if u.parent == code]


def rollup(
    counters: Mapping[tuple[str, str], Counters], registry: UnitRegistry
) -> dict[tuple[str, str], Counters]:
    """Each unit's counters plus those of every unit below it (tổng hợp theo cấp)."""
    out: dict[tuple[str, str], Counters] = {}
    for (unit, period), c in counters.items():
        for code in (unit, *registry.ancestors(unit)):
            acc = out.get((code, period))
            if acc is None:
                acc = out[(code, period)] = Counters()
            acc += c
    return out


class CalendarBook:
    """The working calendar of each unit: national by default, overridden per unit."""

    def __init__(self, overrides: Mapping[str, CalendarRules] | None = None) -> None:
        self._default = WorkingCalendar(DEFAULT_RULES)
        self._by_unit = {code: WorkingCalendar(r) for code, r in (overrides or {}).items()}

    def __call__(self, unit: str) -> WorkingCalendar:
        return self._by_unit.get(unit, self._default)
