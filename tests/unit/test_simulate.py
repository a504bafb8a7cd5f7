"""The event simulator: validity, determinism, calibration, time consistency, test data."""

from __future__ import annotations

import csv
import hashlib
import math
import re
from collections import Counter, defaultdict
from datetime import date, datetime
from functools import cache
from pathlib import Path
from typing import Any

import orjson
import pytest
import typer
from typer.testing import CliRunner

from kpi.calendar import WorkingCalendar, local_day, to_local_datetime
from kpi.simulate import (
    INVALID_KINDS,
    PROVINCE,
    TAN_HONG_2023,
    SimulationConfig,
    SimulationStats,
    default_units,
    expected_fee_share,
    format_time,
    generate_events,
    generate_lines,
    planned_counts,
    write_unit_registry,
)
from motcua.commands.simulate import register
from schemas.validate import InvalidEvent, parse_event, parse_obj

P = "vn.gov.motcua."
TIME_RE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+07:00$")
SMALL = SimulationConfig(seed=7, scale=0.05)


def ts(text: str) -> float:
    return datetime.fromisoformat(text).timestamp()


@cache
def events_of(config: SimulationConfig) -> tuple[dict[str, Any], ...]:
    return tuple(generate_events(config))


def by_dossier(events: tuple[dict[str, Any], ...]) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for e in events:
        out[e["subject"]].append(e)
    for evs in out.values():
        evs.sort(key=lambda e: (ts(e["time"]), int(e["id"].rsplit(".e", 1)[1])))
    return out


def tolerance(p: float, n: int) -> float:
    """Five binomial standard deviations plus 1 point of modelling slack."""
    return 5 * math.sqrt(max(p * (1 - p), 1e-4) / max(n, 1)) + 0.01


# --------------------------------------------------------------------------- validity


def test_every_event_validates_and_is_well_formed() -> None:
    events = events_of(SMALL)
    assert len(events) > 5000
    ids = set()
    for e in events:
        parsed = parse_obj(e)
        assert parsed.type == e["type"]
        assert TIME_RE.match(e["time"]), e["time"]
        assert re.fullmatch(r"DT-2025-\d{6}", e["subject"])
        assert e["specversion"] == "1.0" and e["source"] == "urn:motcua:dvc:dong-thap"
        ids.add((e["source"], e["id"]))
        if e["type"] == P + "dossier.received":
            d = e["data"]
            assert ("due_at" in d) != ("processing_days" in d)
    assert len(ids) == len(events), "ids are unique per source"
    types = Counter(e["type"] for e in events)
    for short in ("received", "transferred", "supplement_requested", "supplemented",
                  "extended", "resolved", "returned", "rejected", "withdrawn", "digitized"):
        assert types[P + "dossier." + short] > 0, short
    assert types[P + "payment.completed"] and types[P + "feedback.rated"]


def test_lines_parse_with_parse_event() -> None:
    cfg = SimulationConfig(seed=3, scale=0.02, end=date(2025, 3, 31))
    lines = list(generate_lines(cfg))
    assert lines and all(b"\n" not in line for line in lines)
    for line in lines:
        parse_event(line)
    assert [orjson.loads(x) for x in lines] == list(generate_events(cfg))


def test_events_are_in_time_order_and_inside_the_range() -> None:
    events = events_of(SMALL)
    times = [ts(e["time"]) for e in events]
    assert times == sorted(times)
    assert times[0] >= ts("2025-01-01T00:00:00+07:00")
    assert times[-1] < ts("2026-01-01T00:00:00+07:00")


def test_format_time() -> None:
    assert format_time(ts("2025-04-29T08:00:00+07:00")) == "2025-04-29T08:00:00+07:00"
    assert format_time(0) == "1970-01-01T07:00:00+07:00"


# --------------------------------------------------------------------------- determinism


def test_deterministic_with_a_seed() -> None:
    cfg = SimulationConfig(seed=11, scale=0.02, end=date(2025, 2, 28))
    assert list(generate_lines(cfg)) == list(generate_lines(cfg))
    other = SimulationConfig(seed=12, scale=0.02, end=date(2025, 2, 28))
    assert list(generate_lines(cfg)) != list(generate_lines(other))


# --------------------------------------------------------------------------- calibration


