"""RFC 3339 local-time text (``2025-04-29T08:00:00+07:00``) of integer epoch seconds."""

from __future__ import annotations

from kpi.calendar import DAY_SECONDS, LOCAL_OFFSET_SECONDS, day_to_date

_HMS: list[str] = []


def _hms_table() -> list[str]:
    if not _HMS:
        _HMS.extend(
            f"{s // 3600:02d}:{s // 60 % 60:02d}:{s % 60:02d}+07:00" for s in range(DAY_SECONDS)
        )
    return _HMS


class TimeFormatter:
    """RFC 3339 local (+07:00) text of integer epoch seconds, cached per local day."""

    def __init__(self) -> None:
        self.hms = _hms_table()
        self.days: dict[int, str] = {}

    def __call__(self, ts: int) -> str:
        lt = ts + LOCAL_OFFSET_SECONDS
        day, sod = divmod(lt, DAY_SECONDS)
        prefix = self.days.get(day)
        if prefix is None:
            prefix = day_to_date(day).isoformat() + "T"
            self.days[day] = prefix
        return prefix + self.hms[sod]


def format_time(ts: float) -> str:
    """``2025-04-29T08:00:00+07:00`` for epoch seconds (whole seconds)."""
    return TimeFormatter()(int(ts))


__all__ = ["TimeFormatter", "format_time"]
