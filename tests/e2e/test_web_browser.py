"""``motcua web`` in Debian's Chromium (Playwright for Python, the system browser, never a
downloaded one): log in, the tree, a unit page whose numbers equal ``motcua report --json``,
403 for another commune, a dossier turning overdue with no event, screenshots of every page
at 1366×768 and 390×844 (kept under ``test-artifacts/web/``). The store holds a simulated
2026 (January to October) with the families and the v1.2 fields, so the pages of its
periods show the six groups of ``portal-766-2026``; ``unit-page.png`` is the README's
screenshot (docs/img/unit-page.png)."""

from __future__ import annotations

import hashlib
import io
import json
import re
import time
import zipfile
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest
from typer.testing import CliRunner

from motcua.cli import app as cli
from motcua.web import fmt
from motcua.web.data import criteria_of_group, groups_of, total_of
from tests.eventkit import received_dict
from tests.web.site import add_user, fill, running, simulate, wait_until

pytestmark = pytest.mark.integration

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "web"
PERIOD = "2026-10"
COMMUNE = "DT.TANHONG.X02"
OTHER_COMMUNE = "DT.TANHONG.X03"
DISTRICT = "DT.TANHONG"
SOON = 8.0
"""Seconds until the extra open dossier's due instant passes (after the store is filled)."""


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat()


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    tmp = tmp_path_factory.mktemp("web")
    events, units = simulate(tmp, families=True, start="2026-01-01", end="2026-10-31")
    now = time.time()
    soon = received_dict(_iso(now - 3600), "SOON-1", COMMUNE, "commune", "direct",
                         due=_iso(now + SOON), procedure="1.000775")
    db_url = f"sqlite:///{tmp / 'store.db'}"
    fill(db_url, events, units, [soon], now)
    passwords = {"tinh": add_user(db_url, "tinh", "DT"),
                 "xa2": add_user(db_url, "xa2", COMMUNE)}
    with running(db_url, units) as url:
        yield {"url": url, "db": db_url, "units": units, "passwords": passwords,
               "due": now + SOON}


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    assert Path(CHROMIUM).exists(), "Debian's chromium is needed (make debs)"
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


def _login(browser: Any, site: dict[str, Any], login: str) -> Any:
    page = browser.new_page(viewport={"width": 1366, "height": 768})
    page.goto(site["url"] + "/")
    assert page.url.startswith(site["url"] + "/login")  # no session: sent to /login
    page.fill("#login", login)
    page.fill("#password", site["passwords"][login])
    page.click("form[action='/login'] button[type=submit]")
    page.wait_for_url(site["url"] + "/")
    return page


def _shots(page: Any, name: str) -> None:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    for w, h in ((1366, 768), (390, 844)):
        page.set_viewport_size({"width": w, "height": h})
        page.screenshot(path=str(ARTIFACTS / f"{name}-{w}x{h}.png"), full_page=True)
    page.set_viewport_size({"width": 1366, "height": 768})


def _cli_report(site: dict[str, Any], unit: str, period: str, scope: str,
                view: str = "as_was") -> dict[str, Any]:
    result = CliRunner().invoke(cli, ["report", "--db", site["db"], "--units",
                                      str(site["units"]), "--unit", unit, "--period", period,
                                      "--scope", scope, "--view", view, "--json"])
    assert result.exit_code == 0, result.output
    return orjson.loads(result.stdout)


def test_wrong_password_is_refused(browser: Any, site: dict[str, Any]) -> None:
    page = browser.new_page()
    page.goto(site["url"] + "/login")
    page.fill("#login", "tinh")
    page.fill("#password", "not-the-password")
    page.click("form[action='/login'] button[type=submit]")
    assert "không đúng" in page.locator("[role=alert]").inner_text()
    _shots(page, "login")
    page.close()


def test_login_with_the_keyboard_only(browser: Any, site: dict[str, Any]) -> None:
    """The login field has the focus; Tab reaches the password, Enter submits."""
    page = browser.new_page()
    page.goto(site["url"] + "/login")
    focused = "id => document.activeElement && document.activeElement.id === id"
    page.wait_for_function(focused, arg="login")  # the page gives the login field focus
    page.keyboard.type("tinh")
    page.keyboard.press("Tab")
    page.wait_for_function(focused, arg="password")
    page.keyboard.type(site["passwords"]["tinh"])
    page.keyboard.press("Enter")
    page.wait_for_url(site["url"] + "/")
    assert page.locator("table.tree").count() == 1
    # every form control of the page has a label
    unlabeled = page.evaluate(
        """() => [...document.querySelectorAll('select, input:not([type=hidden])')]
           .filter(e => !(e.labels && e.labels.length) && !e.getAttribute('aria-label'))
           .length""")
    assert unlabeled == 0
    page.close()


