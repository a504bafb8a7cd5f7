"""The simulator's v1.1 families (SimulationConfig(families=True), kpi.simulate.families):
petitions, each desk's procedure catalog and the documents it sends, and the portal sync —
valid, in time order, deterministic, at the configured rates, joined to the dossiers they
name, with unit codes in force; and a batch report of a simulated year scores every group
of Decision 766. The rates are checked against the configuration with binomial tolerances
(counted here from the events, not from the code under test)."""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from datetime import date, datetime
from functools import cache
from pathlib import Path
from typing import Any

import typer
from typer.testing import CliRunner

from kpi.batch import aggregate, fold_lines
from kpi.calendar import WorkingCalendar, local_date, local_instant
from kpi.registry import UnitRegistry
from kpi.report import report_criteria
from kpi.simulate import (
    SimulationConfig,
    SimulationStats,
    generate_events,
    generate_lines,
    write_registry,
)
from kpi.simulate.procedures import PROCEDURES_BY_LEVEL
from kpi.units import CalendarBook
from motcua.commands.simulate import register
from schemas.validate import parse_obj

P = "vn.gov.motcua."
PLAIN = SimulationConfig(seed=31, scale=0.1, families=True)
REORG = SimulationConfig(seed=32, scale=0.1, families=True, reorganisation=True)


@cache
def events_of(config: SimulationConfig) -> tuple[dict[str, Any], ...]:
    return tuple(generate_events(config))


def ts(text: str) -> float:
    return datetime.fromisoformat(text).timestamp()


def of_type(config: SimulationConfig, short: str) -> list[dict[str, Any]]:
    return [e for e in events_of(config) if e["type"] == P + short]


def tolerance(p: float, n: int) -> float:
    """Five binomial standard deviations plus 1 point of slack."""
    return 5 * math.sqrt(max(p * (1 - p), 1e-4) / max(n, 1)) + 0.01


def test_family_events_validate_in_time_order_inside_the_range() -> None:
    for config in (PLAIN, REORG):
        events = events_of(config)
        for e in events:
            assert parse_obj(e).type == e["type"]
        assert len({(e["source"], e["id"]) for e in events}) == len(events)
        times = [ts(e["time"]) for e in events]
        assert times == sorted(times)
        assert times[0] >= ts("2025-01-01T00:00:00+07:00")
        assert times[-1] < ts("2026-01-01T00:00:00+07:00")
        types = Counter(e["type"][len(P):] for e in events)
        for short in ("petition.received", "petition.answered", "petition.rated",
                      "procedure.published", "procedure.withdrawn", "document.issued",
                      "dossier.synced"):
            assert types[short] > 0, (short, config.reorganisation)


def test_without_families_nothing_changes_and_the_dossiers_are_the_same() -> None:
    off = SimulationConfig(seed=31, scale=0.1)
    plain = list(generate_events(off))
    assert not any(e["type"].startswith((P + "petition.", P + "procedure.", P + "document."))
                   for e in plain)
    # the dossiers drew the same: same receipts (but the v1.2 fields the families add),
    # same event types but the added syncs
    v12 = ("citizen_data_used", "reuse_eligible")
    received = [{**e, "data": {k: v for k, v in e["data"].items() if k not in v12}}
                for e in events_of(PLAIN) if e["type"] == P + "dossier.received"]
    assert received == [e for e in plain if e["type"] == P + "dossier.received"]

    def kinds(events: Any) -> Counter[tuple[str, str]]:
        return Counter((e["subject"], e["type"]) for e in events
                       if e["subject"].startswith("DT-2025-")
                       and e["type"] != P + "dossier.synced")

    assert kinds(events_of(PLAIN)) == kinds(plain)
    # deterministic by seed
    assert list(generate_lines(PLAIN)) == list(generate_lines(PLAIN))
    other = SimulationConfig(seed=33, scale=0.1, families=True)
    assert list(generate_lines(other)) != list(generate_lines(PLAIN))


