"""The 1 July 2025 reorganisation as the simulator plays it, and the unit registry it writes.

With ``SimulationConfig(reorganisation=True)`` the run crosses the two-level government
(Decision 19/2025/QĐ-TTg; docs/domain.md "Since 1 July 2025"):

* until the day before :attr:`SimulationConfig.cutover` (default 1/7/2025): province ``DT``,
  district ``DT.TANHONG`` below it and its communes ``DT.TANHONG.Xnn`` below the district;
* from the cutover the district is gone and its communes are merged into
  ``SimulationConfig.merged_communes`` new communes ``DT.Mnn`` (old commune ``i`` of ``n``
  goes to new commune ``i × merged // n``) directly below the province; the district's own
  desk is taken over by the province (its successor, as in docs/contract.md's example).
* The province **keeps its code** ``DT`` (the merged Đồng Tháp keeps a predecessor's code;
  Tiền Giang is not simulated): two versions of one code, the second from the cutover, so
  no successor is needed and every old unit's chain ends at a unit in force.

Codes and the merged communes' names are illustrative (names marked ``[M]``), not those of
the decision. A dossier is received under the code in force on its receipt day; the
events after it carry no unit code, so a dossier received in June and resolved in July is
handled by the successor through the registry (:mod:`kpi.registry`).

:func:`registry_rows` gives the registry of a run (docs/contract.md columns); without the
reorganisation every unit is in force since always.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

from kpi.simulate.profiles import DISTRICT_CODE, PROVINCE, UnitProfile

REGISTRY_COLUMNS = ("code", "name", "level", "parent", "valid_from", "valid_to", "successor")
MERGED_PREFIX = "DT.M"
PROVINCE_AFTER_NAME = "UBND tỉnh Đồng Tháp (hợp nhất với Tiền Giang)"
_MERGED_NAMES = ("UBND xã Tân Hồng [M]", "UBND xã Tân Thành [M]", "UBND xã Tân Hộ Cơ [M]",
                 "UBND xã Thông Bình [M]", "UBND xã An Phước [M]")


@dataclass(frozen=True)
class Reorganisation:
    """Which unit takes over each unit of a run from ``cutover`` (a local date)."""

    cutover: date
    merged: tuple[UnitProfile, ...]
    """The new communes (no volumes of their own: they receive their predecessors')."""
    successor: dict[str, str]
    """Old unit code → the unit in force for it from the cutover."""

    def after(self, unit: UnitProfile) -> tuple[str, str]:
        """(code, level) under which ``unit``'s desk receives from the cutover."""
        code = self.successor.get(unit.code, unit.code)
        return code, "province" if code == PROVINCE.code else "commune"

    def desks_after(self) -> tuple[tuple[str, str], ...]:
        """(code, level) of every desk in force from the cutover."""
        return ((PROVINCE.code, "province"), *((u.code, u.level) for u in self.merged))


def plan_reorganisation(units: Sequence[UnitProfile], cutover: date,
                        merged_communes: int) -> Reorganisation:
    """The reorganisation of ``units`` (:func:`kpi.simulate.profiles.default_units`)."""
    communes = [u for u in units if u.level == "commune"]
    n_new = max(1, min(merged_communes, len(communes))) if communes else 0
    merged = tuple(
        UnitProfile(code=f"{MERGED_PREFIX}{j + 1:02d}",
                    name=_MERGED_NAMES[j] if j < len(_MERGED_NAMES) else
                    f"UBND xã mới {j + 1} [M]",
                    level="commune", parent=PROVINCE.code)
        for j in range(n_new))
    successor = {u.code: merged[i * n_new // len(communes)].code
                 for i, u in enumerate(communes)}
    for u in units:
        if u.level == "district":
            successor[u.code] = PROVINCE.code
    return Reorganisation(cutover, merged, successor)


def registry_rows(units: Sequence[UnitProfile],
                  reorg: Reorganisation | None) -> list[tuple[str, ...]]:
    """The rows (without header) of the v1.1 registry of a run over ``units``."""
    if reorg is None:
        return [(u.code, u.name, u.level, u.parent, "", "", "") for u in (PROVINCE, *units)]
    last = (reorg.cutover - timedelta(days=1)).isoformat()
    first = reorg.cutover.isoformat()
    rows: list[tuple[str, ...]] = [
        (PROVINCE.code, PROVINCE.name, "province", "", "", last, ""),
        (PROVINCE.code, PROVINCE_AFTER_NAME, "province", "", first, "", "")]
    for u in units:
        rows.append((u.code, u.name, u.level, u.parent, "", last,
                     reorg.successor.get(u.code, "")))
    rows += [(u.code, u.name, u.level, u.parent, first, "", "") for u in reorg.merged]
    return rows


def write_registry(path: str | Path, rows: Sequence[Sequence[str]]) -> int:
    """Write a v1.1 registry CSV (UTF-8, header :data:`REGISTRY_COLUMNS`); the row count."""
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(REGISTRY_COLUMNS)
        writer.writerows(rows)
    return len(rows)


__all__ = [
    "DISTRICT_CODE",
    "MERGED_PREFIX",
    "REGISTRY_COLUMNS",
    "Reorganisation",
    "plan_reorganisation",
    "registry_rows",
    "write_registry",
]