def test_tree_shows_the_units_below_lowest_first(browser: Any, site: dict[str, Any]) -> None:
    page = _login(browser, site, "tinh")
    page.goto(f"{site['url']}/?unit={DISTRICT}&period={PERIOD}")
    rows = page.locator("table.tree tbody tr")
    codes = rows.evaluate_all("rs => rs.map(r => r.dataset.unit)")
    assert codes[0] == DISTRICT and COMMUNE in codes and OTHER_COMMUNE in codes
    totals = []
    for code in codes[1:]:
        report = _cli_report(site, code, PERIOD, "own")
        total = total_of(report)
        assert total is not None
        cell = page.locator(f"tr[data-unit='{code}'] [data-total]").inner_text()
        assert cell == fmt.points(total[0])
        totals.append(total[0])
    assert totals == sorted(totals)  # lowest first
    assert page.locator("tr[data-unit] svg.spark").count() == len(codes)
    _shots(page, "tree")
    page.click(f"tr[data-unit='{COMMUNE}'] th a")  # a commune: goes to its page
    page.wait_for_url(f"**/units/{COMMUNE}?**")
    page.close()


def test_unit_page_equals_the_cli_report(browser: Any, site: dict[str, Any]) -> None:
    page = _login(browser, site, "xa2")
    page.goto(f"{site['url']}/units/{COMMUNE}?period={PERIOD}&view=as_was&scope=own")
    report = _cli_report(site, COMMUNE, PERIOD, "own")
    total = total_of(report)
    assert total is not None
    assert page.get_by_test_id("total").inner_text().startswith(fmt.points(total[0]))
    groups = groups_of(report)
    assert report["catalog"] == "portal-766-2026@2026.1"
    assert [g["id"] for g in groups] == ["transparency", "progress", "online_services",
                                         "online_payment", "digitization", "satisfaction"]
    for g in groups:
        shown = page.get_by_test_id(f"group-{g['id']}").inner_text()
        assert shown == f"{fmt.points(g['points'])}/{fmt.number(g['max_points'])}"
        for c in criteria_of_group(report, g["id"]):
            row = page.locator(f"article[data-group='{g['id']}'] tr[data-criterion='{c['id']}']")
            points = row.locator("[data-points]").inner_text()
            if c["points"] is None:
                assert points == "chưa phát sinh"
            else:
                assert points == f"{fmt.points(c['points'])}/{fmt.number(c['max_points'])}"
            if c.get("numerator") is not None:
                assert row.locator("[data-num]").inner_text() == fmt.number(c["numerator"])
                assert row.locator("[data-den]").inner_text() == fmt.number(c["denominator"])
    api = page.request.get(f"{site['url']}/api/units/{COMMUNE}?period={PERIOD}&view=as_was"
                           "&scope=own")
    assert api.ok and api.json() == report
    restated = page.request.get(f"{site['url']}/api/units/{COMMUNE}?period={PERIOD}"
                                "&view=restated&scope=own")
    assert restated.ok
    cli_restated = _cli_report(site, COMMUNE, PERIOD, "own", "restated")
    assert restated.json() == cli_restated
    assert page.locator("svg.chart circle").count() >= 1
    _shots(page, "unit")
    # the unit page prints on A4: no selectors or links, the groups kept whole
    page.emulate_media(media="print")
    assert not page.locator(".selectors").is_visible()
    pdf = page.pdf(format="A4", print_background=True)
    (ARTIFACTS / "unit-a4.pdf").write_bytes(pdf)
    pages = len(re.findall(rb"/Type\s*/Page[^s]", pdf))
    assert pdf.startswith(b"%PDF") and 1 <= pages <= 6, pages
    page.emulate_media(media="screen")
    # docs/img/unit-page.png: the whole page at 1366×768, its six groups included
    page.screenshot(path=str(ARTIFACTS / "unit-page.png"), full_page=True)
    page.goto(f"{site['url']}/units/{COMMUNE}/evidence?period={PERIOD}")
    shown = dict(zip(page.locator("table.manifest td:first-child").all_inner_texts(),
                     page.locator("table.manifest td code").all_inner_texts(), strict=True))
    zipped = page.request.get(f"{site['url']}/units/{COMMUNE}/evidence.zip?period={PERIOD}")
    assert zipped.ok
    with zipfile.ZipFile(io.BytesIO(zipped.body())) as z:
        names = z.namelist()
        manifest = json.loads(z.read(next(n for n in names if n.endswith("manifest.json"))))
        assert shown == manifest["files"] and len(shown) >= 3
        for name, sha in shown.items():
            member = next(n for n in names if n.endswith("/" + name) or n == name)
            assert hashlib.sha256(z.read(member)).hexdigest() == sha
    _shots(page, "evidence")
    page.close()