# Pinned from the code before the simulator was split into modules (issue 12): the same
# config and seed must keep giving the same bytes, whatever the layout of kpi.simulate.
PINNED_STREAMS = [
    (SimulationConfig(seed=11, scale=0.03, end=date(2025, 6, 30), duplicates=0.02,
                      invalid=0.02, shuffle=True, shuffle_window=50),
     1980, "852bb178509b96a9c75e090a07af8914f31c26a081a0883caec2641a074d6277"),
    (SimulationConfig(seed=12, scale=0.02, communes=3, start=date(2024, 12, 1),
                      end=date(2025, 2, 28), shuffle=True),
     616, "caef721b7ed9ceb0d3f72d0d32f24b44331fad9073161ee64115e4a6e13076aa"),
    (SimulationConfig(seed=13, scale=0.02, communes=20, end=date(2025, 3, 31)),
     608, "39ac3460643ff6029f98e1a68eb1de7e2ebe56ef29d4267af410bdb6a8ee0d58"),
]


@pytest.mark.parametrize(("config", "count", "digest"), PINNED_STREAMS)
def test_generated_bytes_are_pinned(config: SimulationConfig, count: int, digest: str) -> None:
    lines = list(generate_lines(config))
    assert len(lines) == count
    assert hashlib.sha256(b"\n".join(lines)).hexdigest() == digest


def test_default_plan_matches_tan_hong_2023_exactly() -> None:
    plan = planned_counts(SimulationConfig())
    units = {u.code: u for u in default_units()}
    district = [v for c, v in plan.items() if units[c].level == "district"]
    communes = [v for c, v in plan.items() if units[c].level == "commune"]
    assert district == [(3252, 2413)]
    assert len(communes) == 9
    assert sum(n for n, _ in communes) == 24378
    assert sum(o for _, o in communes) == 15121
    for n in (1, 5, 12, 20):
        us = default_units(n)
        assert sum(u.dossiers_per_year for u in us if u.level == "commune") == 24378
        assert sum(u.online_per_year for u in us if u.level == "commune") == 15121
        assert all(0 < u.online_per_year <= u.dossiers_per_year for u in us)


def test_scale_and_range_scale_volumes() -> None:
    assert planned_counts(SimulationConfig(scale=10))["DT.TANHONG"] == (32520, 24130)
    half = planned_counts(SimulationConfig(end=date(2025, 6, 30)))["DT.TANHONG"][0]
    assert 1400 < half < 1800


def test_generated_volumes_equal_the_plan() -> None:
    cfg = SimulationConfig(seed=5, scale=0.1, communes=4)
    stats = SimulationStats()
    received = Counter()
    online = Counter()
    for e in generate_events(cfg, stats):
        if e["type"] == P + "dossier.received":
            received[e["data"]["unit_code"]] += 1
            online[e["data"]["unit_code"]] += e["data"]["channel"] == "online"
    plan = planned_counts(cfg)
    assert {c: (received[c], online[c]) for c in plan} == plan
    assert received["DT.TANHONG"] == 325 and online["DT.TANHONG"] == 241
    assert stats.dossiers == sum(received.values())
    assert stats.events == sum(s.events for s in stats.by_unit.values())


def test_full_year_default_volumes() -> None:
    received: Counter[str] = Counter()
    online: Counter[str] = Counter()
    for e in generate_events(SimulationConfig(seed=1)):
        if e["type"] == P + "dossier.received":
            level = e["data"]["unit_level"]
            received[level] += 1
            online[level] += e["data"]["channel"] == "online"
    for level in ("district", "commune"):
        assert received[level] == TAN_HONG_2023[level]["received"]
        assert online[level] == TAN_HONG_2023[level]["online"]


