"""Logins of ``motcua web`` on SQLite and PostgreSQL: ``motcua user add|list|revoke``, the
``0006_web_users`` revision, and the login form as a script uses it (``POST /login`` with
``login`` and ``password``): session cookie flags, CSRF, the attempt limit, scoping,
revocation taking effect on the next request."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import inspect
from typer.testing import CliRunner

from consumers import store
from motcua.cli import app as cli
from tests.pgschema import pg_schema
from tests.web.site import add_user, running

pytestmark = pytest.mark.integration

REGISTRY = """code,name,level,parent
P,Tỉnh P,province,
C1,Xã Một,commune,P
C2,Xã Hai,commune,P
"""


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    with contextlib.ExitStack() as stack:
        if request.param == "sqlite":
            yield f"sqlite:///{tmp_path / 'web.db'}"
        else:
            yield stack.enter_context(pg_schema(prefix="webusers"))


def test_user_add_list_revoke(db_url: str) -> None:
    runner = CliRunner()
    password = add_user(db_url, "an", "C1")
    assert len(password) == 16 and " " not in password
    again = runner.invoke(cli, ["user", "add", "--login", "an", "--unit", "C2", "--db", db_url])
    assert again.exit_code == 1 and "already exists" in again.output
    bad = runner.invoke(cli, ["user", "add", "--login", "b", "--unit", "C2", "--role", "root",
                              "--db", db_url])
    assert bad.exit_code != 0
    add_user(db_url, "binh", "P", "admin")
    listed = runner.invoke(cli, ["user", "list", "--db", db_url])
    assert listed.exit_code == 0
    lines = listed.stdout.strip().splitlines()
    assert lines[-1] == "2 logins"
    assert lines[0].split("\t")[:3] == ["an", "C1", "viewer"] and lines[0].endswith("active")
    assert password not in listed.stdout
    assert runner.invoke(cli, ["user", "revoke", "an", "--db", db_url]).exit_code == 0
    assert runner.invoke(cli, ["user", "revoke", "an", "--db", db_url]).exit_code == 1
    listed = runner.invoke(cli, ["user", "list", "--db", db_url])
    assert "\trevoked " in listed.stdout.splitlines()[0]


def test_revision_0005_up_and_down(db_url: str) -> None:
    engine = store.make_engine(db_url)
    try:
        store.upgrade(engine)
        assert store.current_revision(engine) == "0006_web_users"
        assert "web_users" in inspect(engine).get_table_names()
    finally:
        engine.dispose()
    engine = store.make_engine(db_url)
    try:
        from alembic import command

        with engine.begin() as conn:
            command.downgrade(store.alembic_config(conn), "0005_portal_counts")
        assert store.current_revision(engine) == "0005_portal_counts"
        assert "web_users" not in inspect(engine).get_table_names()
        store.upgrade(engine)
        assert "web_users" in inspect(engine).get_table_names()
    finally:
        engine.dispose()


def test_login_form_sessions_csrf_limit_scope(db_url: str, tmp_path: Path) -> None:
    units = tmp_path / "units.csv"
    units.write_text(REGISTRY, encoding="utf-8")
    engine = store.make_engine(db_url)
    store.upgrade(engine)
    engine.dispose()
    password = add_user(db_url, "an", "C1")
    with running(db_url, units) as url:
        # no session: every page is sent to /login
        anon = httpx.Client(base_url=url)
        r = anon.get("/units/C1")
        assert r.status_code == 303 and r.headers["location"].startswith("/login")
        # a script: the standard form, no token, no Origin
        s = httpx.Client(base_url=url)
        r = s.post("/login", data={"login": "an", "password": password})
        assert r.status_code == 303
        cookie = r.headers["set-cookie"].lower()
        assert "httponly" in cookie and "samesite=lax" in cookie
        assert s.get("/units/C1").status_code == 200
        assert s.get("/units/C2").status_code == 403
        assert s.get("/?unit=P").status_code == 403
        # a cross-site browser form (Origin, no token) is refused
        evil = httpx.Client(base_url=url)
        r = evil.post("/login", data={"login": "an", "password": password},
                      headers={"Origin": "https://evil.example"})
        assert r.status_code == 403
        # five wrong passwords, then even the right one waits (429)
        t = httpx.Client(base_url=url)
        for _ in range(5):
            assert t.post("/login", data={"login": "an", "password": "x"}).status_code == 401
        assert t.post("/login", data={"login": "an", "password": password}).status_code == 429
        # revoked: the open session is refused from its next request
        assert CliRunner().invoke(cli, ["user", "revoke", "an", "--db", db_url]).exit_code == 0
        r = s.get("/units/C1")
        assert r.status_code == 303 and r.headers["location"].startswith("/login")


def test_web_service_prints_a_demo_login_that_works(tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    """What ``motcua demo`` runs: the pages in a thread and a demo login (admin of the
    registry's top unit) whose printed password logs in."""
    from rich.console import Console

    from motcua.web.serve import web_service
    from runtime.broker import free_port
    from runtime.settings import Settings

    units = tmp_path / "units.csv"
    units.write_text(REGISTRY, encoding="utf-8")
    monkeypatch.setenv("MOTCUA_WEB_PORT", str(free_port()))
    settings = Settings(database_url=f"sqlite:///{tmp_path / 'demo.db'}", data_dir=tmp_path,
                        units_file=units)
    engine = store.make_engine(settings.database_url.get_secret_value())
    store.upgrade(engine)  # the demo's sink does it
    engine.dispose()
    console = Console(record=True, width=200)
    with web_service(settings, console) as url:
        out = console.export_text()
        assert f"web pages: {url}" in out and "demo login demo (admin, unit P)" in out
        password = out.strip().splitlines()[-1]
        s = httpx.Client(base_url=url)
        assert s.post("/login", data={"login": "demo", "password": password}
                      ).status_code == 303
        assert s.get("/units/C2").status_code == 200
    # a second run gives the same login a new password
    with web_service(settings, Console(record=True, width=200)) as url:
        assert httpx.Client(base_url=url).post(
            "/login", data={"login": "demo", "password": password}).status_code == 401


def test_motcua_web_command_listens_on_the_configured_port(tmp_path: Path) -> None:
    import os
    import subprocess
    import sys

    from runtime.broker import free_port
    from runtime.waiting import wait_for

    port = free_port()
    env = {**os.environ, "MOTCUA_WEB_PORT": str(port), "MOTCUA_DATA_DIR": str(tmp_path),
           "MOTCUA_DATABASE_URL": f"sqlite:///{tmp_path / 'w.db'}"}
    env.pop("MOTCUA_UNITS_FILE", None)
    proc = subprocess.Popen([sys.executable, "-m", "motcua", "web"], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    try:
        def up() -> bool:
            try:
                return httpx.get(f"http://127.0.0.1:{port}/healthz").status_code == 200
            except httpx.HTTPError:
                return False

        wait_for(up, timeout=60, poll=0.2, what="motcua web")
        r = httpx.get(f"http://127.0.0.1:{port}/")
        assert r.status_code == 303 and r.headers["location"].startswith("/login")
        assert httpx.get(f"http://127.0.0.1:{port}/static/style.css").status_code == 200
    finally:
        proc.terminate()
        proc.wait(timeout=30)
