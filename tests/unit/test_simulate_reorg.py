"""The simulator across the 1 July 2025 reorganisation (SimulationConfig(reorganisation=True)):
the registry it writes loads and validates, every unit code an event uses is in force at
that event, dossiers cross the cutover, and the v1.1 behaviours appear in a few per cent."""

from __future__ import annotations

import csv
from collections import Counter, defaultdict
from datetime import date, datetime
from functools import cache
from pathlib import Path
from typing import Any

import typer
from typer.testing import CliRunner

from kpi.attribution import restate
from kpi.batch import aggregate, fold_lines
from kpi.calendar import local_date, local_instant
from kpi.counters import CATALOG_DISTINCT_KEYS, INDEX, Counters
from kpi.registry import UnitRegistry
from kpi.simulate import (
    REGISTRY_COLUMNS,
    SimulationConfig,
    SimulationStats,
    generate_events,
    generate_lines,
    planned_counts,
    write_registry,
)
from kpi.units import CalendarBook
from motcua.commands.simulate import register
from schemas.validate import parse_obj

P = "vn.gov.motcua."
CONFIG = SimulationConfig(seed=21, scale=0.05, reorganisation=True)


@cache
def events() -> tuple[dict[str, Any], ...]:
    return tuple(generate_events(CONFIG))


def _registry(tmp_path: Path, config: SimulationConfig = CONFIG) -> UnitRegistry:
    path = tmp_path / "units.csv"
    write_registry(path, config.registry_rows())
    return UnitRegistry.load(path)


def _day(e: dict[str, Any]) -> date:
    return local_date(datetime.fromisoformat(e["time"]).timestamp())


def test_the_registry_loads_and_says_who_takes_over(tmp_path: Path) -> None:
    reg = _registry(tmp_path)
    rows = list(csv.reader((tmp_path / "units.csv").open(encoding="utf-8")))
    assert tuple(rows[0]) == REGISTRY_COLUMNS
    # province DT (two versions, same code), district, 9 old communes, 3 new ones
    assert len(rows) == 1 + 2 + 1 + 9 + 3
    june, july = date(2025, 6, 30), date(2025, 7, 1)
    assert reg.in_force_on("DT.TANHONG", june) == "DT.TANHONG"
    assert reg.in_force_on("DT.TANHONG", july) == "DT"
    old = [f"DT.TANHONG.X{i:02d}" for i in range(1, 10)]
    assert [reg.in_force_on(c, july) for c in old] == ["DT.M01"] * 3 + ["DT.M02"] * 3 + [
        "DT.M03"] * 3
    assert reg.ancestors_on("DT.TANHONG.X05", june) == ["DT.TANHONG", "DT"]
    assert reg.ancestors_on("DT.M02", july) == ["DT"]
    assert sorted(v.code for v in reg.in_force_units(july)) == [
        "DT", "DT.M01", "DT.M02", "DT.M03"]
    assert all(v.name.endswith("[M]") for v in reg.in_force_units(july) if v.code != "DT")
    # without the reorganisation: the same units, in force since always
    plain = _registry(tmp_path, SimulationConfig(seed=21, scale=0.05))
    assert plain.ceased() == [] and len(plain.in_force_units(july)) == 1 + 1 + 9


def test_every_unit_code_is_in_force_when_used(tmp_path: Path) -> None:
    reg = _registry(tmp_path)
    seen: Counter[str] = Counter()
    for e in events():
        if e["type"] != P + "dossier.received":
            continue
        day = _day(e)
        for field in ("unit_code", "handling_unit_code"):
            code = e["data"].get(field)
            if code is None:
                continue
            assert reg.version_on(code, day) is not None, (e["subject"], field, code, day)
            seen["new" if code.startswith("DT.M") or code == "DT" else "old"] += 1
        before = day < CONFIG.cutover
        assert e["data"]["unit_code"].startswith("DT.TANHONG") == before, e
    assert seen["old"] > 100 and seen["new"] > 100


def test_dossiers_cross_the_cutover() -> None:
    by_subject: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for e in events():
        by_subject[e["subject"]].append(e)
    crossing = 0
    for evs in by_subject.values():
        rec = next((e for e in evs if e["type"] == P + "dossier.received"), None)
        res = [e for e in evs if e["type"] == P + "dossier.resolved"]
        if rec and res and _day(rec).month == 6 and _day(res[0]).month == 7:
            crossing += 1
    assert crossing >= 5