def test_petitions_at_their_rates() -> None:
    dossiers = {e["subject"]: e for e in of_type(PLAIN, "dossier.received")}
    received = of_type(PLAIN, "petition.received")
    n = len(received)
    p = PLAIN.petitions_per_dossier
    assert abs(n / len(dossiers) - p) < tolerance(p, len(dossiers))
    assert n >= 20
    naming = [e for e in received if "dossier_code" in e["data"]]
    assert abs(len(naming) / n - PLAIN.petition_names_dossier_share) < tolerance(0.5, n)
    outside = [e for e in received if not e["data"]["within_competence"]]
    assert 0 < len(outside) < n / 3
    cal = WorkingCalendar()
    answered = {e["subject"]: ts(e["time"]) for e in of_type(PLAIN, "petition.answered")}
    late = 0
    for e in naming:  # it names a dossier received before it, by the unit handling it
        d = dossiers[e["data"]["dossier_code"]]
        assert ts(d["time"]) < ts(e["time"])
        assert e["data"]["unit_code"] == d["data"].get("handling_unit_code",
                                                        d["data"]["unit_code"])
    for e in received:
        due = cal.due_instant(ts(e["time"]), e["data"]["processing_days"])
        if e["subject"] in answered:
            assert answered[e["subject"]] > ts(e["time"])
            late += answered[e["subject"]] > due
    assert 0 < late < 0.3 * len(answered)
    # some still open at the end of the year
    assert len(answered) < n
    ratings = Counter(e["data"]["rating"] for e in of_type(PLAIN, "petition.rated"))
    assert ratings["satisfied"] > ratings["dissatisfied"] > 0


def test_documents_and_portal_sync_at_their_rates() -> None:
    dossiers = of_type(PLAIN, "dossier.received")
    n = len(dossiers)
    docs = of_type(PLAIN, "document.issued")
    assert abs(len(docs) / n - PLAIN.documents_per_dossier) < tolerance(0.3, n)
    signed = sum(e["data"]["electronic"] and e["data"]["digitally_signed"] for e in docs)
    want = PLAIN.document_electronic_share * PLAIN.document_signed_share
    assert abs(signed / len(docs) - want) < tolerance(want, len(docs))
    assert all(e["data"]["electronic"] for e in docs if e["data"]["digitally_signed"])
    # v1.2 (kpi.simulate.portal): every dossier syncs to the portal, the share
    # portal_sync_share within the day of its receipt (1–20 hours), the rest 30–72 hours late
    first: dict[str, float] = {}
    for e in of_type(PLAIN, "dossier.synced"):
        if e["data"]["target"] == "dvcqg":
            first[e["subject"]] = min(first.get(e["subject"], 1e18), ts(e["time"]))
    received_at = {e["subject"]: ts(e["time"]) for e in dossiers}
    timely = sum(1 for code, t in first.items() if t - received_at[code] <= 24 * 3600)
    assert len(first) > 0.97 * n  # (late syncs of the last days fall after the run's end)
    assert abs(timely / n - PLAIN.portal_sync_share) < tolerance(0.9, n)


def test_catalogs_cover_the_dossiers_procedures() -> None:
    published = of_type(PLAIN, "procedure.published")
    entries = {e["subject"] for e in published}
    # every procedure of every desk's level, once per desk: district 12 + 9 communes × 13
    assert len(entries) == len(PROCEDURES_BY_LEVEL["district"]) + 9 * len(
        PROCEDURES_BY_LEVEL["commune"])
    for e in published:
        assert e["subject"] == f"{e['data']['unit_code']}/{e['data']['procedure_code']}"
    # every dossier's (receiving unit, procedure) is an entry of the catalog
    for d in of_type(PLAIN, "dossier.received"):
        assert f"{d['data']['unit_code']}/{d['data']['procedure_code']}" in entries
    # first publications: on or before the deadline, but some late
    first: dict[str, dict[str, Any]] = {}
    for e in published:
        first.setdefault(e["subject"], e)
    late = sum(ts(e["time"]) > ts(e["data"]["due_at"]) for e in first.values())
    assert 0 < late < 0.3 * len(first)
    # some entries updated (published again), some withdrawn
    again = Counter(e["subject"] for e in published)
    assert any(n > 1 for n in again.values())
    assert of_type(PLAIN, "procedure.withdrawn")