def _outcomes(config: SimulationConfig) -> dict[str, Any]:
    """An independent, simplified reading of the stream (resolved dossiers only)."""
    cal = WorkingCalendar()
    stats: dict[str, Any] = defaultdict(Counter)
    for evs in by_dossier(events_of(config)).values():
        rec = evs[0]["data"]
        level = rec["unit_level"]
        t_rec = ts(evs[0]["time"])
        due = (ts(rec["due_at"]) if "due_at" in rec
               else cal.due_instant(t_rec, rec["processing_days"]))
        s = stats[level]
        s["received"] += 1
        s["fee"] += rec["fee_required"]
        types = [e["type"][len(P):] for e in evs]
        s["supplement"] += "dossier.supplement_requested" in types
        s["rejected"] += "dossier.rejected" in types
        s["withdrawn"] += "dossier.withdrawn" in types
        digit = [e for e in evs if e["type"] == P + "dossier.digitized"]
        if digit:
            last = digit[-1]["data"]
            s["digitized"] += last["components_digitized"] == last["components_total"] > 0
        done = [e for e in evs if e["type"] in (P + "dossier.resolved", P + "dossier.returned")]
        if not done or "dossier.rejected" in types or "dossier.withdrawn" in types:
            continue
        s["resolved"] += 1
        paused = 0.0
        opened = None
        for e in evs:
            if e["type"] == P + "dossier.supplement_requested":
                opened = ts(e["time"])
            elif e["type"] == P + "dossier.supplemented" and opened is not None:
                paused += ts(e["time"]) - opened
                opened = None
        adjusted = ts(done[0]["time"]) - paused
        late = adjusted > due or types.count("dossier.supplement_requested") > 1
        s["late"] += late
        ext = [ts(e["time"]) for e in evs if e["type"] == P + "dossier.extended"]
        s["late_apology"] += late and bool(ext) and min(ext) < due
        res = [e for e in evs if e["type"] == P + "dossier.resolved"]
        s["e_result"] += bool(res) and res[0]["data"]["result_electronic"]
        pays = [e for e in evs if e["type"] == P + "payment.completed"]
        if rec["fee_required"] and rec["channel"] == "online":
            s["fee_online"] += 1
            s["paid_online"] += any(p["data"]["method"] == "online" for p in pays)
    for e in events_of(config):
        if e["type"] == P + "feedback.rated":
            stats["all"]["rated"] += 1
            stats["all"]["satisfied"] += e["data"]["rating"] == "satisfied"
    return stats


def test_behaviour_shares_are_calibrated() -> None:
    cfg = SimulationConfig(seed=9, scale=0.25)
    st = _outcomes(cfg)
    tot: Counter[str] = Counter()
    for level in ("district", "commune"):
        tot.update(st[level])
        s = st[level]
        on_time = TAN_HONG_2023[level]["on_time"]
        late_share = s["late"] / s["resolved"]
        assert abs(late_share - (1 - on_time)) < tolerance(1 - on_time, s["resolved"]) / 2
    n = tot["received"]
    assert abs(tot["supplement"] / n - 0.05) < tolerance(0.05, n)
    assert abs(tot["rejected"] / n - 0.005) < tolerance(0.005, n)
    assert abs(tot["withdrawn"] / n - 0.003) < tolerance(0.003, n)
    assert abs(tot["digitized"] / n - 0.85) < tolerance(0.85, n)
    procs = cfg.procedures_by_level()
    fee = sum(
        TAN_HONG_2023[lv]["received"] * expected_fee_share(procs[lv]) for lv in st if lv != "all"
    ) / (3252 + 24378) * (1 - cfg.fee_exempt_share)
    assert 0.25 < fee < 0.35
    assert abs(tot["fee"] / n - fee) < tolerance(fee, n)
    assert 0.4 <= tot["paid_online"] / tot["fee_online"] <= 0.6
    assert 0.35 < tot["e_result"] / tot["resolved"] < 0.5
    assert tot["late_apology"] / tot["late"] > 0.5
    rated = st["all"]["rated"]
    assert abs(rated / tot["resolved"] - 0.30) < tolerance(0.30, tot["resolved"])
    assert abs(st["all"]["satisfied"] / rated - 0.95) < tolerance(0.95, rated)


# --------------------------------------------------------------------------- time consistency


