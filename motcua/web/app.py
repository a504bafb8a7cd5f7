"""The FastAPI application of ``motcua web``: routes, sessions and templates.

Every page needs a session (else a redirect to ``/login``); a unit page of a unit the
login does not cover is 403 (:meth:`motcua.web.data.WebStore.covers`; role ``admin``
covers every unit). The unit page and ``/api/units/{code}`` read
:meth:`~motcua.web.data.WebStore.unit_report`. ``/api/stamp`` is what the pages poll
(every second) to reload their numbers within 2 s of a new snapshot.
"""

from __future__ import annotations

import os
from collections import OrderedDict
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
    valid_period,
)
from motcua.web.pages import evidence_bundle, remaining_text, tree_context, unit_context
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


def create_app(config: WebConfig, *, migrate: bool = True) -> FastAPI:
    """The application on ``config``'s store (run with uvicorn). ``migrate``: run the
    store's migrations first (``motcua web``); not when a sink starting beside it runs
    them (``motcua demo``: two migrations at once on a new SQLite file collide)."""
    from consumers.store import upgrade

    store = WebStore(config)
    if migrate:
        upgrade(store.engine)
    if config.warm:
        import threading

        threading.Thread(target=store.keep_warm, args=(store.stop,), name="motcua-web-warm",
                         daemon=True).start()
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
    env.globals.update(GRADE_LABELS=grade_labels(), VIEW_LABELS=fmt.VIEW_LABELS,
                       SCOPE_LABELS=fmt.SCOPE_LABELS,
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
                    refresh_ms=WARNINGS_REFRESH_MS, unit_name=store.name,
                    family_counts_known=tab in ("petitions", "catalog"))

    bundles: OrderedDict[tuple[str, str, str], tuple[bytes, dict[str, Any]]] = OrderedDict()

    def bundle(code: str, period: str) -> tuple[bytes, dict[str, Any]]:
        """The evidence bundle, made once per stored state (kept for the last 8)."""
        key = (code, period, store.store_stamp())
        if key not in bundles:
            bundles[key] = evidence_bundle(config, code, period)
            while len(bundles) > 8:
                bundles.popitem(last=False)
        return bundles[key]

    @app.get("/units/{code}/evidence", response_class=HTMLResponse)
    def evidence_page(request: Request, code: str) -> Response:
        user = user_of(request)
        check_unit(user, code)
        sel = selection(request, code)
        _, manifest = bundle(code, sel["period"])
        return page(request, "evidence.html", user, **sel, code=code, name=store.name(code),
                    files=sorted((manifest.get("files") or {}).items()))

    @app.get("/units/{code}/evidence.zip")
    def evidence_zip(request: Request, code: str, period: str = "") -> Response:
        user = user_of(request)
        check_unit(user, code)
        key = valid_period(period) or store.default_period()
        if key is None:
            return Response("no period", status_code=404)
        data, _ = bundle(code, key)
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


def grade_labels() -> dict[str, str]:
    """Grade → its Vietnamese meaning (the catalogs' labels, and the portal sketch's
    P / W / M should a catalog use them)."""
    from kpi.criteria import GRADE_LABELS_VI

    return {"P": "theo quy tắc của Cổng DVCQG", "W": "theo bảng công thức",
            **GRADE_LABELS_VI}


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