def test_v11_behaviours_appear_in_a_few_per_cent() -> None:
    received = [e for e in events() if e["type"] == P + "dossier.received"]
    n = len(received)
    assert n == sum(r for r, _ in planned_counts(CONFIG).values())
    other = sum("handling_unit_code" in e["data"] for e in received)
    types = Counter(e["type"] for e in events())
    assert 0.01 < other / n < 0.06
    assert 0.02 < types[P + "dossier.synced"] / n < 0.07
    assert 0 < types[P + "dossier.stopped"] / n < 0.03
    reused = [e for e in events() if e["type"] == P + "dossier.digitized"
              and e["data"]["components_reused"] > 0]
    assert len(reused) > 0.05 * n
    for e in events():
        parse_obj(e)  # every event validates (v1.1 models)
    # a stopped dossier has no event after its stop
    last: dict[str, tuple[str, str]] = {}
    for e in sorted(events(), key=lambda e: (e["time"], int(e["id"].rsplit(".e", 1)[1]))):
        last[e["subject"]] = (e["type"], e["time"])
    stopped = {e["subject"] for e in events() if e["type"] == P + "dossier.stopped"}
    assert stopped and all(last[s][0] == P + "dossier.stopped" for s in stopped)


def test_totals_with_the_generated_registry(tmp_path: Path) -> None:
    # everything is below the province: its total is the sum of every unit's own figures,
    # as it was and restated; restated own figures name only units in force at as_of
    reg = _registry(tmp_path)
    as_of = local_instant(date(2026, 1, 1))
    batch = fold_lines(generate_lines(CONFIG))
    agg = aggregate(batch.states(), as_of, CalendarBook(), registry=reg)
    own_sum = Counters()
    for (_unit, period), c in agg.counters.items():
        if period == "2025":
            own_sum += c
    # v1.2 exceptions to the sum: communes are the registry's (the communes in force below
    # the province on 31/12/2025), catalog counts count each procedure code once
    communes = sum(1 for v in reg.in_force_units(date(2025, 12, 31)) if v.level == "commune")
    assert communes > 0
    total = agg.totals[("DT", "2025")]
    assert total["communes"] == communes
    for key in CATALOG_DISTINCT_KEYS:
        assert total[key] <= own_sum[key], key
    r_own, r_total = restate(agg.counters, reg, as_of)
    assert r_total[("DT", "2025")]["communes"] == communes
    for c in (total, r_total[("DT", "2025")], own_sum):
        for key in ("communes", *CATALOG_DISTINCT_KEYS):
            c.values[INDEX[key]] = 0
    assert total == own_sum
    assert r_total[("DT", "2025")] == own_sum
    assert {u for u, _ in r_own} <= {"DT", "DT.M01", "DT.M02", "DT.M03"}
    # the district's own desk took in dossiers until June only
    assert agg.counters.get(("DT.TANHONG", "2025-Q3"), Counters()).to_dict()["received"] == 0
    assert agg.counters[("DT", "2025-Q3")].to_dict()["received"] > 0


def test_cli_simulate_with_the_reorganisation(tmp_path: Path) -> None:
    app = typer.Typer()
    register(app)

    @app.callback()
    def _root() -> None:
        pass

    out, units_out = tmp_path / "events.jsonl", tmp_path / "units.csv"
    result = CliRunner().invoke(app, [
        "simulate", "--out", str(out), "--units-out", str(units_out), "--seed", "4",
        "--scale", "0.02", "--start", "2025-06-01", "--end", "2025-08-31",
        "--reorganisation"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    cfg = SimulationConfig(seed=4, scale=0.02, start=date(2025, 6, 1), end=date(2025, 8, 31),
                           reorganisation=True)
    assert out.read_bytes().splitlines() == list(generate_lines(cfg))
    reg = UnitRegistry.load(units_out)
    assert reg.in_force_on("DT.TANHONG.X09", date(2025, 8, 1)) == "DT.M03"
    assert "DT.M01" in result.output and "DT.TANHONG" in result.output
    stats = SimulationStats()
    list(generate_events(cfg, stats))
    assert {"DT", "DT.M01", "DT.TANHONG"} <= set(stats.by_unit)
