"""The FastAPI application of ``motcua web``: routes, sessions and templates.

Every page needs a session (else a redirect to ``/login``); a unit page of a unit the
login does not cover is 403 (:meth:`motcua.web.data.WebStore.covers`; role ``admin``
covers every unit). The unit page and ``/api/units/{code}`` read
:meth:`~motcua.web.data.WebStore.unit_report`. ``/api/stamp`` is what the pages poll
(every second) to reload their numbers within 2 s of a new snapshot.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import zipfile
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from starlette.concurrency import run_in_threadpool
from starlette.middleware.sessions import SessionMiddleware

from consumers.users import User, active_user, set_password_hash
from motcua.web import fmt
from motcua.web.auth import (
    AttemptLimiter,
    burn_time,
    check_password,
    csrf_ok,
    hash_password,
    needs_rehash,
    new_csrf_token,
    session_secret,
)
from motcua.web.data import (
    WebConfig,
    WebStore,
    criteria_of_group,
    group_cells,
    last_months,
    previous_period,
    total_of,
    valid_period,
)
from motcua.web.svg import line_chart, sparkline
from motcua.web.warnings import (
    CHANNELS,
    COLUMN_LABELS,
    COLUMNS,
    TABS,
    FamilyFolds,
    dossier_rows,
    export_table,
    family_rows,
    filter_rows,
    sort_rows,
    to_csv,
    to_xlsx,
)
from runtime.settings import Settings

HERE = Path(__file__).resolve().parent
VIEWS = ("as_was", "restated")
WARNINGS_REFRESH_MS = 5000
"""The warnings page is fetched again this often (a due instant passing needs no event)."""
SCOPES = ("own", "total")


def web_config(db: str | None = None, units: Path | None = None,
               settings: Settings | None = None) -> WebConfig:
    """The configuration from ``settings`` (default: the environment's), ``--db`` /
    ``--units`` overriding; the registry is the settings' ``units_file`` otherwise."""
    from kpi.registry import UnitRegistry
    from runtime.settings import load_settings, shown_url

    settings = settings or load_settings()
    url = db or settings.database_url.get_secret_value()
    path = units or settings.units_file
    registry = UnitRegistry.load(path) if path is not None else None
    secret = session_secret(os.environ.get("MOTCUA_WEB_SECRET"), Path(settings.data_dir))
    return WebConfig(db_url=url, registry=registry, shown_url=shown_url(url), secret=secret,
                     units_path=path)


class NotAllowed(Exception):
    pass


class NoSession(Exception):
    pass


def create_app(config: WebConfig) -> FastAPI:
    """The application on ``config``'s store (run with uvicorn)."""
    from consumers.store import upgrade

    store = WebStore(config)
    upgrade(store.engine)
    if config.warm:
        import threading

        threading.Thread(target=store.warm, name="motcua-web-warm", daemon=True).start()
    else:
        store.warmed.set()
    folds = FamilyFolds(store.engine)
    limiter = AttemptLimiter()
    app = FastAPI(title="motcua web", docs_url=None, redoc_url=None, openapi_url=None)
    app.state.store = store
    app.add_middleware(SessionMiddleware, secret_key=config.secret or "dev-only",
                       session_cookie="motcua_session", same_site="lax",
                       https_only=config.secure_cookies, max_age=12 * 3600)
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    templates = Jinja2Templates(directory=HERE / "templates")
    env = templates.env
    env.filters.update(num=fmt.number, pts=fmt.points, pct=fmt.percent, delta=fmt.delta,
                       period=fmt.period_label, date=fmt.date, datetime=fmt.date_time,
                       iso_time=lambda s: fmt.clock(fmt.iso_instant(s)))
    env.globals.update(VIEW_LABELS=fmt.VIEW_LABELS, SCOPE_LABELS=fmt.SCOPE_LABELS,
                       LEVEL_LABELS=fmt.LEVEL_LABELS, TABS=TABS, CHANNELS=CHANNELS,
                       COLUMNS=COLUMNS, COLUMN_LABELS=COLUMN_LABELS,
                       poll_ms=int(config.poll_seconds * 1000))

    @app.exception_handler(NoSession)
    async def _to_login(request: Request, _exc: NoSession) -> Response:
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(f"/login?next={_quote(target)}", status_code=303)

    @app.exception_handler(NotAllowed)
    async def _forbidden(request: Request, _exc: NotAllowed) -> Response:
        return templates.TemplateResponse(request, "error.html", {
            "title": "Không có quyền", "user": None,
            "message": "Tài khoản của bạn không được xem đơn vị này."}, status_code=403)

    # ---------------------------------------------------------------- sessions
    def csrf(request: Request) -> str:
        token = request.session.get("csrf")
        if not token:
            token = request.session["csrf"] = new_csrf_token()
        return str(token)

    def user_of(request: Request) -> User:
        login = request.session.get("login")
        if not login:
            raise NoSession
        user = active_user(store.engine, login)
        if user is None:
            request.session.clear()
            raise NoSession
        return user

    def check_unit(user: User, code: str) -> None:
        if user.role != "admin" and not store.covers(user.unit, code):
            raise NotAllowed

    def selection(request: Request, code: str | None = None) -> dict[str, Any]:
        q = request.query_params
        view = q.get("view") if q.get("view") in VIEWS else "as_was"
        scope = q.get("scope") if q.get("scope") in SCOPES else (
            "total" if code is not None and store.children(code) else "own")
        period = valid_period(q.get("period")) or store.default_period() or fmt_now_month()
        periods = store.periods()
        if period not in periods:
            periods = [period, *periods]
        return {"period": period, "view": view, "scope": scope,
                "periods": {"Tháng": [p for p in periods if len(p) == 7 and "Q" not in p],
                            "Quý": [p for p in periods if "Q" in p],
                            "Năm": [p for p in periods if len(p) == 4]}}

    def fmt_now_month() -> str:
        d = fmt.to_local_datetime(config.clock())
        return f"{d.year}-{d.month:02d}"

    def page(request: Request, template: str, user: User, **ctx: Any) -> Response:
        return templates.TemplateResponse(request, template, {
            "user": user, "csrf": csrf(request), **ctx})

    # ---------------------------------------------------------------- login
    @app.get("/login", response_class=HTMLResponse)
    async def login_form(request: Request, next: str = "/") -> Response:
        return templates.TemplateResponse(request, "login.html", {
            "user": None, "csrf": csrf(request), "next": _safe_next(next), "error": None})

    @app.post("/login")
    async def login(request: Request) -> Response:
        form = await request.form()
        name = str(form.get("login") or "").strip()
        password = str(form.get("password") or "")
        nxt = _safe_next(str(form.get("next") or "/"))
        sent = form.get("csrf_token")
        if not csrf_ok(request.session.get("csrf"), str(sent) if sent is not None else None,
                       request.headers.get("origin")):
            return _login_error(request, templates, csrf(request), nxt,
                                "Phiên làm việc đã hết hạn, vui lòng đăng nhập lại.", 403)
        client = request.client.host if request.client else "?"
        if limiter.blocked(client, name):
            return _login_error(request, templates, csrf(request), nxt,
                                "Đăng nhập sai quá nhiều lần. Vui lòng thử lại sau ít phút.",
                                429)
        user = await run_in_threadpool(active_user, store.engine, name) if name else None
        ok = False
        if user is None:
            await run_in_threadpool(burn_time, password)
        else:
            ok = await run_in_threadpool(check_password, user.password_hash, password)
        if not ok or user is None:
            limiter.failed(client, name)
            return _login_error(request, templates, csrf(request), nxt,
                                "Tên đăng nhập hoặc mật khẩu không đúng.", 401)
        limiter.succeeded(client, name)
        if needs_rehash(user.password_hash):
            set_password_hash(store.engine, user.login, hash_password(password))
        request.session.clear()
        request.session.update({"login": user.login, "csrf": new_csrf_token()})
        return RedirectResponse(nxt, status_code=303)

    @app.post("/logout")
    async def logout(request: Request) -> Response:
        form = await request.form()
        sent = form.get("csrf_token")
        if not csrf_ok(request.session.get("csrf"), str(sent) if sent is not None else None,
                       request.headers.get("origin")):
            return Response("CSRF", status_code=403)
        request.session.clear()
        return RedirectResponse("/login", status_code=303)

    # ---------------------------------------------------------------- pages
    @app.get("/", response_class=HTMLResponse)
    def tree(request: Request, unit: str | None = None) -> Response:
        user = user_of(request)
        code = unit or user.unit
        check_unit(user, code)
        sel = selection(request, code)
        return page(request, "tree.html", user, **sel, keep_unit=code,
                    **tree_context(store, code, sel["period"], sel["view"], sel["scope"],
                                   user))

    @app.get("/units/{code}", response_class=HTMLResponse)
    def unit_page(request: Request, code: str) -> Response:
        user = user_of(request)
        check_unit(user, code)
        sel = selection(request, code)
        return page(request, "unit.html", user, **sel,
                    **unit_context(store, code, sel["period"], sel["view"], sel["scope"]))

    @app.get("/units/{code}/warnings")
    def warnings_page(request: Request, code: str, tab: str = "overdue", sort: str = "remaining",
                      desc: int = 0, q: str = "", format: str = "") -> Response:
        user = user_of(request)
        check_unit(user, code)
        sel = selection(request, code)
        tab = tab if tab in TABS else "overdue"
        codes = store.codes_under(code, sel["scope"] == "total")
        now = config.clock()
        rows = dossier_rows(store.engine, codes, now)
        if tab in ("petitions", "catalog"):
            rows += family_rows(folds, codes, now)
        counts = {t: sum(1 for r in rows if r.tab == t) for t in TABS}
        shown = sort_rows(filter_rows([r for r in rows if r.tab == tab], q), sort, bool(desc))
        if format in ("csv", "xlsx"):
            table = export_table(shown, fmt.date_time, remaining_text)
            name = f"canh-bao_{code}_{tab}"
            if format == "csv":
                return Response(to_csv(table), media_type="text/csv; charset=utf-8",
                                headers={"Content-Disposition":
                                         f'attachment; filename="{name}.csv"'})
            return Response(to_xlsx(table, TABS[tab]), headers={
                "Content-Disposition": f'attachment; filename="{name}.xlsx"'},
                media_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet")
        return page(request, "warnings.html", user, **sel, code=code,
                    name=store.name(code), tab=tab, rows=shown, counts=counts, sort=sort,
                    desc=int(bool(desc)), q=q, now=now, remaining=remaining_text,
                    refresh_ms=WARNINGS_REFRESH_MS,
                    family_counts_known=tab in ("petitions", "catalog"))

    @app.get("/units/{code}/evidence", response_class=HTMLResponse)
    def evidence_page(request: Request, code: str) -> Response:
        user = user_of(request)
        check_unit(user, code)
        sel = selection(request, code)
        return page(request, "evidence.html", user, **sel, code=code, name=store.name(code))

    @app.get("/units/{code}/evidence.zip")
    def evidence_zip(request: Request, code: str, period: str = "") -> Response:
        user = user_of(request)
        check_unit(user, code)
        key = valid_period(period) or store.default_period()
        if key is None:
            return Response("no period", status_code=404)
        data = evidence_bundle(config, code, key)
        return Response(data, media_type="application/zip", headers={
            "Content-Disposition": f'attachment; filename="minh-chung_{code}_{key}.zip"'})

    @app.get("/api/units/{code}")
    def api_unit(request: Request, code: str, period: str = "", view: str = "as_was",
                 scope: str = "own") -> Response:
        user = user_of(request)
        check_unit(user, code)
        if view not in VIEWS or scope not in SCOPES:
            return JSONResponse({"error": "view: as_was|restated, scope: own|total"}, 400)
        key = valid_period(period) or store.default_period()
        report = store.unit_report(code, key, view, scope) if key else None
        if report is None:
            return JSONResponse({"error": "no report for that unit and period"}, 404)
        return JSONResponse(report)

    @app.get("/api/stamp")
    def api_stamp(request: Request) -> Response:
        user_of(request)
        return JSONResponse({"stamp": store.store_stamp()},
                            headers={"Cache-Control": "no-store"})

    @app.get("/healthz")
    def healthz() -> Response:
        return JSONResponse({"ok": True})

    return app


# -------------------------------------------------------------------- contexts


def remaining_text(seconds: float) -> str:
    """``còn 1 ngày 3 giờ`` / ``quá 2 giờ 5 phút``."""
    return ("còn " if seconds >= 0 else "quá ") + fmt.working_days_hours(seconds)


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
    return {"code": code, "report": report, "name": store.name(code, report),
            "level": store.level(code, report), "groups": groups,
            "total": total_of(report),
            "delta": delta_of(store, report, code, period, view, scope),
            "chart": line_chart(months, values, tips), "actions": actions[:5],
            "previous": previous_period(period),
            "updated": fmt.clock(fmt.iso_instant(report["as_of"])) if report else None}


def evidence_bundle(config: WebConfig, code: str, period: str) -> bytes:
    """The ZIP of ``motcua evidence --db … --unit code --period period`` (the existing
    bundle, made by the command in a child process)."""
    with tempfile.TemporaryDirectory(prefix="motcua-evidence-") as tmp:
        env = {**os.environ, "MOTCUA_DATABASE_URL": config.db_url}
        if config.units_path is not None:
            env["MOTCUA_UNITS_FILE"] = str(config.units_path)
        subprocess.run([sys.executable, "-m", "motcua", "evidence", "--unit", code,
                        "--period", period, "--out", tmp], env=env, check=True,
                       capture_output=True, timeout=600)
        buf = Path(tmp) / "bundle.zip"
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
            for f in sorted(Path(tmp).rglob("*")):
                if f.is_file() and f != buf:
                    z.write(f, f.relative_to(tmp))
        return buf.read_bytes()


def _quote(text: str) -> str:
    from urllib.parse import quote

    return quote(text, safe="")


def _safe_next(target: str) -> str:
    """Only a local path (no scheme, no host) may follow a login."""
    return target if target.startswith("/") and not target.startswith("//") else "/"


def _login_error(request: Request, templates: Jinja2Templates, token: str, nxt: str,
                 message: str, status: int) -> Response:
    return templates.TemplateResponse(request, "login.html", {
        "user": None, "csrf": token, "next": nxt, "error": message}, status_code=status)
