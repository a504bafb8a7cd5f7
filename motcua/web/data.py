"""What the pages show, read from the SQL store with the function ``motcua report --db``
uses (:func:`motcua.commands.report.report_from_store`), so a page, its JSON twin
(``/api/units/{code}``) and the command line cannot disagree.

:meth:`WebStore.unit_report` is the one function the unit page and the API read. Reports are
read a whole period at a time and kept while the period's snapshots do not change (their
count and newest ``as_of``: :meth:`WebStore.period_stamps`, one small query), so a past
month is read once and a new snapshot is seen on the next request.

Groups: the report's ``groups`` when it has them (the portal catalog's six groups, in
order), else its criteria grouped by ``group`` (the first catalog that has groups); the
total is ``total_points`` / ``total_max_points``, else the groups' sum; the change is the
report's ``delta`` when it carries one, else the total minus the previous period's total
(None when the previous period has no report).
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rich.console import Console
from sqlalchemy import Engine, func, select

from consumers.store import make_engine
from consumers.tables import kpi_snapshots
from kpi.calendar import local_date
from kpi.periods import BadPeriod, parse_period
from kpi.registry import UnitRegistry

Report = dict[str, Any]
log = logging.getLogger(__name__)


@dataclass
class WebConfig:
    """Where ``motcua web`` reads from, and how it signs sessions."""

    db_url: str
    registry: UnitRegistry | None = None
    units_path: Path | None = None
    shown_url: str = ""
    secret: str = ""
    clock: Callable[[], float] = time.time
    poll_seconds: float = 1.0
    warm: bool = True
    """Keep every stored period's reports read by a background thread (:meth:`WebStore.
    keep_warm`)."""
    secure_cookies: bool = False


# ------------------------------------------------------------------ groups and totals


def groups_of(report: Report) -> list[dict[str, Any]]:
    """[{id, name, points, max_points}] of the report, in its order (see module doc)."""
    if report.get("groups"):
        return [dict(g) for g in report["groups"]]
    from kpi.scoring import group_totals

    criteria = report.get("criteria") or []
    first = next((c.get("catalog") for c in criteria if c.get("group")), None)
    mine = [c for c in criteria if c.get("group") and c.get("catalog") == first]
    return [{"id": gid, "name": g["name"], "points": g["points"],
             "max_points": g["total"]} for gid, g in group_totals(mine).items()]


def criteria_of_group(report: Report, group: str) -> list[dict[str, Any]]:
    """The criteria of ``group`` of the grouped catalog (its order kept)."""
    criteria = report.get("criteria") or []
    first = next((c.get("catalog") for c in criteria if c.get("group") == group), None)
    return [c for c in criteria if c.get("group") == group and c.get("catalog") == first]


def total_of(report: Report | None) -> tuple[float, float] | None:
    """(points, max points) of the report; None for no report."""
    if report is None:
        return None
    if report.get("total_points") is not None:
        return float(report["total_points"]), float(report.get("total_max_points") or 100)
    groups = groups_of(report)
    return (round(sum(g["points"] or 0 for g in groups), 4),
            round(sum(g["max_points"] or 0 for g in groups), 4))


def group_cells(report: Report | None) -> list[dict[str, Any]]:
    """The groups of a report with the weakest criterion's name (a cell's tooltip) and a
    band 0..3 of the share of the maximum missed (a cell's colour: < 5%, < 20%, < 40%,
    more)."""
    if report is None:
        return []
    out = []
    for g in groups_of(report):
        mine = [c for c in criteria_of_group(report, g["id"]) if c.get("points") is not None]
        weakest = min(mine, key=lambda c: (c["points"] - (c.get("max_points") or 0)),
                      default=None)
        mx = g.get("max_points") or 0
        missed = 0.0 if not mx else max(0.0, 1 - (g.get("points") or 0) / mx)
        out.append({**g, "weakest": weakest.get("name") if weakest else None,
                    "band": 0 if missed < 0.05 else 1 if missed < 0.2 else 2 if missed < 0.4
                    else 3})
    return out


def previous_period(key: str) -> str:
    """The period before ``key`` of the same kind (month, quarter or year)."""
    p = parse_period(key)
    first = local_date(p.start)
    if p.kind == "month":
        y, m = (first.year, first.month - 1) if first.month > 1 else (first.year - 1, 12)
        return f"{y}-{m:02d}"
    if p.kind == "quarter":
        q = (first.month - 1) // 3 + 1
        return f"{first.year}-Q{q - 1}" if q > 1 else f"{first.year - 1}-Q4"
    return str(first.year - 1)


def last_months(key: str, n: int = 12) -> list[str]:
    """The ``n`` months ending with the last month of period ``key``, oldest first."""
    last = local_date(parse_period(key).end) - dt.timedelta(days=1)
    y, m = last.year, last.month
    out = []
    for _ in range(n):
        out.append(f"{y}-{m:02d}")
        y, m = (y, m - 1) if m > 1 else (y - 1, 12)
    return out[::-1]


# ------------------------------------------------------------------ the store


@dataclass
class _Cached:
    stamp: tuple[Any, ...]
    reports: dict[str, Report] = field(default_factory=dict)
    summaries: dict[str, dict[str, Any]] | None = None


class WebStore:
    """The reports, hierarchy and names the pages need (thread-safe; one engine)."""

    CACHE_ENTRIES = 256

    def __init__(self, config: WebConfig) -> None:
        self.config = config
        self.registry = config.registry
        self.engine: Engine = make_engine(config.db_url)
        self._cache: OrderedDict[tuple[str, str, str], _Cached] = OrderedDict()
        self._lock = threading.Lock()
        self._err = Console(stderr=True)
        self.warmed = threading.Event()
        """Set once :meth:`keep_warm` has read every stored period (or was not asked to)."""
        self.stop = threading.Event()
        """Stops :meth:`keep_warm`."""

    def close(self) -> None:
        self.stop.set()
        self.engine.dispose()

    # -- stamps: what changed
    def period_stamps(self) -> dict[str, tuple[int, str]]:
        """period → (snapshots stored, newest as_of) over both scopes."""
        s = kpi_snapshots.c
        q = select(s.period, func.count(), func.max(s.as_of)).group_by(s.period)
        with self.engine.connect() as conn:
            return {p: (int(n), str(a)) for p, n, a in conn.execute(q)}

    def store_stamp(self) -> str:
        """One string that changes whenever a snapshot is stored (the live update's)."""
        s = kpi_snapshots.c
        with self.engine.connect() as conn:
            n, newest = conn.execute(select(func.count(), func.max(s.as_of))).one()
        return f"{n}:{newest}"

    # -- reports
    def _entry(self, period: str, view: str, scope: str,
               stamps: dict[str, tuple[int, str]] | None = None) -> _Cached:
        if stamps is None:
            stamps = self.period_stamps()
        today = local_date(self.config.clock())
        stamp = (stamps.get(period), today.isoformat() if view == "restated" else "")
        key = (period, view, scope)
        with self._lock:
            hit = self._cache.get(key)
            if hit is not None and hit.stamp == stamp:
                self._cache.move_to_end(key)
                return hit
        got = self._read(period, view, scope) if stamps.get(period) is not None else {}
        entry = _Cached(stamp, got)
        with self._lock:
            self._cache[key] = entry
            self._cache.move_to_end(key)
            while len(self._cache) > self.CACHE_ENTRIES:
                self._cache.popitem(last=False)
        return entry

    def reports(self, period: str, view: str, scope: str,
                stamps: dict[str, tuple[int, str]] | None = None) -> dict[str, Report]:
        """unit → report of ``period``, ``view``, ``scope``: every unit's, as
        ``motcua report --db URL --period P --view V --scope S --json`` gives them."""
        return self._entry(period, view, scope, stamps).reports

    def summaries(self, period: str, view: str, scope: str,
                  stamps: dict[str, tuple[int, str]] | None = None) -> dict[str, dict[str, Any]]:
        """unit → {``groups``: :func:`group_cells`, ``total``: :func:`total_of`} of the
        reports above, computed once per stored state of the period."""
        entry = self._entry(period, view, scope, stamps)
        if entry.summaries is None:
            entry.summaries = {u: {"groups": group_cells(r), "total": total_of(r)}
                               for u, r in entry.reports.items()}
        return entry.summaries

    def warm(self, views: tuple[str, ...] = ("as_was",),
             scopes: tuple[str, ...] = ("own", "total")) -> None:
        """Read every stored period's reports whose snapshots changed since they were
        last read (all of them the first time), newest period first."""
        stamps = self.period_stamps()
        for period in sorted(stamps, reverse=True):
            for view in views:
                for scope in scopes:
                    self.summaries(period, view, scope, stamps)

    def keep_warm(self, stop: threading.Event, every: float = 5.0) -> None:
        """:meth:`warm` now and then every ``every`` seconds until ``stop`` is set (a
        background thread at start): the pages' requests then mostly find the reports read,
        also while the live pipeline stores new snapshots (a request still reads a period
        whose snapshots changed since, so the pages are never staler than the store; the
        interval only bounds this thread's work). Sets :attr:`warmed` after the first
        pass; a failed pass (the store unreachable) is tried again."""
        while not stop.is_set():
            try:
                self.warm()
            except Exception:  # the store may be down for a while: try again
                log.warning("reading the reports failed; trying again", exc_info=True)
            finally:
                self.warmed.set()
            stop.wait(every)

    def _read(self, period: str, view: str, scope: str) -> dict[str, Report]:
        from motcua.commands.report import report_from_store

        reports = report_from_store(self.config.db_url, None, period, None, self._err,
                                    self.registry, view=view, scope=scope,
                                    now=self.config.clock())
        return {r["unit"]: r for r in reports}

    def unit_report(self, code: str, period: str, view: str, scope: str) -> Report | None:
        """THE report of one unit and period: what its page shows and
        ``/api/units/{code}`` returns (the CLI's report for that unit and period)."""
        return self.reports(period, view, scope).get(code)

    def periods(self) -> list[str]:
        """Every period with stored snapshots, newest first within each kind."""
        return sorted(self.period_stamps(), reverse=True)

    def default_period(self) -> str | None:
        """The current month when it has snapshots, else the newest month that has."""
        now = local_date(self.config.clock())
        current = f"{now.year}-{now.month:02d}"
        months = [p for p in self.period_stamps() if len(p) == 7 and p[4] == "-"
                  and "Q" not in p and p <= current]
        return current if current in months else (max(months) if months else None)

    # -- hierarchy
    def name(self, code: str, report: Report | None = None) -> str:
        if report is not None and report.get("unit_name"):
            return str(report["unit_name"])
        if self.registry is not None:
            name = self.registry.name_on(code, local_date(self.config.clock()))
            if name:
                return name
            versions = self.registry.versions(code)
            if versions:  # a unit that ceased: its last name
                return versions[-1].name
        return code

    def level(self, code: str, report: Report | None = None) -> str | None:
        if report is not None and report.get("level"):
            return str(report["level"])
        if self.registry is not None:
            return self.registry.level_on(code, local_date(self.config.clock()))
        return None

    def parent(self, code: str) -> str | None:
        if self.registry is None:
            return None
        v = self.registry.version_on(code, local_date(self.config.clock()))
        return None if v is None else v.parent

    def children(self, code: str) -> list[str]:
        """The units in force today whose parent is ``code``."""
        if self.registry is None:
            return []
        day = local_date(self.config.clock())
        return sorted(v.code for v in self.registry.in_force_units(day) if v.parent == code)

    def covers(self, root: str, code: str) -> bool:
        """True when ``code`` is ``root`` or, in force today, below it (a ceased code by
        the unit that took it over)."""
        if code == root:
            return True
        if self.registry is None:
            return False
        now = self.config.clock()
        current = self.registry.in_force(code, now)
        return current == root or root in self.registry.ancestors_at(current, now)

    def codes_under(self, root: str, with_below: bool) -> set[str]:
        """Codes whose records belong to ``root`` today: itself, the ceased codes it took
        over, and (``with_below``) every code below it."""
        out = {root}
        if self.registry is None:
            return out
        now = self.config.clock()
        for c in self.registry.codes:
            current = self.registry.in_force(c, now)
            if current == root or (with_below and self.covers(root, current)):
                out.add(c)
        return out


def valid_period(text: str | None) -> str | None:
    """``text`` when it is a period key, else None."""
    if not text:
        return None
    try:
        parse_period(text)
    except BadPeriod:
        return None
    return text


def registry_from(path: Path | None) -> UnitRegistry | None:
    return None if path is None else UnitRegistry.load(path)
