"""A realistic, deterministic simulator of v1 one-stop (một cửa) events.

Pure Python: no broker, no database. The core API is a pair of generators,

* :func:`generate_events` ``(config) -> Iterator[dict]``: valid v1 events (plus exact
  duplicates when asked), in business-time order unless shuffled;
* :func:`generate_lines` ``(config) -> Iterator[bytes]``: the same events as JSON documents
  (one per item, no trailing newline), with invalid lines injected when asked,

so a file writer, a Kafka publisher (``motcua ingest``) or a live demo (paced by
:func:`paced` with ``config.rate``) all consume the same stream.

Calibration (defaults, see ../shared/DOMAIN.md): Tân Hồng district, Đồng Tháp, 2023 —
the district desk receives 3,252 dossiers a year, 2,413 online (74.2%), 99.15% on time
among resolved; its commune-level units receive 24,378 in total, 15,121 online (62.02%),
99.61% on time. Receipt volumes and online counts per unit are exact (largest-remainder
allocation, then ``round(annual × scale × years)``); the other behaviours (supplements,
apologies, rejections, fees, ratings…) are per-dossier draws with the shares of
:class:`SimulationConfig`.

Timing: receipts fall on working days of :class:`kpi.calendar.WorkingCalendar` in office
hours (7:30–17:00 local); the due instant is ``WorkingCalendar.due_instant``; the
resolution is placed in *office time* (working days × 9.5 h) relative to that due
instant, so a dossier is early, on time or late by construction; citizen pauses
(supplementation) are added on top in calendar days. Events after the end of the range
(local midnight after ``end``) are not emitted, so dossiers received in the last days are
still in progress.

The hot loop works on integer epoch seconds and formats timestamps with a per-day cache.
"""

from __future__ import annotations

import csv
import heapq
import random
import time as _time
from bisect import bisect_right
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from itertools import accumulate
from pathlib import Path
from typing import Any

import orjson

from kpi.calendar import (
    DEFAULT_RULES,
    CalendarRules,
    WorkingCalendar,
    date_to_day,
    day_to_date,
    local_day,
)

PREFIX = "vn.gov.motcua."
LOCAL_OFFSET = 7 * 3600
DAY = 86400
OFFICE_OPEN = 7 * 3600 + 1800  # 7:30 local
OFFICE_CLOSE = 17 * 3600  # 17:00 local
OFFICE_LEN = OFFICE_CLOSE - OFFICE_OPEN  # 34,200 s of office time per working day
_OPEN_UTC = OFFICE_OPEN - LOCAL_OFFSET  # 7:30 local as seconds after 00:00 UTC

DEFAULT_SOURCE = "urn:motcua:dvc:dong-thap"

INVALID_KINDS: tuple[str, ...] = (
    "bad_json",
    "missing_subject",
    "naive_timestamp",
    "unknown_type",
    "bad_enum",
    "negative_amount",
)
"""Kinds of invalid lines :func:`generate_lines` injects, in round-robin order."""


# --------------------------------------------------------------------------- units


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
"""Seed report 114/BC-UBND (DOMAIN.md): received, online and on-time share by level."""


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


# --------------------------------------------------------------------------- procedures


@dataclass(frozen=True)
class Procedure:
    """A procedure (TTHC) as the simulator needs it.

    Codes are in the national procedure database format and illustrative. ``office`` is
    the specialised office the desk transfers the dossier to (a ``dossier.transferred``),
    ``per_page`` multiplies the fee by 1–5 pages (chứng thực).
    """

    code: str
    name: str
    days: int
    weight: float
    fee_vnd: int = 0
    full_online: bool = False
    components: int = 2
    office: str | None = None
    per_page: bool = False


COMMUNE_PROCEDURES: tuple[Procedure, ...] = (
    Procedure("2.000815", "Chứng thực bản sao từ bản chính", 1, 16, 2000, False, 1, None, True),
    Procedure("2.000884", "Chứng thực chữ ký trong giấy tờ, văn bản", 1, 6, 10000, False, 1),
    Procedure("2.001035", "Chứng thực hợp đồng, giao dịch liên quan đến nhà ở", 2, 3, 50000,
              False, 4),
    Procedure("1.001193", "Đăng ký khai sinh", 1, 18, 0, True, 3),
    Procedure("1.000656", "Đăng ký khai tử", 1, 5, 0, True, 2),
    Procedure("1.000894", "Đăng ký kết hôn", 3, 4, 0, False, 3),
    Procedure("1.004873", "Cấp Giấy xác nhận tình trạng hôn nhân", 3, 12, 0, True, 2),
    Procedure("2.000635", "Cấp bản sao Trích lục hộ tịch", 1, 6, 8000, True, 1),
    Procedure("1.001022", "Đăng ký nhận cha, mẹ, con", 3, 2, 0, False, 4),
    Procedure("1.003596", "Xác nhận hộ gia đình làm nông nghiệp có mức sống trung bình", 5, 6,
              0, False, 3),
    Procedure("2.000744", "Hỗ trợ chi phí mai táng cho đối tượng bảo trợ xã hội", 3, 3, 0,
              False, 4),
    Procedure("1.001776", "Thực hiện trợ cấp xã hội hàng tháng", 15, 5, 0, False, 5),
    Procedure("1.000775", "Xác nhận đơn đề nghị vay vốn hỗ trợ tạo việc làm", 5, 10, 0, True,
              2),
)

