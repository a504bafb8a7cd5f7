"""Catalog ``portal-766-2026`` (docs/scoring.md): one hand-worked case per metric and per
edge rule, worked out before the code. Figures marked "Phú Thọ" are the portal's own for
that province in August 2026 (docs/scoring.md), so the points must come out as the portal
showed them (two decimals).

Each case gives only the counts its metric reads; every other count is 0.
"""

from __future__ import annotations

from typing import Any

from kpi.catalog import find_catalog, shipped_catalogs
from kpi.criteria import GROUPS
from kpi.scoring import catalog_summary, score, score_criterion

PORTAL = find_catalog(shipped_catalogs(), "portal-766-2026")


def _metric(code: str, counts: dict[str, int]) -> dict[str, Any]:
    criterion = next(c for c in PORTAL.criteria if c.code == code)
    return score_criterion(criterion, counts, PORTAL)


def _points(code: str, counts: dict[str, int]) -> float | None:
    points: float | None = _metric(code, counts)["points"]
    return points


# --------------------------------------------------------------------------- catalog


def test_catalog_shape() -> None:
    """17 scored metrics in six groups of 18/20/12/10/22/18 = 100 points."""
    assert PORTAL.label == "portal-766-2026@2026.1"
    assert len(PORTAL.criteria) == 17
    assert all(c.scored for c in PORTAL.criteria)
    assert PORTAL.group_totals == {
        "transparency": 18, "progress": 20, "online_services": 12, "online_payment": 10,
        "digitization": 22, "satisfaction": 18,
    }
    assert list(PORTAL.group_totals) == list(GROUPS)
    assert {c.grade for c in PORTAL.criteria} <= {"P", "W", "M"}
    assert len({c.code for c in PORTAL.criteria}) == 17


# --------------------------------------------------------------------- transparency


def test_publish_on_time() -> None:
    # 6 of 8 published on time: 6 × 0.75 = 4.5
    assert _points("PUBLISH_ON_TIME", {"procedures_published": 8,
                                       "procedures_published_on_time": 6}) == 4.5


def test_publish_on_time_nothing_published_is_not_scored() -> None:
    e = _metric("PUBLISH_ON_TIME", {})
    assert e["points"] is None and e["applicable"] is False
    assert e["status_vi"] == "chưa phát sinh"


def test_public_update_on_time() -> None:
    # 4 of 5 updates on time: 4 × 0.8 = 3.2
    assert _points("PUBLIC_UPDATE_ON_TIME", {"procedures_updated": 5,
                                             "procedures_updated_on_time": 4}) == 3.2


def test_public_content_full() -> None:
    # Phú Thọ's units: 87 of 89 complete: 2 × 87/89 = 174/89 = 1.95506 → 1.9551
    assert _points("PUBLIC_CONTENT_FULL", {"procedures": 89, "procedures_complete": 87}) \
        == 1.9551


def test_dossier_sync() -> None:
    # 150 of 200 synced within the window: 6 × 0.75 = 4.5
    assert _points("DOSSIER_SYNC", {"sync_due": 200, "synced_on_time": 150}) == 4.5


# ------------------------------------------------------------------------- progress


def test_dossier_on_time_phu_tho() -> None:
    # Phú Thọ: 144,625 of 184,513 handled on time: 20 × 0.783820 = 15.6764 (portal 15.68)
    counts = {"resolved": 150_000, "resolved_early": 100_000, "resolved_on_time": 30_000,
              "resolved_late": 20_000, "in_progress": 34_513, "in_progress_overdue": 19_888}
    assert _points("DOSSIER_ON_TIME", counts) == 15.6764


def test_dossier_on_time_no_dossiers_scores_zero() -> None:
    e = _metric("DOSSIER_ON_TIME", {})
    assert e["points"] == 0 and e["applicable"] is True


# ------------------------------------------------------------------ online services