def test_commune_user_gets_403_for_another_commune(browser: Any, site: dict[str, Any]) -> None:
    page = _login(browser, site, "xa2")
    for path in (f"/units/{OTHER_COMMUNE}", f"/units/{OTHER_COMMUNE}/warnings",
                 f"/api/units/{OTHER_COMMUNE}?period={PERIOD}", f"/?unit={DISTRICT}"):
        response = page.goto(site["url"] + path)
        assert response is not None and response.status == 403, path
    _shots(page, "forbidden")
    response = page.goto(f"{site['url']}/units/{COMMUNE}?period={PERIOD}")
    assert response is not None and response.status == 200
    page.close()


def test_dossier_turns_overdue_without_an_event(browser: Any, site: dict[str, Any]) -> None:
    page = _login(browser, site, "xa2")
    page.goto(f"{site['url']}/units/{COMMUNE}/warnings?tab=overdue")
    if time.time() < site["due"] - 1:
        assert page.locator("tr[data-code='SOON-1']").count() == 0
        page.goto(f"{site['url']}/units/{COMMUNE}/warnings?tab=due_soon")
        assert page.locator("tr[data-code='SOON-1']").count() == 1
        page.goto(f"{site['url']}/units/{COMMUNE}/warnings?tab=overdue")
    # no reload, no new event: the page fetches itself again and the due instant has passed
    found = wait_until(lambda: page.locator("tr[data-code='SOON-1']").count() == 1,
                       timeout=max(0.0, site["due"] - time.time()) + 12)
    assert found, "SOON-1 not listed as overdue"
    assert page.locator("tr[data-code='SOON-1'] td").nth(4).inner_text().startswith("quá ")
    _shots(page, "warnings")
    csv = page.request.get(f"{site['url']}/units/{COMMUNE}/warnings?tab=overdue&format=csv")
    assert csv.ok and "SOON-1" in csv.text()
    xlsx = page.request.get(f"{site['url']}/units/{COMMUNE}/warnings?tab=overdue"
                            "&format=xlsx")
    assert xlsx.ok and xlsx.body()[:2] == b"PK"
    page.close()


def test_numbers_update_without_reload_after_a_new_snapshot(browser: Any,
                                                           site: dict[str, Any]) -> None:
    """A new snapshot of the unit's period (more dossiers resolved on time, stored by the
    sink's writer) shows on the open page within 2 s, with no reload."""
    from consumers.store import make_engine
    from tests.web.fill import write_store

    page = _login(browser, site, "xa2")
    page.goto(f"{site['url']}/units/{COMMUNE}?period={PERIOD}&view=as_was&scope=own")
    before = page.get_by_test_id("total").inner_text()
    report = _cli_report(site, COMMUNE, PERIOD, "own")
    counts = dict(report["counts"])
    # every received dossier paid online and digitized: the groups' points rise (the
    # portal's 2026 catalog reads the v1.2 counts of the dossiers handled)
    counts["paid_online"] = counts["fee_dossiers"]
    counts["digitized"] = counts["received"]
    counts["e_results"] = counts["resolved"]
    counts["handled_digitized"] = counts["handled"]
    counts["handled_e_result"] = counts["handled"]
    changed = {**report, "counts": counts, "criteria": [],
               "as_of": datetime.fromtimestamp(time.time(), UTC).isoformat()}
    page.evaluate("window.__marker = 1")  # gone if the page were reloaded
    engine = make_engine(site["db"])
    try:
        write_store(engine, [], [changed], time.time())
    finally:
        engine.dispose()
    stored = time.monotonic()
    assert wait_until(lambda: page.get_by_test_id("total").inner_text() != before, 2.0,
                      poll=0.05), "the total did not change within 2 s"
    took = time.monotonic() - stored
    assert page.evaluate("window.__marker") == 1
    now = _cli_report(site, COMMUNE, PERIOD, "own")
    total = total_of(now)
    assert total is not None and took <= 2.0
    assert page.get_by_test_id("total").inner_text().startswith(fmt.points(total[0]))
    page.close()
