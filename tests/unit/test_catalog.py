"""Catalog files: shipped contents, validation messages, date/level selection."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path
from typing import Any

import pytest
import yaml

from kpi.catalog import (
    Catalog,
    CatalogError,
    find_catalog,
    load_catalog,
    load_catalogs,
    parse_catalog,
    select_catalog,
    shipped_catalogs,
)
from kpi.criteria import CRITERION_RATIO_KEYS, GROUP_LABELS_VI, GROUPS, NOT_SCORED, SATISFACTION_766
from kpi.ratios import CRITERION_RATIO_FORMULAS, RATIO_KEYS

D = dt.date


def base(**over: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "id": "test-cat",
        "version": "1",
        "kind": "par_index",
        "issuer": "UBND tỉnh Thử nghiệm",
        "level": "commune",
        "valid_from": "2025-01-01",
        "valid_to": "2025-12-31",
        "source": "test [M]",
        "criteria": [
            {
                "id": "A.1",
                "name": "Tỷ lệ đúng hạn",
                "ratio": "on_time_resolved",
                "max_points": 1.0,
                "rule": "steps",
                "steps": [[1.0, 1.0], [0.95, 0.5]],
                "no_dossiers": "full",
                "grade": "M",
            },
            {
                "id": "A.2",
                "name": "Tỷ lệ trực tuyến",
                "ratio": "online_receipt",
                "max_points": 2,
                "rule": "target",
                "target": 0.5,
                "no_dossiers": "not_applicable",
                "grade": "M",
            },
        ],
    }
    data.update(over)
    return data


def write(tmp_path: Path, data: Any, name: str = "cat.yaml") -> Path:
    p = tmp_path / name
    p.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return p


def load_error(tmp_path: Path, data: Any) -> str:
    p = write(tmp_path, data)
    with pytest.raises(CatalogError) as info:
        load_catalog(p)
    msg = str(info.value)
    assert "\n" not in msg, "errors are one line"
    assert msg.startswith(f"{p}: "), "errors name the file first"
    return msg


# ------------------------------------------------------------------- shipped catalogs


def shipped() -> dict[str, Catalog]:
    return {c.id: c for c in shipped_catalogs()}


def test_shipped_catalogs_load() -> None:
    cats = shipped()
    assert set(cats) == {"portal-766-2026", "decision-766-2022", "par-example-district-office",
                         "par-example-commune"}


# docs/domain.md "Decision 766/QĐ-TTg": group totals [V], in the order of the ids
GROUP_TOTALS_V = {"transparency": 18, "progress": 20, "online_services": 22,
                  "digitization": 22, "satisfaction": 18}


def test_decision_766_matches_domain_table() -> None:
    c = shipped()["decision-766-2022"]
    assert c.kind == "decision_766" and c.level == "any"
    assert c.valid_from == D(2022, 6, 23) and c.valid_to is None
    got = {x.id: (x.group, x.ratio, x.max_points, x.rule, x.target, x.grade)
           for x in c.criteria}
    assert got == {
        # transparency: 1.2's 4 points [V]; the rest of the 18 split as configuration [M]
        "766.1.1": ("transparency", None, 5, None, None, "M"),
        "766.1.2": ("transparency", "procedures_on_time", 4, "linear", None, "M"),
        "766.1.3": ("transparency", None, 4, None, None, "M"),
        "766.1.4": ("transparency", "portal_sync", 5, "linear", None, "M"),
        # progress: 2.1 is the group's 20 [V]; average handling time: points unknown
        "766.2.1": ("progress", "on_time_766", 20, "linear", None, "S"),
        "766.2.2": ("progress", None, None, None, None, "M"),
        # online services: the [S] maxima 12 and 6 kept, 4 points split [M]
        "766.3.1": ("online_services", "procedures_online_share", 1, "linear", None, "M"),
        "766.3.2": ("online_services", "online_procedures_used", 1.5, "linear", None, "M"),
        "766.3.3": ("online_services", "online_receipt", 12, "target", 0.5, "S"),
        "766.3.5": ("online_services", "online_payment_procedures_used", 1.5, "linear",
                    None, "M"),
        "766.3.6": ("online_services", "online_payment", 6, "linear", None, "M"),
        # digitization: the [S] maxima 6 and 4 kept, 12 points split [M]
        "766.4.1": ("digitization", "e_result", 6, "linear", None, "M"),
        "766.4.2": ("digitization", "digitization", 4, "target", 0.8, "S"),
        "766.4.3": ("digitization", None, 6, None, None, "M"),
        "766.4.4": ("digitization", "data_reuse", 6, "linear", None, "M"),
        # satisfaction: 5.4's 6 points [V], 12 split [M]
        "766.5.1": ("satisfaction", "petition_on_time", 6, "linear", None, "M"),
        "766.5.2": ("satisfaction", "petition_satisfaction", 6, "linear", None, "M"),
        "766.5.4": ("satisfaction", SATISFACTION_766, 6, "target", 0.9, "S"),
    }
    assert [x.id for x in c.criteria] == list(got)  # catalog order: by group, by id
    # the indicators no event can feed say why
    for x in c.criteria:
        assert (x.ratio is None) == bool(x.reason), x.id
        assert (x.ratio is None) == (x.no_dossiers is None), x.id


def test_decision_766_groups_add_up_to_their_verified_totals() -> None:
    c = shipped()["decision-766-2022"]
    assert c.group_totals == GROUP_TOTALS_V
    assert sum(GROUP_TOTALS_V.values()) == 100
    sums: dict[str, float] = {}
    for x in c.criteria:
        assert x.group is not None, x.id
        sums[x.group] = sums.get(x.group, 0) + (x.max_points or 0)
    assert sums == GROUP_TOTALS_V
    # the decision's own five groups: online payment is part of online services
    assert tuple(GROUP_TOTALS_V) == tuple(g for g in GROUPS if g != "online_payment")
    assert set(GROUP_LABELS_VI) == set(GROUPS)
    # 85 of the 100 points can be scored from events; 15 are listed as "no data"
    assert sum(x.max_points or 0 for x in c.criteria if x.ratio is not None) == 85


def test_group_totals_are_checked(tmp_path: Path) -> None:
    data = base(group_totals={"progress": 3})
    for crit in data["criteria"]:
        crit["group"] = "progress"
    load_catalog(write(tmp_path, data))  # 1 + 2 = 3
    data["group_totals"] = {"progress": 3.5}
    assert "group 'progress': the criteria's max_points add up to 3, not its total 3.5" in (
        load_error(tmp_path, data))
    data["group_totals"] = {"transparency": 3}
    assert "criterion 'A.1': group 'progress' is not in group_totals" in load_error(
        tmp_path, data)
    data = base(kind="decision_766")
    assert "every Decision 766 criterion needs a group; none for A.1, A.2" in load_error(
        tmp_path, data)
    data["criteria"][0]["group"] = "speed"
    assert "criteria[0] (id 'A.1').group: " in load_error(tmp_path, data)


def test_a_criterion_without_ratio_is_listed_not_scored(tmp_path: Path) -> None:
    data = base()
    data["criteria"].append({"id": "A.3", "name": "Không có dữ liệu", "ratio": None,
                             "reason": "no event says", "max_points": 2, "grade": "M"})
    cat = load_catalog(write(tmp_path, data))
    c = cat.criteria[2]
    assert (c.scored, c.reason, c.rule, c.no_dossiers) == (False, "no event says", None, None)
    assert c.describe_rule() == NOT_SCORED
    data["criteria"][2]["max_points"] = None  # points unknown
    assert load_catalog(write(tmp_path, data)).criteria[2].max_points is None
    # a reason is required with ratio null, refused with a ratio
    del data["criteria"][2]["reason"]
    assert "criteria[2] (id 'A.3').reason: required when ratio is null" in load_error(
        tmp_path, data)
    data = base()
    data["criteria"][0]["reason"] = "why"
    assert "criteria[0] (id 'A.1').reason: only allowed when ratio is null" in load_error(
        tmp_path, data)
    # no rule or no_dossiers without a ratio; both required with one; max_points too
    data = base()
    data["criteria"][1]["ratio"] = None
    data["criteria"][1]["reason"] = "no data"
    msg = load_error(tmp_path, data)
    assert "criteria[1] (id 'A.2').rule: only allowed for a scored criterion" in msg
    assert "criteria[1] (id 'A.2').no_dossiers: only allowed for a scored criterion" in msg
    data = base()
    del data["criteria"][1]["no_dossiers"]
    assert "criteria[1] (id 'A.2').no_dossiers: required when ratio is given" in load_error(
        tmp_path, data)
    data = base()
    data["criteria"][1]["max_points"] = None
    assert "criteria[1] (id 'A.2').max_points: must be a number for a scored criterion" in (
        load_error(tmp_path, data))
    data["criteria"][1]["max_points"] = 0
    assert "criteria[1] (id 'A.2').max_points: must be greater than 0, got 0" in load_error(
        tmp_path, data)
    data = base()
    del data["criteria"][1]["ratio"]
    assert "criteria[1] (id 'A.2').ratio: required key is missing" in load_error(
        tmp_path, data)


def test_par_examples_are_grade_m_and_per_level() -> None:
    cats = shipped()
    office = cats["par-example-district-office"]
    commune = cats["par-example-commune"]
    assert office.level == "district_office" and commune.level == "commune"
    for cat in (office, commune):
        assert cat.kind == "par_index"
        assert all(x.grade == "M" for x in cat.criteria)
        assert "Example" in cat.source
        ratios = {x.ratio for x in cat.criteria}
        assert ratios == {
            "on_time_resolved",
            "late_apology",
            "online_receipt",
            "online_payment",
            "digitization",
            "full_online",
            # the Tân Hồng seed's weak criteria
            "full_online_procedures_used",
            "e_signed_documents",
        }
        on_time = cat.criteria[0]
        # "100% → 1.0; ≥ 95% → 0.5; else 0"
        assert on_time.rule == "steps" and on_time.steps == ((1.0, 1.0), (0.95, 0.5))
        apology = next(x for x in cat.criteria if x.ratio == "late_apology")
        assert apology.steps == ((1.0, 0.5),)  # target 100%
        assert apology.no_dossiers == "full"  # no late dossier → nothing to apologise for


def test_criterion_ratio_keys() -> None:
    assert CRITERION_RATIO_KEYS == (*RATIO_KEYS, *CRITERION_RATIO_FORMULAS, "satisfaction_766")


def test_load_catalog_roundtrip(tmp_path: Path) -> None:
    cat = load_catalog(write(tmp_path, base()))
    assert cat.label == "test-cat@1"
    assert cat.valid_from == D(2025, 1, 1) and cat.valid_to == D(2025, 12, 31)
    assert cat.criteria[0].steps == ((1.0, 1.0), (0.95, 0.5))
    assert cat.criteria[1].target == 0.5
    assert cat.criteria[0].describe_rule() == "steps: ≥1 → 1; ≥0.95 → 0.5; else 0"
    assert cat.criteria[1].describe_rule() == (
        "target: full at ratio ≥ 0.5, else ratio × max_points / 0.5"
    )


def test_load_catalogs_directory(tmp_path: Path) -> None:
    write(tmp_path, base(id="b"), "b.yaml")
    write(tmp_path, base(id="a"), "a.yml")
    (tmp_path / "notes.txt").write_text("ignored")
    # sorted by file name across both extensions: a.yml, then b.yaml
    assert [c.id for c in load_catalogs([tmp_path])] == ["a", "b"]


# ------------------------------------------------------------------ validation errors


def test_bad_rule(tmp_path: Path) -> None:
    data = base()
    data["criteria"][1]["rule"] = "curve"
    msg = load_error(tmp_path, data)
    assert "criteria[1] (id 'A.2').rule: " in msg
    assert "'linear', 'target', 'steps' or 'sum'" in msg


def test_unknown_ratio_key(tmp_path: Path) -> None:
    data = base()
    data["criteria"][0]["ratio"] = "on_time_rate"
    msg = load_error(tmp_path, data)
    assert "criteria[0] (id 'A.1').ratio: unknown ratio key 'on_time_rate'" in msg


def test_satisfaction_766_is_a_valid_ratio_key(tmp_path: Path) -> None:
    data = base()
    data["criteria"][1]["ratio"] = "satisfaction_766"
    assert load_catalog(write(tmp_path, data)).criteria[1].ratio == "satisfaction_766"


def test_steps_not_descending(tmp_path: Path) -> None:
    data = base()
    data["criteria"][0]["steps"] = [[0.95, 0.5], [1.0, 1.0]]
    msg = load_error(tmp_path, data)
    assert "criteria[0] (id 'A.1').steps: thresholds must be strictly descending" in msg
    assert "(0.95 then 1.0)" in msg


def test_steps_equal_thresholds_rejected(tmp_path: Path) -> None:
    data = base()
    data["criteria"][0]["steps"] = [[1.0, 1.0], [1.0, 0.5]]
    assert "strictly descending (1.0 then 1.0)" in load_error(tmp_path, data)


def test_steps_points_rising_or_above_max(tmp_path: Path) -> None:
    data = base()
    data["criteria"][0]["steps"] = [[1.0, 0.5], [0.9, 0.75]]
    assert "points must not increase" in load_error(tmp_path, data)
    data["criteria"][0]["steps"] = [[1.0, 1.5]]
    assert "step 0: points 1.5 exceed max_points 1.0" in load_error(tmp_path, data)


def test_steps_threshold_out_of_range_and_bad_pair(tmp_path: Path) -> None:
    data = base()
    data["criteria"][0]["steps"] = [[1.5, 1.0]]
    assert "step 0: threshold must be in [0, 1], got 1.5" in load_error(tmp_path, data)
    data["criteria"][0]["steps"] = [[1.0, "a lot"]]
    assert "criteria[0] (id 'A.1').steps[0][1]: " in load_error(tmp_path, data)


def test_rule_parameters_must_match_rule(tmp_path: Path) -> None:
    data = base()
    del data["criteria"][1]["target"]
    assert "criteria[1] (id 'A.2').target: required when rule is 'target'" in load_error(
        tmp_path, data
    )
    data = base()
    data["criteria"][1]["steps"] = [[1.0, 1.0]]
    assert "criteria[1] (id 'A.2').steps: only allowed when rule is 'steps'" in load_error(
        tmp_path, data
    )
    data = base()
    del data["criteria"][0]["steps"]
    assert "criteria[0] (id 'A.1').steps: required when rule is 'steps'" in load_error(
        tmp_path, data
    )
    data = base()
    data["criteria"][1]["target"] = 0
    assert "target: must be in (0, 1], got 0" in load_error(tmp_path, data)


def test_missing_key(tmp_path: Path) -> None:
    data = base()
    del data["criteria"][1]["max_points"]
    msg = load_error(tmp_path, data)
    assert (
        msg
        == f"{tmp_path / 'cat.yaml'}: criteria[1] (id 'A.2').max_points: required key is missing"
    )
    data = base()
    del data["valid_from"]
    assert load_error(tmp_path, data).endswith(": valid_from: required key is missing")


def test_bad_no_dossiers_and_grade(tmp_path: Path) -> None:
    data = base()
    data["criteria"][0]["no_dossiers"] = "skip"
    data["criteria"][0]["grade"] = "X"
    msg = load_error(tmp_path, data)
    # both errors, one line, separated by "; "
    assert "criteria[0] (id 'A.1').no_dossiers: " in msg
    assert "criteria[0] (id 'A.1').grade: " in msg


def test_unknown_key_is_rejected(tmp_path: Path) -> None:
    data = base()
    data["criteria"][0]["max_point"] = 1
    assert "criteria[0] (id 'A.1').max_point: Extra inputs are not permitted" in load_error(
        tmp_path, data
    )


def test_bad_scope_level_and_dates(tmp_path: Path) -> None:
    assert ": level: " in load_error(tmp_path, base(level="district"))
    msg = load_error(tmp_path, base(valid_to="2024-12-31"))
    assert "valid_to: valid_to 2024-12-31 is before valid_from 2025-01-01" in msg


def test_duplicate_ids_and_empty_criteria(tmp_path: Path) -> None:
    data = base()
    data["criteria"][1]["id"] = "A.1"
    assert "duplicate criterion id 'A.1'" in load_error(tmp_path, data)
    assert ": criteria: " in load_error(tmp_path, base(criteria=[]))


def test_unquoted_numeric_version_is_reported(tmp_path: Path) -> None:
    # YAML reads 2025.1 as a float: the message says which key to quote
    assert ": version: Input should be a valid string" in load_error(tmp_path, base(version=2025.1))


def test_invalid_yaml_and_non_mapping(tmp_path: Path) -> None:
    p = tmp_path / "broken.yaml"
    p.write_text("id: x\ncriteria: [\n", encoding="utf-8")
    with pytest.raises(CatalogError, match=re.escape(f"{p}: invalid YAML at line")):
        load_catalog(p)
    p.write_text("- just\n- a list\n", encoding="utf-8")
    with pytest.raises(CatalogError, match=r": \(top level\): expected a mapping, got list"):
        load_catalog(p)
    with pytest.raises(CatalogError, match="cannot read"):
        load_catalog(tmp_path / "missing.yaml")


def test_parse_catalog_names_the_source() -> None:
    with pytest.raises(CatalogError, match=r"^inline: valid_from: "):
        parse_catalog(base(valid_from="not a date"), "inline")


# --------------------------------------------------------------------------- selection


def cat(**over: Any) -> Catalog:
    data = base(**over)
    if data["kind"] == "decision_766":  # each of its criteria needs a group
        for c in data["criteria"]:
            c["group"] = "progress"
    return parse_catalog(data)


def test_select_by_date_boundaries_inclusive() -> None:
    y2025 = cat(version="2025", valid_from="2025-01-01", valid_to="2025-12-31")
    y2026 = cat(version="2026", valid_from="2026-01-01", valid_to=None)
    cats = [y2025, y2026]
    assert select_catalog(cats, "commune", D(2024, 12, 31)) is None  # before the first
    assert select_catalog(cats, "commune", D(2025, 1, 1)) is y2025  # valid_from inclusive
    assert select_catalog(cats, "commune", D(2025, 12, 31)) is y2025  # valid_to inclusive
    assert select_catalog(cats, "commune", D(2026, 1, 1)) is y2026
    assert select_catalog(cats, "commune", D(2030, 6, 1)) is y2026  # open-ended


def test_select_latest_valid_from_when_overlapping() -> None:
    old = cat(version="old", valid_from="2023-01-01", valid_to=None)
    new = cat(version="new", valid_from="2025-07-01", valid_to=None)
    assert select_catalog([new, old], "commune", D(2025, 6, 30)) is old
    assert select_catalog([old, new], "commune", D(2025, 7, 1)) is new


def test_select_by_level_and_kind() -> None:
    commune = cat(version="c", level="commune")
    office = cat(version="o", level="district_office")
    anywhere = cat(version="a", level="any", kind="decision_766")
    cats = [commune, office, anywhere]
    on = D(2025, 5, 1)
    assert select_catalog(cats, "district", on, kind="par_index") is office  # district → office
    assert select_catalog(cats, "district_office", on, kind="par_index") is office
    assert select_catalog(cats, "commune", on, kind="par_index") is commune
    assert select_catalog(cats, "province", on, kind="par_index") is None
    assert select_catalog(cats, "province", on, kind="decision_766") is anywhere
    # exact level beats "any", even with an older valid_from
    newer_any = cat(version="any", level="any", valid_from="2025-03-01")
    assert select_catalog([newer_any, commune], "commune", on) is commune
    assert select_catalog([newer_any, commune], "province", on) is newer_any


def test_select_ambiguous_and_unknown_level() -> None:
    a, b = cat(version="a"), cat(version="b")
    with pytest.raises(CatalogError, match="ambiguous catalogs .*test-cat@a, test-cat@b"):
        select_catalog([a, b], "commune", D(2025, 5, 1))
    with pytest.raises(CatalogError, match="unknown level 'ward'"):
        select_catalog([a], "ward", D(2025, 5, 1))


def test_select_shipped() -> None:
    cats = shipped_catalogs()
    on = D(2025, 4, 30)
    assert select_catalog(cats, "district", on, kind="par_index").id == (  # type: ignore[union-attr]
        "par-example-district-office"
    )
    assert select_catalog(cats, "commune", on, kind="decision_766").id == "decision-766-2022"  # type: ignore[union-attr]
    # from 2026 the portal's scoring is the default
    assert select_catalog(cats, "commune", D(2026, 1, 1), kind="decision_766").id == (  # type: ignore[union-attr]
        "portal-766-2026"
    )
    # the day before Decision 766 was signed
    assert select_catalog(cats, "commune", D(2022, 6, 22), kind="decision_766") is None


# ------------------------------------------------------------------------ sum rule


def _sum_criterion(**over: Any) -> dict[str, Any]:
    crit: dict[str, Any] = {
        "id": "PAY", "code": "ONLINE_PAYMENT", "name": "Thanh toán trực tuyến",
        "ratio": "online_payment", "max_points": 10, "rule": "sum",
        "terms": [{"ratio": "online_payment", "weight": 6},
                  {"ratio": "fee_procedures_online_paid", "weight": 2.5, "cap": 2}],
        "no_dossiers": "zero", "grade": "P",
    }
    crit.update(over)
    return crit


def test_sum_rule_loads(tmp_path: Path) -> None:
    cat = load_catalog(write(tmp_path, base(criteria=[_sum_criterion()])))
    c = cat.criteria[0]
    assert c.portal_code == "ONLINE_PAYMENT"
    assert [(t.ratio, t.weight, t.cap) for t in c.terms or ()] == [
        ("online_payment", 6, None), ("fee_procedures_online_paid", 2.5, 2)]
    assert c.describe_rule() == ("sum: 6·online_payment + min(2, "
                                 "2.5·fee_procedures_online_paid); a null ratio counts 0")


def test_sum_rule_errors(tmp_path: Path) -> None:
    msg = load_error(tmp_path, base(criteria=[_sum_criterion(terms=None)]))
    assert "terms: required when rule is 'sum'" in msg
    msg = load_error(tmp_path, base(criteria=[_sum_criterion(ratio="full_online")]))
    assert "the criterion's ratio 'full_online' must be one of its terms" in msg
    msg = load_error(tmp_path, base(criteria=[_sum_criterion(rule="linear")]))
    assert "terms: only allowed when rule is 'sum'" in msg
    bad = _sum_criterion(terms=[{"ratio": "nope", "weight": 1}])
    assert "unknown ratio key 'nope'" in load_error(tmp_path, base(criteria=[bad]))


def test_find_catalog_by_id_alias_and_label() -> None:
    cats = shipped_catalogs()
    assert find_catalog(cats, "decision-766").id == "decision-766-2022"
    assert find_catalog(cats, "portal-766-2026@2026.1").version == "2026.1"
    with pytest.raises(CatalogError, match="no catalog 'x'; known: .*decision-766"):
        find_catalog(cats, "x")