DISTRICT_PROCEDURES: tuple[Procedure, ...] = (
    Procedure("2.000720", "Đăng ký thành lập hộ kinh doanh", 3, 20, 100000, True, 3, "PTCKH"),
    Procedure("2.000575", "Đăng ký thay đổi nội dung đăng ký hộ kinh doanh", 3, 8, 50000,
              True, 2, "PTCKH"),
    Procedure("1.001699", "Cấp giấy phép xây dựng nhà ở riêng lẻ", 15, 6, 75000, False, 6,
              "PKTHT"),
    Procedure("1.004227", "Đăng ký biến động quyền sử dụng đất", 10, 4, 30000, False, 5,
              "PTNMT"),
    Procedure("1.003347", "Chứng thực bản sao từ bản chính (Phòng Tư pháp)", 1, 4, 2000, False,
              1, None, True),
    Procedure("1.001766", "Thay đổi, cải chính, bổ sung thông tin hộ tịch", 3, 8, 0, True, 3,
              "PTP"),
    Procedure("1.005097", "Cấp Giấy phép bán lẻ rượu", 10, 2, 200000, False, 4, "PKTHT"),
    Procedure("1.001731", "Giải quyết chế độ trợ cấp đối tượng bảo trợ xã hội", 15, 14, 0,
              False, 5, "PLĐTBXH"),
    Procedure("2.000286", "Cấp Giấy chứng nhận cơ sở đủ điều kiện an toàn thực phẩm", 15, 3,
              0, False, 5, "PKT"),
    Procedure("1.002335", "Xét tặng danh hiệu Gia đình văn hóa", 5, 12, 0, True, 2, "PVHTT"),
    Procedure("1.001978", "Đăng ký khai sinh có yếu tố nước ngoài", 5, 5, 0, True, 4, "PTP"),
    Procedure("1.000593", "Cấp đổi giấy phép lái xe nội địa (tiếp nhận)", 5, 10, 0, True, 2),
)

PROCEDURES_BY_LEVEL: dict[str, tuple[Procedure, ...]] = {
    "province": DISTRICT_PROCEDURES,
    "district": DISTRICT_PROCEDURES,
    "commune": COMMUNE_PROCEDURES,
}


def expected_fee_share(procedures: Sequence[Procedure]) -> float:
    """Weighted share of dossiers whose procedure has a fee (before exemptions)."""
    total = sum(p.weight for p in procedures)
    return sum(p.weight for p in procedures if p.fee_vnd > 0) / total


# --------------------------------------------------------------------------- config