def test_per_dossier_time_consistency() -> None:
    cal = WorkingCalendar()
    end = ts("2026-01-01T00:00:00+07:00")
    in_progress_late_dec = 0
    for subject, evs in by_dossier(events_of(SMALL)).items():
        first = evs[0]
        assert first["type"] == P + "dossier.received", subject
        assert first["id"] == subject + ".e1"
        t0 = ts(first["time"])
        local = to_local_datetime(t0)
        assert cal.is_working_day(local.date())
        assert (7, 30) <= (local.hour, local.minute) and local.hour < 17
        rec = first["data"]
        due = ts(rec["due_at"]) if "due_at" in rec else cal.due_instant(
            t0, rec["processing_days"])
        if "due_at" in rec:
            assert due > t0 and to_local_datetime(due).hour == 17
        times = {e["type"][len(P):]: ts(e["time"]) for e in evs}
        kinds = [e["type"][len(P):] for e in evs]
        assert kinds.count("dossier.received") == 1
        assert all(ts(e["time"]) > t0 for e in evs[1:])
        assert all(ts(e["time"]) < end for e in evs)
        # pauses alternate request → supplemented, strictly increasing
        pause = [e for e in evs if e["type"] in (P + "dossier.supplement_requested",
                                                  P + "dossier.supplemented")]
        for i, e in enumerate(pause):
            want = "supplement_requested" if i % 2 == 0 else "supplemented"
            assert e["type"].endswith(want), subject
            if i:
                assert ts(e["time"]) > ts(pause[i - 1]["time"])
        terminal = {"dossier.rejected", "dossier.withdrawn"} & set(kinds)
        if terminal:
            assert len(terminal) == 1
            assert not {"dossier.resolved", "dossier.returned", "feedback.rated"} & set(kinds)
            t_end = times[terminal.pop()]
            assert all(ts(e["time"]) <= t_end for e in evs)
            continue
        if "dossier.resolved" in times:
            assert all(ts(e["time"]) <= times["dossier.resolved"] for e in pause)
            if "dossier.returned" in times:
                assert times["dossier.resolved"] <= times["dossier.returned"]
        if "feedback.rated" in times:
            assert times["feedback.rated"] > times["dossier.returned"]
        for e in evs:
            if e["type"] == P + "dossier.extended":
                new_due = ts(e["data"]["new_due_at"])
                assert new_due > due
                completion = times.get("dossier.resolved", times.get("dossier.returned"))
                if completion is not None:
                    assert new_due >= completion
                    assert ts(e["time"]) < completion
        if not {"dossier.resolved", "dossier.returned"} & set(kinds):
            if local.month == 12 and local.day >= 10:
                in_progress_late_dec += 1
    assert in_progress_late_dec > 0, "dossiers received in the last days are still in progress"


def test_in_progress_at_year_end_resembles_the_report() -> None:
    # Tân Hồng 2023: 27,630 received, 27,282 resolved → 348 unresolved (1.26%)
    cfg = SimulationConfig(seed=4, scale=0.2)
    open_ = 0
    total = 0
    for evs in by_dossier(events_of(cfg)).values():
        total += 1
        kinds = {e["type"][len(P):] for e in evs}
        open_ += not kinds & {"dossier.resolved", "dossier.returned", "dossier.rejected",
                              "dossier.withdrawn"}
    assert 0.005 < open_ / total < 0.03


def test_receipts_follow_the_2025_working_calendar() -> None:
    days = Counter(
        local_day(ts(e["time"])) for e in events_of(SMALL) if e["type"] == P + "dossier.received"
    )
    cal = WorkingCalendar()
    saturday_26_4 = local_day(ts("2025-04-26T12:00:00+07:00"))
    friday_2_5 = local_day(ts("2025-05-02T12:00:00+07:00"))
    assert cal.is_working_day(date(2025, 4, 26))
    assert friday_2_5 not in days
    assert saturday_26_4 in days or sum(days.values()) < 500


# --------------------------------------------------------------------------- test data


def test_invalid_lines_are_invalid_and_varied() -> None:
    cfg = SimulationConfig(seed=2, scale=0.02, end=date(2025, 3, 31), invalid=0.05)
    stats = SimulationStats()
    lines = list(generate_lines(cfg, stats))
    valid = invalid = 0
    reasons = []
    for line in lines:
        try:
            parse_event(line)
            valid += 1
        except InvalidEvent as exc:
            invalid += 1
            reasons.append(exc.reason)
    assert invalid == sum(stats.invalid.values()) > 0
    assert set(stats.invalid) == set(INVALID_KINDS)
    assert valid == stats.events
    assert abs(invalid / valid - 0.05) < tolerance(0.05, valid)
    joined = " | ".join(reasons)
    for fragment in ("not JSON", "subject", "time", "unknown event type", "amount_vnd"):
        assert fragment in joined
    clean = [x for x in generate_lines(SimulationConfig(seed=2, scale=0.02,
                                                        end=date(2025, 3, 31)))]
    assert [x for x in lines if _is_valid(x)] == clean