def test_every_unit_code_is_in_force_when_used(tmp_path: Path) -> None:
    path = tmp_path / "units.csv"
    write_registry(path, REORG.registry_rows())
    reg = UnitRegistry.load(path)
    seen: Counter[str] = Counter()
    for e in events_of(REORG):
        code = e["data"].get("unit_code")
        if code is None or e["type"] == P + "dossier.received":
            continue  # dossiers: tests/unit/test_simulate_reorg.py
        day = local_date(ts(e["time"]))
        assert reg.version_on(code, day) is not None, (e["type"], e["subject"], code, day)
        seen[e["type"]] += 1
    assert seen[P + "petition.received"] and seen[P + "document.issued"]
    # the old desks' entries are withdrawn at the cutover instant; the new desks publish
    cut = local_instant(REORG.cutover)
    withdrawn = defaultdict(list)
    for e in of_type(REORG, "procedure.withdrawn"):
        withdrawn[e["subject"].split("/")[0]].append(ts(e["time"]))
    for code in ("DT.TANHONG", "DT.TANHONG.X01"):
        assert cut in withdrawn[code]
    new = {e["data"]["unit_code"] for e in of_type(REORG, "procedure.published")
           if ts(e["time"]) >= cut}
    assert {"DT", "DT.M01", "DT.M02", "DT.M03"} <= new


def test_a_simulated_year_scores_every_decision_766_group(tmp_path: Path) -> None:
    path = tmp_path / "units.csv"
    write_registry(path, REORG.registry_rows())
    reg = UnitRegistry.load(path)
    as_of = local_instant(date(2026, 1, 1))
    agg = aggregate(fold_lines(generate_lines(REORG)).states(), as_of, CalendarBook(),
                    registry=reg)
    counts = agg.totals[("DT", "2025")].to_dict()
    # the families reached the counts (and the joins: petitioned dossiers, used entries)
    for key in ("petitions_received", "petitions_answered", "dossiers_petitioned",
                "procedures", "procedures_published", "procedures_online_used",
                "procedures_full_online_used", "procedures_online_payment_used",
                "documents_issued", "documents_e_signed", "synced"):
        assert counts[key] > 0, key
    entries = [e for e in report_criteria(counts, "province", date(2025, 1, 1))
               if e["id"].startswith("766.")]
    by_status: dict[str, set[str]] = defaultdict(set)
    for e in entries:
        by_status[e["status"]].add(e["id"])
    # every indicator that has a ratio is scored; the four without are listed as such
    assert by_status["not scored: no data"] == {"766.1.1", "766.1.3", "766.2.2", "766.4.3"}
    assert set(by_status) == {"scored", "not scored: no data"}
    assert {e["group"] for e in entries if e["status"] == "scored"} == {
        "transparency", "progress", "online_services", "digitization", "satisfaction"}
    # and so does each desk in force at the end of the year, on its own figures
    for unit in ("DT.M01", "DT.M02", "DT.M03"):
        own = agg.counters[(unit, "2025")].to_dict()
        scored = {e["group"] for e in report_criteria(own, "commune", date(2025, 1, 1))
                  if e["id"].startswith("766.") and e["status"] == "scored"}
        assert len(scored) == 5, (unit, scored)


def test_cli_simulate_with_families(tmp_path: Path) -> None:
    app = typer.Typer()
    register(app)

    @app.callback()
    def _root() -> None:
        pass

    out = tmp_path / "events.jsonl"
    result = CliRunner().invoke(app, [
        "simulate", "--out", str(out), "--seed", "4", "--scale", "0.02", "--end",
        "2025-03-31", "--families"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    cfg = SimulationConfig(seed=4, scale=0.02, end=date(2025, 3, 31), families=True)
    assert out.read_bytes().splitlines() == list(generate_lines(cfg))
    stats = SimulationStats()
    events = list(generate_events(cfg, stats))
    assert f"{stats.families['catalog_entries']:,} catalog entries" in result.output
    # the family events count in events, not in any unit's dossier events
    family = [e for e in events if not e["subject"].startswith("DT-2025-")]
    assert family and stats.events == len(events)
    assert stats.events == sum(u.events for u in stats.by_unit.values()) + len(family)
    assert stats.families["documents"] == sum(e["type"] == P + "document.issued"
                                              for e in events)


def test_config_checks_the_family_rates() -> None:
    import pytest

    for bad in ({"petitions_per_dossier": 1.5}, {"document_signed_share": -0.1},
                {"catalog_update_share": 0.6, "catalog_withdrawn_share": 0.6},
                {"petition_days": 0}):
        with pytest.raises(ValueError):
            SimulationConfig(families=True, **bad)  # type: ignore[arg-type]
