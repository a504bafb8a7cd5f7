"""Vietnamese formats of the pages: numbers ``1.234,5``, dates ``dd/mm/yyyy``, times
``HH:mm`` (Asia/Ho_Chi_Minh), periods (``Tháng 03/2025``, ``Quý III/2025``, ``Năm 2025``),
changes (``▲ 1,25`` / ``▼ 0,40``) and the selectors' labels."""

from __future__ import annotations

import datetime as dt

from kpi.calendar import local_date, to_local_datetime
from kpi.periods import BadPeriod, parse_period

VIEW_LABELS = {"as_was": "Theo thời điểm phát sinh",
               "restated": "Quy đổi theo đơn vị hiện nay"}
SCOPE_LABELS = {"own": "Số liệu của đơn vị", "total": "Tổng hợp"}
LEVEL_LABELS = {"province": "tỉnh", "district": "huyện", "commune": "xã",
                "ministry": "bộ, ngành"}
ROMAN = ("I", "II", "III", "IV")


def number(value: float | int | None, decimals: int = 0) -> str:
    """``1234.5`` → ``1.234,5`` (``decimals`` digits after the comma); None → ``—``."""
    if value is None:
        return "—"
    text = f"{value:,.{decimals}f}"
    return text.replace(",", "\x00").replace(".", ",").replace("\x00", ".")


def points(value: float | None) -> str:
    """Points with two decimals: ``78,38``."""
    return number(value, 2)


def percent(value: float | None) -> str:
    """A ratio as a percentage with one decimal: ``0.9234`` → ``92,3%``."""
    return "—" if value is None else number(value * 100, 1) + "%"


def delta(value: float | None) -> str:
    """``▲ 1,25`` / ``▼ 0,40`` / ``= 0,00``; ``—`` when there is no previous period."""
    if value is None:
        return "—"
    if abs(value) < 0.005:
        return "= 0,00"
    return ("▲ " if value > 0 else "▼ ") + points(abs(value))


def date(ts: float) -> str:
    return to_local_datetime(ts).strftime("%d/%m/%Y")


def date_time(ts: float) -> str:
    return to_local_datetime(ts).strftime("%d/%m/%Y %H:%M")


def clock(ts: float) -> str:
    return to_local_datetime(ts).strftime("%H:%M")


def iso_instant(text: str) -> float:
    return dt.datetime.fromisoformat(text).timestamp()


def period_label(key: str, span: bool = False) -> str:
    """``2025-03`` → ``Tháng 03/2025``; ``2025-Q3`` → ``Quý III/2025`` (``span``: with
    ``(01/07/2025 – 30/09/2025)``); ``2025`` → ``Năm 2025``."""
    try:
        p = parse_period(key)
    except BadPeriod:
        return key
    first = local_date(p.start)
    if p.kind == "month":
        text = f"Tháng {first.month:02d}/{first.year}"
    elif p.kind == "quarter":
        text = f"Quý {ROMAN[(first.month - 1) // 3]}/{first.year}"
    else:
        text = f"Năm {first.year}"
    if span:
        last = local_date(p.end) - dt.timedelta(days=1)
        text += f" ({first:%d/%m/%Y} – {last:%d/%m/%Y})"
    return text


def working_days_hours(seconds: float) -> str:
    """A duration as ``2 ngày 3 giờ``, ``3 giờ 5 phút`` or ``5 phút`` (days of 24 h;
    negative: its absolute)."""
    s = abs(int(seconds))
    days, rest = divmod(s, 86400)
    hours = rest // 3600
    if days:
        return f"{days} ngày {hours} giờ"
    minutes = (rest % 3600) // 60
    return f"{hours} giờ {minutes} phút" if hours else f"{minutes} phút"