@dataclass(frozen=True)
class SimulationConfig:
    """Everything a run depends on; the same config and seed give the same events.

    Shares are probabilities per dossier unless said otherwise. ``rate`` (events/s) is for
    live publishing only (:func:`paced`); ``None`` = as fast as possible.
    """

    seed: int = 2025
    start: date = date(2025, 1, 1)
    end: date = date(2025, 12, 31)
    scale: float = 1.0
    communes: int = 9
    units: tuple[UnitProfile, ...] | None = None
    source: str = DEFAULT_SOURCE
    code_prefix: str = "DT"
    calendar_rules: CalendarRules = DEFAULT_RULES
    procedures: tuple[tuple[str, tuple[Procedure, ...]], ...] = tuple(
        PROCEDURES_BY_LEVEL.items()
    )
    """(unit level, procedure catalog) pairs; hashable so a config can be a cache key."""
    # dossier fates and behaviours
    supplement_share: float = 0.05
    double_supplement_late_share: float = 0.25
    apology_before_due_share: float = 0.75
    apology_after_due_share: float = 0.15
    rejection_share: float = 0.005
    withdrawal_share: float = 0.003
    fee_exempt_share: float = 0.05
    online_payment_share: float = 0.5
    digitized_event_share: float = 0.95
    digitized_complete_share: float = 0.85
    rated_share: float = 0.30
    satisfied_share: float = 0.95
    e_result_share: float = 0.40
    full_online_share: float = 0.85
    due_at_share: float = 0.4
    transfer_share: float = 0.8
    returned_only_share: float = 0.03
    # test-data options
    shuffle: bool = False
    shuffle_window: int | None = None
    duplicates: float = 0.0
    invalid: float = 0.0
    rate: float | None = None

    def __post_init__(self) -> None:
        if self.end < self.start:
            raise ValueError("end must not be before start")
        if self.scale <= 0:
            raise ValueError("scale must be > 0")
        for name in (
            "supplement_share", "double_supplement_late_share", "apology_before_due_share",
            "apology_after_due_share", "rejection_share", "withdrawal_share",
            "fee_exempt_share", "online_payment_share", "digitized_event_share",
            "digitized_complete_share", "rated_share", "satisfied_share", "e_result_share",
            "full_online_share", "due_at_share", "transfer_share", "returned_only_share",
            "duplicates", "invalid",
        ):
            v = getattr(self, name)
            if not 0.0 <= v <= 1.0:
                raise ValueError(f"{name} must be within [0, 1], got {v}")
        if self.apology_before_due_share + self.apology_after_due_share > 1:
            raise ValueError("apology shares must sum to <= 1")
        if self.digitized_complete_share > self.digitized_event_share:
            raise ValueError("digitized_complete_share must be <= digitized_event_share")
        if self.rate is not None and self.rate <= 0:
            raise ValueError("rate must be > 0 (or None)")
        for _, procs in self.procedures:
            for p in procs:
                if not 0 <= p.days <= 60:
                    raise ValueError(f"procedure {p.code}: days must be within 0..60")

    def procedures_by_level(self) -> dict[str, tuple[Procedure, ...]]:
        return dict(self.procedures)

    def resolved_units(self) -> tuple[UnitProfile, ...]:
        return self.units if self.units is not None else default_units(self.communes)

    @property
    def end_instant(self) -> int:
        """Epoch seconds of local midnight after ``end``: nothing is emitted at or after it."""
        return (date_to_day(self.end) + 1) * DAY - LOCAL_OFFSET


@dataclass
class UnitStats:
    dossiers: int = 0
    online: int = 0
    events: int = 0


@dataclass
class SimulationStats:
    """Filled while a generator runs (pass one in to watch progress)."""

    dossiers: int = 0
    events: int = 0
    duplicates: int = 0
    invalid: Counter[str] = field(default_factory=Counter)
    by_unit: dict[str, UnitStats] = field(default_factory=dict)
    by_type: Counter[str] = field(default_factory=Counter)

    @property
    def lines(self) -> int:
        return self.events + self.duplicates + sum(self.invalid.values())


# --------------------------------------------------------------------------- planning


def _working_days(cal: WorkingCalendar, first: date, last: date) -> list[int]:
    out = []
    d = first
    one = timedelta(days=1)
    while d <= last:
        if cal.is_working_day(d):
            out.append(date_to_day(d))
        d += one
    return out


def _years_equivalent(cal: WorkingCalendar, start: date, end: date) -> float:
    """The range as a number of years, counted in working days of each calendar year."""
    total = 0.0
    for year in range(start.year, end.year + 1):
        in_year = len(_working_days(cal, date(year, 1, 1), date(year, 12, 31)))
        lo = max(start, date(year, 1, 1))
        hi = min(end, date(year, 12, 31))
        total += len(_working_days(cal, lo, hi)) / in_year
    return total


def planned_counts(config: SimulationConfig) -> dict[str, tuple[int, int]]:
    """Exact (received, online) per unit code that a run of ``config`` generates."""
    cal = WorkingCalendar(config.calendar_rules)
    years = _years_equivalent(cal, config.start, config.end)
    out = {}
    for u in config.resolved_units():
        n = round(u.dossiers_per_year * config.scale * years + 1e-9)
        on = min(n, round(u.online_per_year * config.scale * years + 1e-9))
        out[u.code] = (n, on)
    return out


_WEEKDAY_WEIGHT = (1.18, 1.06, 1.0, 0.98, 0.9, 0.75, 0.5)
_MONTH_WEIGHT = (1.1, 0.85, 1.05, 1.0, 0.95, 1.0, 1.0, 1.0, 0.95, 1.0, 1.0, 1.1)


# --------------------------------------------------------------------------- formatting


_HMS: list[str] = []