def _is_valid(line: bytes) -> bool:
    try:
        parse_event(line)
    except InvalidEvent:
        return False
    return True


def test_duplicates_are_exact_copies() -> None:
    base = SimulationConfig(seed=6, scale=0.02, end=date(2025, 3, 31))
    cfg = SimulationConfig(seed=6, scale=0.02, end=date(2025, 3, 31), duplicates=0.1)
    stats = SimulationStats()
    lines = list(generate_lines(cfg, stats))
    seen: dict[str, bytes] = {}
    dups = 0
    for line in lines:
        key = orjson.loads(line)["id"]
        if key in seen:
            assert seen[key] == line
            dups += 1
        else:
            seen[key] = line
    assert dups == stats.duplicates > 0
    assert list(seen.values()) == list(generate_lines(base))
    assert abs(dups / len(seen) - 0.1) < tolerance(0.1, len(seen))


@pytest.mark.parametrize("window", [None, 50])
def test_shuffle_keeps_the_same_events(window: int | None) -> None:
    base = SimulationConfig(seed=8, scale=0.02, end=date(2025, 3, 31))
    cfg = SimulationConfig(seed=8, scale=0.02, end=date(2025, 3, 31), shuffle=True,
                           shuffle_window=window)
    plain = list(generate_lines(base))
    shuffled = list(generate_lines(cfg))
    assert shuffled != plain
    assert sorted(shuffled) == sorted(plain)


def test_config_is_checked() -> None:
    with pytest.raises(ValueError):
        SimulationConfig(start=date(2025, 2, 1), end=date(2025, 1, 1))
    with pytest.raises(ValueError):
        SimulationConfig(duplicates=1.5)
    with pytest.raises(ValueError):
        SimulationConfig(scale=0)


# --------------------------------------------------------------------------- registry and CLI


def test_unit_registry(tmp_path: Path) -> None:
    path = tmp_path / "units.csv"
    units = default_units(12)
    assert write_unit_registry(path, (PROVINCE, *units)) == 14
    rows = list(csv.DictReader(path.open(encoding="utf-8")))
    assert list(rows[0]) == ["code", "name", "level", "parent"]
    by_code = {r["code"]: r for r in rows}
    district = [r for r in rows if r["level"] == "district"]
    assert len(district) == 1 and district[0]["parent"] == PROVINCE.code
    assert district[0]["name"] == "UBND huyện Tân Hồng"
    communes = [r for r in rows if r["level"] == "commune"]
    assert len(communes) == 12
    assert all(r["parent"] == district[0]["code"] for r in communes)
    assert any(r["name"] == "UBND xã Tân Hộ Cơ" for r in communes)
    assert by_code[PROVINCE.code]["level"] == "province"


def _simulate_app() -> typer.Typer:
    app = typer.Typer()
    register(app)

    @app.callback()
    def _root() -> None:  # keep "simulate" a sub-command
        pass

    return app


def test_cli_simulate(tmp_path: Path) -> None:
    app = _simulate_app()
    out = tmp_path / "events.jsonl"
    units_out = tmp_path / "units.csv"
    result = CliRunner().invoke(app, [
        "simulate", "--out", str(out), "--units-out", str(units_out), "--seed", "3",
        "--scale", "0.02", "--units", "3", "--start", "2025-01-01", "--end", "2025-03-31",
        "--duplicates", "0.01", "--invalid", "0.01",
    ])
    assert result.exit_code == 0, result.output
    lines = out.read_bytes().splitlines()
    cfg = SimulationConfig(seed=3, scale=0.02, communes=3, end=date(2025, 3, 31),
                           duplicates=0.01, invalid=0.01)
    assert lines == list(generate_lines(cfg))
    assert "DT.TANHONG" in result.output and "dossiers" in result.output.lower()
    assert len(list(csv.reader(units_out.open(encoding="utf-8")))) == 1 + 1 + 1 + 3


def test_cli_simulate_refuses_the_removed_rate_option(tmp_path: Path) -> None:
    out = tmp_path / "events.jsonl"
    result = CliRunner().invoke(_simulate_app(), [
        "simulate", "--out", str(out), "--scale", "0.01", "--rate", "100",
    ], env={"COLUMNS": "250"})
    assert result.exit_code == 2
    assert "--rate was removed" in result.output and "motcua soak --rate" in result.output
    assert not out.exists()
