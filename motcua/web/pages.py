"""What each page shows, computed from :class:`motcua.web.data.WebStore` (the routes in
:mod:`motcua.web.app` only choose, check and render)."""

from __future__ import annotations

import datetime as dt
import os
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path
from typing import Any

from consumers.users import User
from kpi.calendar import WorkingCalendar, local_date
from kpi.units import CalendarBook
from motcua.web import fmt
from motcua.web.data import (
    WebConfig,
    WebStore,
    criteria_of_group,
    group_cells,
    last_months,
    previous_period,
    total_of,
)
from motcua.web.svg import line_chart, sparkline
from motcua.web.warnings import Row

_CALENDAR = CalendarBook()("")
"""The default working calendar (national holidays; :class:`kpi.units.CalendarBook`)."""


def remaining_text(row: Row, calendar: WorkingCalendar | None = None) -> str:
    """Time left (``còn``) or past (``quá``) the row's due instant, as judged at its
    reference instant (``due_at - seconds_left``: the request's instant, or the completion
    of a dossier completed late): ``2 ngày làm việc`` — the working days after the earlier
    local date up to the later one — or hours and minutes when that is none (the same day,
    or only days off between)."""
    cal = calendar or _CALENDAR
    ref = row.due_at - row.seconds_left
    word = "còn " if row.seconds_left >= 0 else "quá "
    lo, hi = sorted((local_date(row.due_at), local_date(ref)))
    days = 0
    day = lo
    while day < hi:
        day += dt.timedelta(days=1)
        days += cal.is_working_day(day)
    if days:
        return f"{word}{days} ngày làm việc"
    return word + fmt.working_days_hours(row.seconds_left)


def delta_of(store: WebStore, report: dict[str, Any] | None, code: str, period: str,
             view: str, scope: str) -> float | None:
    """The report's ``delta``, else its total minus the previous period's (None: none)."""
    if report is None:
        return None
    if "delta" in report:
        return report["delta"]
    prev = store.summaries(previous_period(period), view, scope).get(code)
    now = total_of(report)
    if prev is None or prev["total"] is None or now is None:
        return None
    return round(now[0] - prev["total"][0], 4)


def trend(store: WebStore, code: str, period: str, view: str, scope: str,
          stamps: dict[str, tuple[int, str]] | None = None
          ) -> tuple[list[str], list[float | None], list[str]]:
    """The 12 months ending with ``period``: total points (None: no report) and a tooltip
    with the groups' points."""
    stamps = stamps if stamps is not None else store.period_stamps()
    months = last_months(period)
    values: list[float | None] = []
    tips = []
    for m in months:
        s = store.summaries(m, view, scope, stamps).get(code)
        values.append(None if s is None or s["total"] is None else s["total"][0])
        tips.append("" if s is None else "\n".join(
            f"{g['name']}: {fmt.points(g['points'])}/{fmt.number(g['max_points'])}"
            for g in s["groups"]))
    return months, values, tips


def tree_context(store: WebStore, code: str, period: str, view: str, scope: str,
                 user: User) -> dict[str, Any]:
    stamps = store.period_stamps()
    reports = store.reports(period, view, scope, stamps)
    summaries = store.summaries(period, view, scope, stamps)
    rows: list[dict[str, Any]] = []
    for child in store.children(code):
        r = reports.get(child)
        s = summaries.get(child) or {"groups": [], "total": None}
        months, values, _ = trend(store, child, period, view, scope, stamps)
        rows.append({"code": child, "name": store.name(child, r), "report": r,
                     "groups": s["groups"], "total": s["total"],
                     "delta": delta_of(store, r, child, period, view, scope),
                     "spark": sparkline(months, values),
                     "has_children": bool(store.children(child))})
    rows.sort(key=lambda x: (x["total"] is None, x["total"][0] if x["total"] else 0,
                             x["code"]))
    head = reports.get(code)
    head_groups = (summaries.get(code) or {"groups": []})["groups"]
    months, values, _ = trend(store, code, period, view, scope, stamps)
    parent = store.parent(code)
    columns: list[dict[str, Any]] = head_groups or next(
        (x["groups"] for x in rows if x["groups"]), [])
    return {"code": code, "name": store.name(code, head), "level": store.level(code, head),
            "head": {"report": head, "groups": head_groups, "total": total_of(head),
                     "delta": delta_of(store, head, code, period, view, scope),
                     "spark": sparkline(months, values)},
            "rows": rows, "columns": columns,
            "parent": parent if parent and (user.role == "admin"
                                            or store.covers(user.unit, parent)) else None}


def unit_context(store: WebStore, code: str, period: str, view: str, scope: str
                 ) -> dict[str, Any]:
    report = store.unit_report(code, period, view, scope)
    months, values, tips = trend(store, code, period, view, scope)
    groups = []
    actions = []
    if report is not None:
        for g in group_cells(report):
            groups.append({**g, "criteria": criteria_of_group(report, g["id"])})
        for c in report.get("criteria") or []:
            gap = c.get("gap")
            if gap and gap.get("dossiers") is not None and c.get("points") is not None:
                gain = (gap.get("points") or 0) - c["points"]
                if gain > 0:
                    actions.append({"gain": gain, "dossiers": gap["dossiers"],
                                    "text": c.get("gap_text"), "name": c.get("name")})
        actions.sort(key=lambda a: (-a["gain"] / max(a["dossiers"], 1), a["dossiers"]))
    grades = {c.get("grade") for g in groups for c in g["criteria"]}
    return {"code": code, "report": report, "name": store.name(code, report), "grades": grades,
            "level": store.level(code, report), "groups": groups,
            "total": total_of(report),
            "delta": delta_of(store, report, code, period, view, scope),
            "chart": line_chart(months, values, tips), "actions": actions[:5],
            "previous": previous_period(period),
            "updated": fmt.clock(fmt.iso_instant(report["as_of"])) if report else None}


def evidence_bundle(config: WebConfig, code: str, period: str) -> tuple[bytes, dict[str, Any]]:
    """The ZIP of ``motcua evidence --db … --unit code --period period`` (the existing
    bundle, made by the command in a child process) and its ``manifest.json``."""
    import json

    with tempfile.TemporaryDirectory(prefix="motcua-evidence-") as tmp:
        env = {**os.environ, "MOTCUA_DATABASE_URL": config.db_url}
        if config.units_path is not None:
            env["MOTCUA_UNITS_FILE"] = str(config.units_path)
        subprocess.run([sys.executable, "-m", "motcua", "evidence", "--unit", code,
                        "--period", period, "--out", tmp], env=env, check=True,
                       capture_output=True, timeout=600)
        buf = Path(tmp) / "bundle.zip"
        manifest: dict[str, Any] = {}
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
            for f in sorted(Path(tmp).rglob("*")):
                if f.is_file() and f != buf:
                    z.write(f, f.relative_to(tmp))
                    if f.name == "manifest.json":
                        manifest = json.loads(f.read_text(encoding="utf-8"))
        return buf.read_bytes(), manifest