def _hms_table() -> list[str]:
    if not _HMS:
        _HMS.extend(
            f"{s // 3600:02d}:{s // 60 % 60:02d}:{s % 60:02d}+07:00" for s in range(DAY)
        )
    return _HMS


class _TimeFormatter:
    """RFC 3339 local (+07:00) text of integer epoch seconds, cached per local day."""

    def __init__(self) -> None:
        self.hms = _hms_table()
        self.days: dict[int, str] = {}

    def __call__(self, ts: int) -> str:
        lt = ts + LOCAL_OFFSET
        day, sod = divmod(lt, DAY)
        prefix = self.days.get(day)
        if prefix is None:
            prefix = day_to_date(day).isoformat() + "T"
            self.days[day] = prefix
        return prefix + self.hms[sod]


def format_time(ts: float) -> str:
    """``2025-04-29T08:00:00+07:00`` for epoch seconds (whole seconds)."""
    return _TimeFormatter()(int(ts))


# --------------------------------------------------------------------------- generation

_SUPPLEMENT_REASONS = (
    "Thiếu bản sao giấy tờ tùy thân",
    "Thông tin trên tờ khai chưa chính xác",
    "Thiếu chữ ký của người yêu cầu",
    "Cần bổ sung bản vẽ, sơ đồ",
    "Giấy tờ kèm theo hết hiệu lực",
)
_REJECT_REASONS = (
    "Hồ sơ không thuộc thẩm quyền giải quyết",
    "Không đủ điều kiện giải quyết theo quy định",
    "Giấy tờ có dấu hiệu giả mạo",
)
_PAUSE_DAYS = (1, 1, 2, 2, 3, 3, 4, 5, 7, 10)
_LATE_DAYS = (1, 1, 1, 1, 2, 2, 3, 5)
_RETURN_DAYS = (0, 0, 0, 1, 1, 2, 3, 5)

_T_RECEIVED = PREFIX + "dossier.received"
_T_TRANSFERRED = PREFIX + "dossier.transferred"
_T_SUPP_REQ = PREFIX + "dossier.supplement_requested"
_T_SUPP = PREFIX + "dossier.supplemented"
_T_EXTENDED = PREFIX + "dossier.extended"
_T_RESOLVED = PREFIX + "dossier.resolved"
_T_RETURNED = PREFIX + "dossier.returned"
_T_REJECTED = PREFIX + "dossier.rejected"
_T_WITHDRAWN = PREFIX + "dossier.withdrawn"
_T_DIGITIZED = PREFIX + "dossier.digitized"
_T_PAYMENT = PREFIX + "payment.completed"
_T_RATED = PREFIX + "feedback.rated"