def test_full_online_dossier() -> None:
    # 10 of 40 eligible dossiers full online: 12 × 0.25 = 3
    assert _points("FULL_ONLINE_DOSSIER", {"full_online_eligible": 40,
                                           "received_full_online": 10}) == 3
    assert _points("FULL_ONLINE_DOSSIER", {}) == 0


# ------------------------------------------------------------------- online payment


def test_online_payment_phu_tho() -> None:
    # A = 82,913/98,459 → 6A = 5.05266; B = 93/310 = 0.3 → min(2, 0.75) = 0.75;
    # C = 56/310 → 2.5C = 0.45161; sum 6.25425 → 6.2543 (portal 6.25)
    counts = {"fee_dossiers": 98_459, "paid_online": 82_913, "fee_procedures": 310,
              "fee_procedures_paid_online": 93, "fee_procedures_paid_portal": 56}
    assert _points("ONLINE_PAYMENT", counts) == 6.2543


def test_online_payment_a_null() -> None:
    # no dossier with a fee: A counts 0; B = 4/10 → min(2, 1.0) = 1; C = 2/10 → 0.5
    counts = {"fee_procedures": 10, "fee_procedures_paid_online": 4,
              "fee_procedures_paid_portal": 2}
    assert _points("ONLINE_PAYMENT", counts) == 1.5


def test_online_payment_b_and_c_null() -> None:
    # no fee procedure in the catalog: B and C (same denominator) count 0; A = 1/2 → 3
    assert _points("ONLINE_PAYMENT", {"fee_dossiers": 2, "paid_online": 1}) == 3


def test_online_payment_b_capped_sum_as_tabled() -> None:
    # B = 1 → min(2, 2.5) = 2; A = 0 of 5 → 0; C = 0 → 0: 2
    counts = {"fee_dossiers": 5, "fee_procedures": 3, "fee_procedures_paid_online": 3}
    assert _points("ONLINE_PAYMENT", counts) == 2
    # everything at 100%: 6 + 2 + 2.5 = 10.5, as tabled (no cap at the metric's 10)
    counts |= {"paid_online": 5, "fee_procedures_paid_portal": 3}
    assert _points("ONLINE_PAYMENT", counts) == 10.5


def test_online_payment_all_null_scores_zero() -> None:
    e = _metric("ONLINE_PAYMENT", {})
    assert e["points"] == 0 and e["applicable"] is True
    assert [t["value"] for t in e["parts"]] == [None, None, None]


# --------------------------------------------------------------------- digitization


def test_original_result_available() -> None:
    # Phú Thọ: 72.4% of handled dossiers with an electronic result: 6 × 0.724 = 4.344
    assert _points("ORIGINAL_RESULT_AVAILABLE", {"handled": 1000,
                                                 "handled_e_result": 724}) == 4.344


def test_digitization_metrics_not_scored_without_handled_dossiers() -> None:
    for code in ("ORIGINAL_RESULT_AVAILABLE", "SO_HOA_GIAY_TO_GIAI_QUYET",
                 "REUSED_DIGITIZED_DATA", "SYNCED_WITH_DVCQG_PERSONAL_STORAGE",
                 "CITIZEN_DATA_CONNECTED_DOSSIER"):
        e = _metric(code, {"received": 7})  # received, but nothing handled
        assert e["points"] is None and e["applicable"] is False, code


def test_so_hoa_giay_to() -> None:
    # 116 of 1,000 handled digitized: 4 × 0.116 = 0.464
    assert _points("SO_HOA_GIAY_TO_GIAI_QUYET", {"handled": 1000,
                                                 "handled_digitized": 116}) == 0.464


def test_electronic_certified_copy_communes() -> None:
    # 3 of 5 communes offer it: 2 × 0.6 = 1.2
    assert _points("ELECTRONIC_CERTIFIED_COPY", {"communes": 5,
                                                 "communes_e_certified_copy": 3}) == 1.2


