"""The work lists (cảnh báo) of a unit, judged at the request's instant.

Dossiers come from the ledger (``dossiers``): a row's due instant is its extended due when
it has one, else its original due, plus the citizen time (supplement pauses) the ledger
recorded; whether it is overdue is decided *now*, from that instant, not from the ledger's
classification — so a dossier whose due instant has just passed is listed at once, with no
new event and before the sink's periodic refresh re-judges it.

Lists (``TABS``):

* ``due_soon``: open, not yet overdue, due by the end of the 2nd working day after today;
* ``overdue``: open and past its due instant;
* ``apology``: late (completed late, or open and overdue) with no apology letter and no
  extended due date yet;
* ``petitions``: citizen petitions (PAKN) within competence, past their due instant and
  not answered, or answered late;
* ``catalog``: procedure catalog entries published after their deadline to publish.

Petitions and catalog entries are folded from their stored events (:mod:`kpi.petition`,
:mod:`kpi.procedure_catalog`) and kept :data:`FOLD_SECONDS`; their lateness is judged now.
"""

from __future__ import annotations

import csv
import io
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, or_, select

from consumers.store import epoch
from consumers.tables import dossiers, raw_events
from kpi.calendar import WorkingCalendar, local_date, local_instant
from kpi.dossier import DossierState, Fact, FactKey, add_fact
from kpi.petition import summarize_petition
from kpi.procedure_catalog import summarize_entry
from kpi.units import CalendarBook
from schemas.events import TYPE_PREFIX

TABS: dict[str, str] = {
    "due_soon": "Sắp đến hạn",
    "overdue": "Quá hạn",
    "apology": "Cần phiếu xin lỗi",
    "petitions": "PAKN quá hạn",
    "catalog": "TTHC chưa công bố đúng hạn",
}
CHANNELS = {"online": "Trực tuyến", "direct": "Trực tiếp", "postal": "Bưu chính"}
COLUMNS = ("code", "procedure", "received_at", "due_at", "remaining", "unit",
           "handling_unit", "channel")
COLUMN_LABELS = {"code": "Mã hồ sơ", "procedure": "Thủ tục", "received_at": "Ngày nhận",
                 "due_at": "Hạn xử lý", "remaining": "Còn lại / đã quá",
                 "unit": "Đơn vị tiếp nhận", "handling_unit": "Đơn vị xử lý",
                 "channel": "Kênh"}
SOON_WORKING_DAYS = 2
FOLD_SECONDS = 30.0


@dataclass(frozen=True, slots=True)
class Row:
    """One line of a list; instants in epoch seconds, ``seconds_left`` < 0 when overdue."""

    tab: str
    code: str
    procedure: str
    received_at: float
    due_at: float
    seconds_left: float
    unit: str
    handling_unit: str
    channel: str


def soon_limit(now: float, calendar: WorkingCalendar) -> float:
    """End (24:00 local) of the 2nd working day after today."""
    day = calendar.nth_working_day_after(local_date(now), SOON_WORKING_DAYS)
    return local_instant(day) + 86400


def dossier_rows(engine: Engine, codes: Iterable[str], now: float,
                 calendar: WorkingCalendar | None = None) -> list[Row]:
    """Rows of the three dossier lists for the ledger rows of ``codes`` (receiving or
    handling unit), judged at ``now``."""
    calendar = calendar or CalendarBook()("")
    limit = soon_limit(now, calendar)
    units = sorted(set(codes))
    d = dossiers.c
    q = select(d.code, d.procedure, d.received_at, d.due_at, d.extended_due_at,
               d.completed_at, d.ended_at, d.classification, d.paused_seconds, d.apology,
               d.unit, d.handling_unit, d.channel).where(
        or_(d.handling_unit.in_(units), d.unit.in_(units)),
        or_(d.completed_at.is_(None) & d.ended_at.is_(None), d.classification == "late"))
    out: list[Row] = []
    with engine.connect() as conn:
        for r in conn.execute(q):
            received = epoch(r.received_at) or 0.0
            due = (epoch(r.extended_due_at) or epoch(r.due_at) or 0.0) + (r.paused_seconds or 0)
            base = (r.code, r.procedure, received, due)
            tail = (r.unit, r.handling_unit, r.channel)
            if r.completed_at is None and r.ended_at is None:
                left = due - now
                if left < 0:
                    out.append(Row("overdue", *base, left, *tail))
                    if not r.apology and r.extended_due_at is None:
                        out.append(Row("apology", *base, left, *tail))
                elif due <= limit:
                    out.append(Row("due_soon", *base, left, *tail))
            elif not r.apology and r.extended_due_at is None:
                late_by = (epoch(r.completed_at) or now) - due
                out.append(Row("apology", *base, -abs(late_by), *tail))
    return out