class _Core:
    """The valid-event generator (one run)."""

    def __init__(self, config: SimulationConfig, stats: SimulationStats) -> None:
        self.c = config
        self.stats = stats
        self.rng = random.Random(config.seed)
        self.cal = WorkingCalendar(config.calendar_rules)
        self.fmt = _TimeFormatter()
        self.end_ts = config.end_instant
        # working-day table, far enough past the end for due dates, lateness and returns
        last = config.end + timedelta(days=400)
        self.wdays = _working_days(self.cal, config.start, last)
        self.widx = {d: k for k, d in enumerate(self.wdays)}
        self.units = config.resolved_units()
        self.plan = planned_counts(config)
        self.seq_by_year: Counter[int] = Counter()
        self.heap: list[tuple[int, int, dict[str, Any]]] = []
        self.push_seq = 0
        self.proc_tables: dict[str, tuple[tuple[Procedure, ...], list[float], float]] = {}
        for level, procs in config.procedures:
            cum = list(accumulate(p.weight for p in procs))
            self.proc_tables[level] = (procs, cum, cum[-1])

    # -- helpers on (working-day index k, office second s) ---------------------------

    def ts_of(self, k: int, s: int) -> int:
        return self.wdays[k] * DAY + _OPEN_UTC + s

    def ks_of(self, ts: int) -> tuple[int, int]:
        """Working-day index and office second of an instant on a working day, in hours."""
        lt = ts + LOCAL_OFFSET
        day = lt // DAY
        return self.widx[day], lt - day * DAY - OFFICE_OPEN

    def _receipt_days(self) -> list[list[tuple[int, int]]]:
        """Per working day in range: the (receipt second, unit index) of its dossiers."""
        rng = self.rng
        last_day = date_to_day(self.c.end)
        in_range = [d for d in self.wdays if d <= last_day]
        weights = []
        for d in in_range:
            dt = day_to_date(d)
            weights.append(_WEEKDAY_WEIGHT[dt.weekday()] * _MONTH_WEIGHT[dt.month - 1])
        cum = list(accumulate(weights))
        per_day: list[list[tuple[int, int]]] = [[] for _ in in_range]
        if not in_range:
            return per_day
        for ui, u in enumerate(self.units):
            n = self.plan[u.code][0]
            for k in rng.choices(range(len(in_range)), cum_weights=cum, k=n):
                per_day[k].append((self._receipt_second(), ui))
        for lst in per_day:
            lst.sort()
        return per_day

    def _receipt_second(self) -> int:
        u = self.rng.random()
        if u < 0.55:  # morning 7:30-11:30
            return int(self.rng.random() * 14400)
        if u < 0.95:  # afternoon 13:30-17:00
            return 21600 + int(self.rng.random() * 12599)
        return 14400 + int(self.rng.random() * 7200)  # lunch desk

    def _channels(self, u: UnitProfile) -> list[str]:
        n, on = self.plan[u.code]
        postal = round((n - on) * u.postal_share)
        chans = ["online"] * on + ["postal"] * postal + ["direct"] * (n - on - postal)
        self.rng.shuffle(chans)
        return chans

    # -- the stream -----------------------------------------------------------------

    def run(self) -> Iterator[dict[str, Any]]:
        per_day = self._receipt_days()
        channels = [self._channels(u) for u in self.units]
        heap = self.heap
        heappop = heapq.heappop
        stats = self.stats
        for k, receipts in enumerate(per_day):
            for s, ui in receipts:
                ts = self.ts_of(k, s)
                while heap and heap[0][0] <= ts:
                    yield heappop(heap)[2]
                received = self._dossier(k, s, ts, self.units[ui], channels[ui].pop())
                stats.dossiers += 1
                yield received
        while heap:
            yield heappop(heap)[2]

    def _dossier(self, k_r: int, s_r: int, ts_r: int, unit: UnitProfile, channel: str
                 ) -> dict[str, Any]:
        c = self.c
        rng = self.rng
        rand = rng.random
        L = OFFICE_LEN
        # ---- identity and procedure
        year = day_to_date(self.wdays[k_r]).year
        self.seq_by_year[year] += 1
        subject = f"{c.code_prefix}-{year}-{self.seq_by_year[year]:06d}"
        procs, cum, total = self.proc_tables[unit.level]
        proc = procs[bisect_right(cum, rand() * total)]
        days = proc.days
        due_ts = int(self.cal.due_instant(float(ts_r), days))
        due_k = self.widx[local_day(due_ts)]
        w_r = k_r * L + s_r
        due_start = due_k * L  # office-time start of the due day
        online = channel == "online"
        eligible = proc.full_online
        if online:
            level = "full" if eligible and rand() < c.full_online_share else "partial"
        else:
            level = "none"
        fee = proc.fee_vnd > 0 and rand() >= c.fee_exempt_share
        paper = not (level == "full" and rand() < 0.2)
        data: dict[str, Any] = {
            "unit_code": unit.code,
            "unit_level": unit.level,
            "procedure_code": proc.code,
            "channel": channel,
            "online_level": level,
            "full_online_eligible": eligible,
        }
        if rand() < c.due_at_share:
            data["due_at"] = self.fmt(due_ts)
        else:
            data["processing_days"] = days
        data["fee_required"] = fee
        data["paper_result"] = paper
        events: list[tuple[int, str, dict[str, Any]]] = []
        ev = events.append

        # ---- side events at receipt
        if proc.office is not None and rand() < c.transfer_share:
            ev((ts_r + 300 + int(rand() * 7200), _T_TRANSFERRED,
                {"from_unit": unit.code, "to_unit": f"{unit.code}.{proc.office}"}))
        u = rand()
        if u < c.digitized_event_share:
            n_comp = max(1, proc.components + (rng.randrange(3) - 1))
            t_dig = ts_r + 60 + int(rand() * 1800)
            reused = rng.randrange(n_comp + 1) if rand() < 0.2 else 0
            if u < c.digitized_complete_share:
                if rand() < 0.1 and n_comp > 1:  # scanned in two passes
                    ev((t_dig, _T_DIGITIZED, {"components_total": n_comp,
                                              "components_digitized": n_comp - 1,
                                              "components_reused": 0}))
                    t_dig += DAY + int(rand() * 3600)
                ev((t_dig, _T_DIGITIZED, {"components_total": n_comp,
                                          "components_digitized": n_comp,
                                          "components_reused": reused}))
            else:
                done = rng.randrange(n_comp)
                ev((t_dig, _T_DIGITIZED, {"components_total": n_comp,
                                          "components_digitized": done,
                                          "components_reused": min(reused, done)}))

        fate = rand()
        if fate < c.rejection_share:
            span = max(600, min(2 * L, due_start + L - w_r - 600))
            t = self._office_ts(w_r + 300 + int(rand() * span))
            ev((t, _T_REJECTED, {"reason": _REJECT_REASONS[rng.randrange(3)]}))
            events[:] = [e for e in events if e[0] <= t]
        elif fate < c.rejection_share + c.withdrawal_share:
            span = max(600, due_start + L - w_r - 900)
            w = w_r + 300 + int(rand() * span)
            if rand() < 0.3:  # gave up during a supplementation request
                t_req = self._office_ts(w)
                ev((t_req, _T_SUPP_REQ,
                    {"reason": _SUPPLEMENT_REASONS[rng.randrange(5)]}))
                ev((t_req + DAY * _PAUSE_DAYS[rng.randrange(10)] + int(rand() * 3600),
                    _T_WITHDRAWN, {}))
            else:
                ev((self._office_ts(w), _T_WITHDRAWN, {}))
            self._payment(events, fee, online, ts_r, proc, before=None)
            t_end = max(t for t, typ, _ in events if typ in (_T_WITHDRAWN, _T_REJECTED))
            events[:] = [e for e in events if e[0] <= t_end]
        else:
            self._resolution(events, unit, proc, subject, online, fee, paper, level,
                             ts_r, w_r, due_ts, due_start)

        # ---- emit
        end_ts = self.end_ts
        received = {
            "specversion": "1.0",
            "id": subject + ".e1",
            "source": c.source,
            "type": _T_RECEIVED,
            "time": self.fmt(ts_r),
            "subject": subject,
            "datacontenttype": "application/json",
            "data": data,
        }
        events.sort(key=_first)
        ustats = self.stats.by_unit.get(unit.code)
        if ustats is None:
            ustats = self.stats.by_unit[unit.code] = UnitStats()
        ustats.dossiers += 1
        ustats.online += online
        by_type = self.stats.by_type
        by_type[_T_RECEIVED] += 1
        n = 1
        heap = self.heap
        source = c.source
        fmt = self.fmt
        for t, typ, d in events:
            if t >= end_ts:
                continue
            n += 1
            self.push_seq += 1
            heapq.heappush(heap, (t, self.push_seq, {
                "specversion": "1.0",
                "id": f"{subject}.e{n}",
                "source": source,
                "type": typ,
                "time": fmt(t),
                "subject": subject,
                "datacontenttype": "application/json",
                "data": d,
            }))
            by_type[typ] += 1
        ustats.events += n
        self.stats.events += n
        return received

    def _office_ts(self, w: int) -> int:
        k, s = divmod(w, OFFICE_LEN)
        return self.ts_of(k, s)

    def _payment(self, events: list[tuple[int, str, dict[str, Any]]], fee: bool, online: bool,
                 ts_r: int, proc: Procedure, before: int | None) -> None:
        if not fee:
            return
        rand = self.rng.random
        amount = proc.fee_vnd * (1 + self.rng.randrange(5) if proc.per_page else 1)
        if online and rand() < self.c.online_payment_share:
            data: dict[str, Any] = {"amount_vnd": amount, "method": "online",
                                    "gateway": "dvcqg" if rand() < 0.7 else "provincial"}
            t = ts_r + 60 + int(rand() * 3600)
        else:
            data = {"amount_vnd": amount, "method": "cash" if rand() < 0.75 else "transfer"}
            if before is not None and rand() < 0.3:  # paid when collecting the result
                t = before - 60 - int(rand() * 600)
            else:
                t = ts_r + 60 + int(rand() * 900)
        events.append((max(t, ts_r + 1), _T_PAYMENT, data))

    def _resolution(self, events: list[tuple[int, str, dict[str, Any]]], unit: UnitProfile,
                    proc: Procedure, subject: str, online: bool, fee: bool, paper: bool,
                    level: str, ts_r: int, w_r: int, due_ts: int, due_start: int) -> None:
        c = self.c
        rng = self.rng
        rand = rng.random
        L = OFFICE_LEN
        ev = events.append
        late = rand() >= unit.on_time_share
        # adjusted completion (office time): early, on the due day, or late
        if late:
            w_adj = due_start + L + int(rand() * L * _LATE_DAYS[rng.randrange(8)])
        elif rand() < 0.35 or due_start - w_r < 1800:
            lo = max(0, w_r - due_start + 60)
            w_adj = due_start + lo + int(rand() * (L - 60 - lo))
        else:
            w_adj = w_r + 600 + int((due_start - w_r - 660) * rand() ** 1.3)
        # supplementation pauses (citizen time, whole calendar days)
        if late and rand() < c.double_supplement_late_share:
            n_pause = 2
        else:
            n_pause = 1 if rand() < c.supplement_share else 0
        if w_adj - w_r < 1200:
            n_pause = 0
        pause_total = 0
        if n_pause:
            points = sorted(w_r + 300 + int(rand() * (w_adj - w_r - 600)) for _ in range(n_pause))
            for i, w in enumerate(points):
                d = _PAUSE_DAYS[rng.randrange(10)]
                t_req = self._office_ts(w) + pause_total
                if i == n_pause - 1:  # the completion must land on a working day
                    base = self._office_ts(w_adj) + pause_total
                    while local_day(base + d * DAY) + 0 not in self.widx:
                        d += 1
                ev((t_req, _T_SUPP_REQ, {"reason": _SUPPLEMENT_REASONS[rng.randrange(5)]}))
                ev((t_req + d * DAY, _T_SUPP, {}))
                pause_total += d * DAY
        res_ts = self._office_ts(w_adj) + pause_total
        k_res, s_res = self.ks_of(res_ts)
        # apology and a new appointment for late dossiers
        if late:
            a = rand()
            if a < c.apology_before_due_share:
                lo = max(w_r + 300, due_start - 2 * L)
                t_ext = self._office_ts(lo + int(rand() * (due_start + L - 300 - lo)))
            elif a < c.apology_before_due_share + c.apology_after_due_share:
                t_ext = due_ts + 60 + int(rand() * max(0, res_ts - due_ts - 120))
            else:
                t_ext = 0
            if t_ext:
                new_due = self.ts_of(k_res + _RETURN_DAYS[rng.randrange(8)] // 2, L)
                ev((t_ext, _T_EXTENDED, {"new_due_at": self.fmt(new_due),
                                         "apology_ref": f"{subject}/TB-XL"}))
        electronic = (not paper) or rand() < c.e_result_share
        returned_only = not electronic and rand() < c.returned_only_share
        if not returned_only:
            ev((res_ts, _T_RESOLVED, {"result_electronic": electronic}))
        # return of the result (for a system that only reports returns, that is completion)
        if returned_only:
            ret_ts = res_ts
            ret_channel = "counter"
        elif online and electronic:
            ret_ts = res_ts + 60 + int(rand() * 1800)
            ret_channel = "online"
        else:
            j = _RETURN_DAYS[rng.randrange(8)]
            if j == 0 and s_res > L - 120:
                j = 1
            if j == 0:
                s = s_res + 60 + int(rand() * (L - s_res - 60))
            else:
                s = int(rand() * L)
            ret_ts = self.ts_of(k_res + j, s)
            ret_channel = "postal" if not online and rand() < 0.05 else "counter"
        ev((ret_ts, _T_RETURNED, {"return_channel": ret_channel}))
        self._payment(events, fee, online, ts_r, proc, before=ret_ts)
        if rand() < c.rated_share:
            r = rand()
            if late:
                rating = "satisfied" if r < 0.6 else "neutral" if r < 0.85 else "dissatisfied"
            else:
                sat = c.satisfied_share
                rating = ("satisfied" if r < sat else
                          "neutral" if r < sat + (1 - sat) * 0.75 else "dissatisfied")
            ev((ret_ts + 60 + int(rand() * 3 * DAY), _T_RATED, {"rating": rating}))


def _first(item: tuple[int, str, dict[str, Any]]) -> int:
    return item[0]


# --------------------------------------------------------------------------- public API


def _copy_event(event: dict[str, Any]) -> dict[str, Any]:
    copy = dict(event)
    copy["data"] = dict(event["data"])
    return copy


def generate_events(config: SimulationConfig,
                    stats: SimulationStats | None = None) -> Iterator[dict[str, Any]]:
    """Valid v1 events as dicts (EVENTS.md), in business-time order unless shuffled.

    With ``config.duplicates`` some events are re-emitted (an equal copy, same ``id``) a few
    events later; with ``config.shuffle`` the arrival order is shuffled (the whole stream,
    or within a sliding window of ``config.shuffle_window`` events). The duplicate and
    shuffle draws use their own random streams: the set of events does not depend on them.
    """
    stats = stats if stats is not None else SimulationStats()
    stream: Iterator[dict[str, Any]] = _Core(config, stats).run()
    if config.duplicates > 0:
        stream = _with_duplicates(stream, config.duplicates,
                                  random.Random(f"dup:{config.seed}"), stats)
    if config.shuffle:
        stream = _shuffled(stream, config.shuffle_window, random.Random(f"shuf:{config.seed}"))
    return stream


def _with_duplicates(stream: Iterator[dict[str, Any]], fraction: float, rng: random.Random,
                     stats: SimulationStats) -> Iterator[dict[str, Any]]:
    pending: list[tuple[int, int, dict[str, Any]]] = []
    i = 0
    for event in stream:
        yield event
        i += 1
        if rng.random() < fraction:
            heapq.heappush(pending, (i + rng.randrange(20), i, _copy_event(event)))
        while pending and pending[0][0] <= i:
            stats.duplicates += 1
            yield heapq.heappop(pending)[2]
    while pending:
        stats.duplicates += 1
        yield heapq.heappop(pending)[2]


def _shuffled(stream: Iterator[dict[str, Any]], window: int | None,
              rng: random.Random) -> Iterator[dict[str, Any]]:
    if not window:
        items = list(stream)
        rng.shuffle(items)
        yield from items
        return
    buf: list[dict[str, Any]] = []
    for event in stream:
        if len(buf) < window:
            buf.append(event)
            continue
        j = rng.randrange(window)
        yield buf[j]
        buf[j] = event
    rng.shuffle(buf)
    yield from buf


def _invalid_line(kind: str, event: dict[str, Any], n: int) -> bytes:
    bad: dict[str, Any] = _copy_event(event)
    bad["id"] = f"{event['id']}.bad{n}"
    if kind == "bad_json":
        text = orjson.dumps(bad)
        return text[: max(1, len(text) // 2)]
    if kind == "missing_subject":
        del bad["subject"]
    elif kind == "naive_timestamp":
        bad["time"] = bad["time"][:19]
    elif kind == "unknown_type":
        bad["type"] = PREFIX + "dossier.teleported"
    elif kind == "bad_enum":
        if bad["type"] == _T_RECEIVED:
            bad["data"]["channel"] = "fax"
        elif bad["type"] == _T_RATED:
            bad["data"]["rating"] = "meh"
        else:
            bad["type"] = _T_PAYMENT
            bad["data"] = {"amount_vnd": 10000, "method": "bitcoin"}
    elif kind == "negative_amount":
        bad["type"] = _T_PAYMENT
        bad["data"] = {"amount_vnd": -50000, "method": "cash"}
    else:
        raise ValueError(f"unknown invalid kind {kind!r}")
    return orjson.dumps(bad)


def generate_lines(config: SimulationConfig,
                   stats: SimulationStats | None = None) -> Iterator[bytes]:
    """The events of :func:`generate_events` as JSON documents (UTF-8, no newline).

    With ``config.invalid`` an invalid line follows a valid one with that probability;
    the kinds (:data:`INVALID_KINDS`) rotate, so each is represented. Invalid lines carry
    their own ``id`` (``<id>.badN``) and never collide with a valid event.
    """
    stats = stats if stats is not None else SimulationStats()
    dumps = orjson.dumps
    events = generate_events(config, stats)
    if config.invalid <= 0:
        for event in events:
            yield dumps(event)
        return
    rng = random.Random(f"bad:{config.seed}")
    n = 0
    for event in events:
        yield dumps(event)
        if rng.random() < config.invalid:
            kind = INVALID_KINDS[n % len(INVALID_KINDS)]
            n += 1
            stats.invalid[kind] += 1
            yield _invalid_line(kind, event, n)


def write_jsonl(path: str | Path, lines: Iterable[bytes]) -> int:
    """Write lines to a JSON Lines file (one document a line); returns the count."""
    n = 0
    with open(path, "wb", buffering=1 << 20) as fh:
        write = fh.write
        for line in lines:
            write(line)
            write(b"\n")
            n += 1
    return n


def paced(items: Iterable[Any], rate: float | None) -> Iterator[Any]:
    """Yield items at about ``rate`` per second (``None``: as fast as possible).

    The live mode publishes ``paced(generate_lines(config), config.rate)``.
    """
    if rate is None:
        yield from items
        return
    start = _time.monotonic()
    for i, item in enumerate(items):
        wait = start + i / rate - _time.monotonic()
        if wait > 0:
            _time.sleep(wait)
        yield item


__all__ = [
    "DEFAULT_SOURCE",
    "INVALID_KINDS",
    "PROVINCE",
    "Procedure",
    "SimulationConfig",
    "SimulationStats",
    "TAN_HONG_2023",
    "UnitProfile",
    "UnitStats",
    "default_units",
    "expected_fee_share",
    "format_time",
    "generate_events",
    "generate_lines",
    "paced",
    "planned_counts",
    "write_jsonl",
    "write_unit_registry",
]