def test_electronic_certified_copy_department_gets_max() -> None:
    # a department: no commune in scope → the maximum, 2
    e = _metric("ELECTRONIC_CERTIFIED_COPY", {"handled": 10})
    assert e["points"] == 2 and e["applicable"] is True


def test_reused_full_at_80_percent() -> None:
    assert _points("REUSED_DIGITIZED_DATA", {"handled": 1000, "handled_reused": 800}) == 2
    # Phú Thọ's 1.7%: 2 × 0.017 / 0.8 = 0.0425
    assert _points("REUSED_DIGITIZED_DATA", {"handled": 1000, "handled_reused": 17}) \
        == 0.0425


def test_personal_storage() -> None:
    assert _points("SYNCED_WITH_DVCQG_PERSONAL_STORAGE", {"handled": 1000}) == 0
    # linear above 0 [M]: 4 × 0.25 = 1
    assert _points("SYNCED_WITH_DVCQG_PERSONAL_STORAGE",
                   {"handled": 1000, "handled_stored_personal": 250}) == 1


def test_citizen_data_dossier() -> None:
    # 46.4% used population data: 2 × 0.464 = 0.928
    assert _points("CITIZEN_DATA_CONNECTED_DOSSIER", {"handled": 1000,
                                                      "handled_citizen_data": 464}) == 0.928


def test_citizen_data_formality() -> None:
    # Phú Thọ: 297 of 1,301 procedures connected: 2 × 297/1301 = 0.45657 → 0.4566
    assert _points("CITIZEN_DATA_CONNECTED_FORMALITY", {"procedures": 1301,
                                                        "procedures_citizen_data": 297}) \
        == 0.4566
    # no procedure in force: 0, still counted in the maximum
    e = _metric("CITIZEN_DATA_CONNECTED_FORMALITY", {})
    assert e["points"] == 0 and e["applicable"] is True


# --------------------------------------------------------------------- satisfaction


def test_petitions_none_gives_six() -> None:
    assert _points("PETITION_PROCESSING_ON_TIME", {}) == 6
    assert _points("PETITION_HANDLING_SATISFACTION", {}) == 6


def test_petition_processing_on_time_phu_tho() -> None:
    # 182 of 247 on time: 6 × 182/247 = 4.42105 → 4.4211
    assert _points("PETITION_PROCESSING_ON_TIME", {"petitions_answered": 247,
                                                   "petitions_answered_on_time": 182}) \
        == 4.4211


def test_petition_handling_satisfaction_phu_tho() -> None:
    # 137 of 247 satisfied (110 late or dissatisfied): 6 × 137/247 = 3.32794 → 3.3279
    assert _points("PETITION_HANDLING_SATISFACTION", {"petitions_answered": 247,
                                                      "petitions_unsatisfied": 110}) \
        == 3.3279


def test_dossier_satisfaction_phu_tho() -> None:
    # 144,315 of 184,503 satisfied: 6 × 0.782177 / 0.9 = 5.21455 → 5.2145 (portal 5.21)
    assert _points("DOSSIER_RECEIVING_SATISFACTION",
                   {"handled": 184_503, "dossiers_unsatisfied": 40_188}) == 5.2145


def test_dossier_satisfaction_full_at_exactly_90_percent() -> None:
    assert _points("DOSSIER_RECEIVING_SATISFACTION",
                   {"handled": 100, "dossiers_unsatisfied": 10}) == 6
    # just below: 89/100 → 6 × 0.89 / 0.9 = 5.9333
    assert _points("DOSSIER_RECEIVING_SATISFACTION",
                   {"handled": 100, "dossiers_unsatisfied": 11}) == 5.9333


def test_dossier_satisfaction_no_dossiers_scores_zero() -> None:
    e = _metric("DOSSIER_RECEIVING_SATISFACTION", {})
    assert e["points"] == 0 and e["applicable"] is True


# ----------------------------------------------------------------- groups and total