class FamilyFolds:
    """Petitions and catalog entries folded from ``raw_events`` (kept FOLD_SECONDS)."""

    TYPES = tuple(TYPE_PREFIX + t for t in ("petition.received", "petition.answered",
                                            "petition.rated", "procedure.published",
                                            "procedure.withdrawn"))

    def __init__(self, engine: Engine, seconds: float = FOLD_SECONDS) -> None:
        self.engine, self.seconds = engine, seconds
        self._at = -1e18
        self._states: dict[str, DossierState] = {}
        self._lock = threading.Lock()

    def states(self) -> dict[str, DossierState]:
        with self._lock:
            if time.monotonic() - self._at < self.seconds:
                return self._states
        from kpi.decode import decode

        r = raw_events.c
        facts: dict[str, dict[FactKey, Fact]] = {}
        with self.engine.connect() as conn:
            for subject, payload in conn.execute(
                    select(r.subject, r.payload).where(r.type.in_(self.TYPES))):
                _, key, fact = decode(payload.encode("utf-8"))
                add_fact(facts.setdefault(subject, {}), key, fact)
        states = {s: DossierState(s, f) for s, f in facts.items()}
        with self._lock:
            self._states, self._at = states, time.monotonic()
        return states


def family_rows(folds: FamilyFolds, codes: Iterable[str], now: float) -> list[Row]:
    """Late petitions and catalog entries published late, of the units ``codes``."""
    units = set(codes)
    out: list[Row] = []
    book = CalendarBook()
    for code, state in folds.states().items():
        kinds = {f[0] for f in state.facts.values()}
        if "petition_received" in kinds:
            p = summarize_petition(state, now, book)
            if p is None or p.unit not in units or not p.within_competence:
                continue
            if p.answered_at is None and p.due_at < now:
                out.append(Row("petitions", code, "PAKN", p.received_at, p.due_at,
                               p.due_at - now, p.unit, p.unit, ""))
            elif p.answered_late:
                assert p.answered_at is not None
                out.append(Row("petitions", code, "PAKN (đã trả lời quá hạn)", p.received_at,
                               p.due_at, p.due_at - p.answered_at, p.unit, p.unit, ""))
        elif "procedure_published" in kinds:
            e = summarize_entry(state, now)
            if e is None or e.unit not in units or e.published_on_time:
                continue
            due = e.publish_due_at or e.first_published_at
            out.append(Row("catalog", code, e.procedure, e.first_published_at, due,
                           due - e.first_published_at, e.unit, e.unit, ""))
    return out


def sort_rows(rows: list[Row], key: str, descending: bool) -> list[Row]:
    field = {"remaining": "seconds_left"}.get(key, key)
    if field not in Row.__slots__:
        field = "seconds_left"
    return sorted(rows, key=lambda r: (getattr(r, field), r.code), reverse=descending)


def filter_rows(rows: list[Row], text: str) -> list[Row]:
    """Rows whose code, procedure, units or channel contain ``text`` (case-insensitive)."""
    t = text.strip().lower()
    if not t:
        return rows
    return [r for r in rows if any(t in str(v).lower() for v in
                                   (r.code, r.procedure, r.unit, r.handling_unit, r.channel))]


def export_table(rows: list[Row], fmt_time: Any, remaining: Any) -> list[list[str]]:
    """Header + one list per row, as shown on the page (Vietnamese headers)."""
    table = [[COLUMN_LABELS[c] for c in COLUMNS]]
    for r in rows:
        table.append([r.code, r.procedure, fmt_time(r.received_at), fmt_time(r.due_at),
                      remaining(r), r.unit, r.handling_unit,
                      CHANNELS.get(r.channel, r.channel)])
    return table


def to_csv(table: list[list[str]]) -> bytes:
    buf = io.StringIO()
    csv.writer(buf).writerows(table)
    return ("\ufeff" + buf.getvalue()).encode("utf-8")  # BOM: Excel reads it as UTF-8


def to_xlsx(table: list[list[str]], title: str) -> bytes:
    from openpyxl import Workbook

    wb = Workbook()
    ws = wb.active
    assert ws is not None
    ws.title = title[:31]
    for row in table:
        ws.append(row)
    for col in ws.columns:
        width = max(len(str(c.value or "")) for c in col)
        ws.column_dimensions[col[0].column_letter].width = min(60, width + 2)
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()
