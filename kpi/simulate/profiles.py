"""Emitting units (đơn vị) and their annual calibration: Tân Hồng district, Đồng Tháp, 2023.

The district desk receives 3,252 dossiers a year, 2,413 online (74.2%), 99.15% on time among
resolved; its commune-level units receive 24,378 in total, 15,121 online (62.02%), 99.61% on
time (seed report 114/BC-UBND, docs/domain.md). :func:`default_units` splits the level
totals exactly across any number of communes (largest-remainder allocation, fixed relative
sizes and online tilts: nothing here is seeded).
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class UnitProfile:
    """One emitting unit (đơn vị) and its annual calibration.

    ``dossiers_per_year`` and ``online_per_year`` are exact annual receipt counts for a full
    calendar year at scale 1; ``on_time_share`` is among resolved dossiers; ``postal_share``
    is among the non-online ones (bưu chính công ích), the rest being direct (trực tiếp).
    """

    code: str
    name: str
    level: str
    parent: str
    dossiers_per_year: int = 0
    online_per_year: int = 0
    on_time_share: float = 0.99
    postal_share: float = 0.02


PROVINCE = UnitProfile(code="DT", name="UBND tỉnh Đồng Tháp", level="province", parent="")
DISTRICT_CODE = "DT.TANHONG"

# The nine commune-level units of Tân Hồng (one township, eight communes), then other
# Đồng Tháp communes when more are asked for. Relative sizes are fixed (not seeded).
_COMMUNE_NAMES: tuple[tuple[str, float], ...] = (
    ("UBND thị trấn Sa Rài", 1.9),
    ("UBND xã Tân Hộ Cơ", 1.3),
    ("UBND xã Thông Bình", 1.1),
    ("UBND xã Bình Phú", 1.0),
    ("UBND xã Tân Thành A", 0.9),
    ("UBND xã Tân Thành B", 0.8),
    ("UBND xã Tân Phước", 0.9),
    ("UBND xã Tân Công Chí", 0.8),
    ("UBND xã An Phước", 0.7),
    ("UBND xã Thường Thới Tiền", 1.0),
    ("UBND xã Thường Phước 1", 0.9),
    ("UBND xã Thường Phước 2", 0.8),
    ("UBND xã Long Khánh A", 1.0),
    ("UBND xã Long Khánh B", 0.9),
    ("UBND xã Long Thuận", 0.8),
    ("UBND xã Phú Thuận A", 0.9),
    ("UBND xã Phú Thuận B", 0.8),
    ("UBND xã Thường Lạc", 0.7),
)
# Online-share offsets per commune (percentage points), rescaled to the exact level total.
_ONLINE_TILT = (0.10, 0.04, -0.03, 0.02, -0.06, 0.0, -0.04, 0.05, -0.08, 0.03, -0.02, 0.01)

TAN_HONG_2023 = {
    "district": {"received": 3252, "online": 2413, "on_time": 0.9915},
    "commune": {"received": 24378, "online": 15121, "on_time": 0.9961},
}
"""Seed report 114/BC-UBND (docs/domain.md): received, online and on-time share by level."""


def _largest_remainder(total: int, weights: Sequence[float]) -> list[int]:
    """Split ``total`` into integers proportional to ``weights`` with an exact sum."""
    wsum = sum(weights)
    raw = [total * w / wsum for w in weights]
    out = [int(x) for x in raw]
    rest = total - sum(out)
    order = sorted(range(len(raw)), key=lambda i: (out[i] - raw[i], i))
    for i in order[:rest]:
        out[i] += 1
    return out


def default_units(communes: int = 9) -> tuple[UnitProfile, ...]:
    """Tân Hồng district and ``communes`` commune-level units, calibrated to 2023.

    The commune totals (24,378 received, 15,121 online) are split exactly across the
    communes, whatever their number, with fixed relative sizes and online tilts.
    """
    if communes < 0:
        raise ValueError("communes must be >= 0")
    d = TAN_HONG_2023["district"]
    c = TAN_HONG_2023["commune"]
    units = [
        UnitProfile(
            code=DISTRICT_CODE,
            name="UBND huyện Tân Hồng",
            level="district",
            parent=PROVINCE.code,
            dossiers_per_year=int(d["received"]),
            online_per_year=int(d["online"]),
            on_time_share=float(d["on_time"]),
            postal_share=0.01,
        )
    ]
    if communes == 0:
        return tuple(units)
    names = [
        _COMMUNE_NAMES[i] if i < len(_COMMUNE_NAMES) else (f"UBND xã Mẫu {i + 1}", 1.0)
        for i in range(communes)
    ]
    sizes = _largest_remainder(int(c["received"]), [w for _, w in names])
    base = c["online"] / c["received"]
    tilt = [
        min(0.98, max(0.05, base + _ONLINE_TILT[i % len(_ONLINE_TILT)])) * sizes[i]
        for i in range(communes)
    ]
    online = _largest_remainder(int(c["online"]), tilt)
    # cap at the unit's size, moving any excess to units with room
    for i in range(communes):
        excess = online[i] - sizes[i]
        if excess > 0:
            online[i] = sizes[i]
            for j in range(communes):
                room = sizes[j] - online[j]
                move = min(room, excess)
                online[j] += move
                excess -= move
                if not excess:
                    break
    for i, (name, _) in enumerate(names):
        units.append(
            UnitProfile(
                code=f"{DISTRICT_CODE}.X{i + 1:02d}",
                name=name,
                level="commune",
                parent=DISTRICT_CODE,
                dossiers_per_year=sizes[i],
                online_per_year=online[i],
                on_time_share=float(c["on_time"]),
                postal_share=0.01,
            )
        )
    return tuple(units)


def write_unit_registry(path: str | Path, units: Iterable[UnitProfile]) -> int:
    """Write the unit registry CSV (``code,name,level,parent``), UTF-8; returns the row count.

    Pass ``(PROVINCE, *units)`` to include the province row the district points to.
    """
    n = 0
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(["code", "name", "level", "parent"])
        for u in units:
            writer.writerow([u.code, u.name, u.level, u.parent])
            n += 1
    return n


__all__ = [
    "DISTRICT_CODE",
    "PROVINCE",
    "TAN_HONG_2023",
    "UnitProfile",
    "default_units",
    "write_unit_registry",
]