DEPARTMENT = {
    # transparency: 6 × 6/8 = 4.5; 4 × 4/5 = 3.2; 2 × 9/10 = 1.8; 6 × 150/200 = 4.5 → 14
    "procedures_published": 8, "procedures_published_on_time": 6,
    "procedures_updated": 5, "procedures_updated_on_time": 4,
    "procedures": 10, "procedures_complete": 9,
    "sync_due": 200, "synced_on_time": 150,
    # progress: (30 + 40 + 20 − 5) / (80 + 20) = 0.85 → 17
    "resolved": 80, "resolved_early": 30, "resolved_on_time": 40, "resolved_late": 10,
    "in_progress": 20, "in_progress_overdue": 5,
    # online services: 12 × 10/40 = 3
    "full_online_eligible": 40, "received_full_online": 10,
    # online payment: 6 × 0.8 + min(2, 2.5 × 0.5) + 2.5 × 0.25 = 4.8 + 1.25 + 0.625 = 6.675
    "fee_dossiers": 50, "paid_online": 40,
    "fee_procedures": 4, "fee_procedures_paid_online": 2, "fee_procedures_paid_portal": 1,
    # digitization: 6 × 0.5 = 3; 4 × 0.25 = 1; no commune → 2; 2 × 0.4 / 0.8 = 1;
    # 0; 2 × 0.5 = 1; 2 × 5/10 = 1 → 9
    "handled": 100, "handled_e_result": 50, "handled_digitized": 25, "handled_reused": 40,
    "handled_stored_personal": 0, "handled_citizen_data": 50, "procedures_citizen_data": 5,
    # satisfaction: no petitions → 6 + 6; 6 × 0.81 / 0.9 = 5.4 → 17.4
    "dossiers_unsatisfied": 19,
}


def test_group_totals_and_total() -> None:
    summary = catalog_summary(score(PORTAL, DEPARTMENT))
    assert summary["catalog"] == "portal-766-2026@2026.1"
    assert [(g["id"], g["points"], g["max_points"]) for g in summary["groups"]] == [
        ("transparency", 14, 18), ("progress", 17, 20), ("online_services", 3, 12),
        ("online_payment", 6.675, 10), ("digitization", 9, 22), ("satisfaction", 17.4, 18),
    ]
    assert [g["name"] for g in summary["groups"]] == [
        "Công khai, minh bạch", "Tiến độ, kết quả giải quyết", "Cung cấp dịch vụ trực tuyến",
        "Thanh toán trực tuyến", "Số hóa hồ sơ", "Mức độ hài lòng",
    ]
    # 14 + 17 + 3 + 6.675 + 9 + 17.4
    assert summary["total_points"] == 67.075
    assert summary["total_max_points"] == 100


def test_metric_not_scored_leaves_the_group_max() -> None:
    """0/0 publications: PUBLISH_ON_TIME not scored; transparency is 3.2 + 174/89 + 4.5 =
    9.6551 out of 18 − 6 = 12; the total's maximum drops to 94."""
    counts = {"procedures_updated": 5, "procedures_updated_on_time": 4,
              "procedures": 89, "procedures_complete": 87,
              "sync_due": 200, "synced_on_time": 150}
    summary = catalog_summary(score(PORTAL, counts))
    transparency = summary["groups"][0]
    assert transparency == {"id": "transparency", "name": "Công khai, minh bạch",
                            "points": 9.6551, "max_points": 12}
    # digitization: only the e-certified copy (2, max) and the procedures' connection
    # (0 of 89 → 0, max 2) are scored without handled dossiers: 2 / 4
    digitization = summary["groups"][4]
    assert (digitization["points"], digitization["max_points"]) == (2, 4)
    assert summary["total_max_points"] == 100 - 6 - 18


def test_every_entry_has_code_group_and_grade() -> None:
    for e in score(PORTAL, DEPARTMENT):
        assert e["code"] == e["id"]
        assert e["group"] in GROUPS
        assert e["grade"] in ("P", "W", "M")
        assert e["catalog"] == "portal-766-2026@2026.1"
