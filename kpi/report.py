"""The KPI report of one unit and period, in the JSON shape of docs/contract.md.

A report with criteria also carries its Decision 766 catalog's scores
(:func:`kpi.scoring.catalog_summary`): ``catalog`` (``id@version``), ``groups``
(``[{id, name, points, max_points}]``), ``total_points``, ``total_max_points`` and ``delta``
(:func:`with_delta`: total points minus those of the previous period of the same length,
scored by the same catalog; null when that period has no data). Points stay unrounded
beyond :mod:`kpi.scoring`'s 4 decimals; show them with two.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from typing import Any

from kpi.attribution import AS_WAS, OWN, TOTAL, scoped
from kpi.calendar import to_local_datetime
from kpi.catalog import UNIT_LEVEL_TO_SCOPE, Catalog, find_catalog, shipped_catalogs
from kpi.counters import Counters
from kpi.ratios import compute_ratios
from kpi.scoring import Gap, catalog_summary, criteria_for_report, gap, score

SCORE_KEYS: tuple[str, ...] = (
    "catalog", "groups", "total_points", "total_max_points", "delta",
)
"""The keys a report with criteria gains (:func:`add_scores`)."""


def snapshot_key(unit: str, period: str, scope: str = OWN) -> str:
    """The key of a KPI snapshot record on the kpi topic: ``unit|period`` for a unit's own
    figures (as in v1), ``unit|period|total`` for its total."""
    return f"{unit}|{period}|{TOTAL}" if scope == TOTAL else f"{unit}|{period}"


def parse_snapshot_key(key: str) -> tuple[str, str, str]:
    """(unit, period, scope) of a :func:`snapshot_key`; raises ValueError if it is none."""
    head, sep, last = key.rpartition("|")
    if not sep:
        raise ValueError(f"not a snapshot key: {key!r}")
    if last == TOTAL:
        unit, sep, period = head.rpartition("|")
        if not sep:
            raise ValueError(f"not a snapshot key: {key!r}")
        return unit, period, TOTAL
    return head, last, OWN


def report_bucket(report: Mapping[str, Any]) -> tuple[str, str]:
    """The (counter key, period) a report stands for: its unit for own figures, the
    unit's scoped key (:func:`kpi.attribution.scoped`) for a total — the bucket keys of
    :mod:`kpi.reconcile` and of the aggregators."""
    return scoped(report["unit"], report.get("scope", OWN)), report["period"]


def build_report(
    unit: str,
    period: str,
    counters: Counters,
    as_of: float,
    criteria: list[dict[str, Any]] | None = None,
    level: str | None = None,
    *,
    view: str = AS_WAS,
    scope: str = OWN,
    unit_name: str | None = None,
    delta: float | None = None,
) -> dict[str, Any]:
    """The report of docs/contract.md: ``view`` (``as_was`` | ``restated``), ``scope``
    (``own`` | ``total``) and ``unit_name`` (from the registry, when known) besides the
    counts, ratios and criteria; with criteria, their scores (:func:`add_scores`)."""
    counts = counters.to_dict()
    report: dict[str, Any] = {
        "unit": unit,
        "period": period,
        "as_of": to_local_datetime(as_of).isoformat(),
        "view": view,
        "scope": scope,
        "counts": counts,
        "ratios": compute_ratios(counts),
        "criteria": criteria if criteria is not None else [],
    }
    if unit_name is not None:
        report["unit_name"] = unit_name
    if level is not None:
        report["level"] = level
    if report["criteria"]:
        add_scores(report, delta)
    return report


def add_scores(report: dict[str, Any], delta: float | None = None) -> dict[str, Any]:
    """Set ``report``'s :data:`SCORE_KEYS` from its ``criteria`` (in place; returned)."""
    report.update(catalog_summary(report.get("criteria") or ()))
    report["delta"] = delta
    return report


def previous_total(
    report: Mapping[str, Any],
    previous_counts: Mapping[str, int] | None,
    catalogs: Iterable[Catalog] | None = None,
) -> float | None:
    """The total points of ``previous_counts`` (the previous period's) scored by
    ``report``'s own catalog, so that both totals are out of the same metrics; None when
    the report has no catalog or the previous period has no data (no counts, all 0)."""
    label = report.get("catalog")
    if not label or not previous_counts or not any(previous_counts.values()):
        return None
    pool = list(catalogs) if catalogs is not None else shipped_catalogs()
    catalog = find_catalog(pool, label)
    total: float = catalog_summary(score(catalog, previous_counts))["total_points"]
    return total


def with_delta(
    report: dict[str, Any],
    previous_counts: Mapping[str, int] | None,
    catalogs: Iterable[Catalog] | None = None,
) -> dict[str, Any]:
    """Set ``report["delta"]``: its total points minus :func:`previous_total` (4 decimals),
    None when that is None. In place; returned."""
    before = previous_total(report, previous_counts, catalogs)
    report["delta"] = (None if before is None or report.get("total_points") is None
                       else round(report["total_points"] - before, 4))
    return report


# ------------------------------------------------------------------ criteria with gaps

GAP_NOUN_VI: dict[str, str] = {
    "on_time_766": "hồ sơ đúng hạn",
    "on_time_resolved": "hồ sơ đúng hạn",
    "online_receipt": "hồ sơ tiếp nhận trực tuyến",
    "full_online": "hồ sơ trực tuyến toàn trình",
    "late_apology": "hồ sơ quá hạn có thư xin lỗi",
    "online_payment": "hồ sơ thanh toán trực tuyến",
    "digitization": "hồ sơ số hóa đầy đủ",
    "e_result": "hồ sơ có kết quả điện tử",
    "satisfaction": "lượt đánh giá hài lòng",
    "satisfaction_766": "hồ sơ đúng hạn (thay cho hồ sơ quá hạn)",
    "on_time_due": "hồ sơ đến hạn được giải quyết đúng hạn",
    "data_reuse": "hồ sơ tái sử dụng dữ liệu số hóa",
    "portal_sync": "hồ sơ đồng bộ lên Cổng DVCQG",
    "petition_on_time": "PAKN xử lý đúng hạn",
    "petition_satisfaction": "PAKN được hài lòng (thay cho PAKN trả lời quá hạn "
                             "hoặc không hài lòng)",
    "procedures_on_time": "TTHC công khai đúng hạn",
    "procedures_online_share": "TTHC cung cấp trực tuyến",
    "online_procedures_used": "TTHC trực tuyến có phát sinh hồ sơ trực tuyến",
    "full_online_procedures_used": "TTHC toàn trình có phát sinh hồ sơ toàn trình",
    "online_payment_procedures_used": "TTHC có phát sinh thanh toán trực tuyến",
    "e_signed_documents": "văn bản điện tử có ký số",
    "procedures_update_on_time": "TTHC cập nhật đúng hạn",
    "procedures_content_full": "TTHC công khai đầy đủ bộ phận tạo thành",
    "dossier_sync_on_time": "hồ sơ đồng bộ kịp thời lên Cổng DVCQG",
    "handled_e_result_share": "hồ sơ có kết quả điện tử",
    "handled_digitized_share": "hồ sơ số hóa đầy đủ",
    "e_certified_copy_communes": "xã cung cấp chứng thực bản sao điện tử",
    "handled_reused_share": "hồ sơ tái sử dụng dữ liệu số hóa",
    "handled_stored_personal_share": "hồ sơ đồng bộ kho dữ liệu cá nhân",
    "handled_citizen_data_share": "hồ sơ khai thác dữ liệu dân cư",
    "procedures_citizen_data_share": "TTHC kết nối dữ liệu dân cư",
    "fee_procedures_online_paid": "TTHC có phí được thanh toán trực tuyến",
    "fee_procedures_portal_paid": "TTHC có phí được thanh toán qua Cổng DVCQG",
    "dossier_satisfaction": "hồ sơ đúng hạn, không bị phản ánh (thay cho hồ sơ không "
                            "hài lòng)",
}
"""What "one more in the numerator" means for each ratio, in Vietnamese (every criterion
ratio key: :data:`kpi.criteria.CRITERION_RATIO_KEYS`)."""

NOT_SCORED_TEXT_VI = "chưa chấm điểm: không có dữ liệu"
"""The gap text of a criterion no event can feed (status ``not scored: no data``)."""


def gap_text_vi(ratio: str, g: Gap | None) -> str:
    """The gap to target in Vietnamese, e.g. ``cần thêm 3 hồ sơ đúng hạn để đạt 20 điểm``."""
    if g is None:
        return "đã đạt điểm tối đa"
    pts = f"{g.points:g}".replace(".", ",")
    goal = f"{pts} điểm (ngưỡng {round(g.threshold * 100, 4):g}%)".replace(".", ",")
    if g.dossiers is None:
        if "denominator is 0" in g.reason:
            return f"không có hồ sơ phát sinh (mẫu số bằng 0): chưa thể đạt {goal}"
        return f"chưa thể đạt {goal}: tỷ lệ đánh giá không hài lòng đã vượt mức cho phép"
    noun = GAP_NOUN_VI.get(ratio, "hồ sơ")
    n = f"{g.dossiers:,}".replace(",", ".")
    return f"cần thêm {n} {noun} để đạt {goal}"


def report_criteria(
    counts: Mapping[str, int],
    level: str | None,
    on_date: dt.date,
    catalogs: Iterable[Catalog] | None = None,
    par_catalog: Catalog | None = None,
    decision_catalog: Catalog | None = None,
) -> list[dict[str, Any]]:
    """The report's ``criteria`` (:func:`kpi.scoring.criteria_for_report`: Decision 766
    first, then the PAR catalog of the level), each entry with ``gap`` (a
    :meth:`kpi.scoring.Gap.to_dict` or None when already at full points or not scored) and
    ``gap_text`` (Vietnamese; :data:`NOT_SCORED_TEXT_VI` for a criterion not scored).

    ``par_catalog`` (an explicit file) replaces the PAR selection: it is scored whatever its
    level and dates; so does ``decision_catalog`` for Decision 766 (e.g.
    ``decision-766-2022`` for a period the portal's catalog would score). ``level`` None (a
    unit without dossiers) scores only ``any``-level catalogs.
    """
    pool = list(catalogs) if catalogs is not None else shipped_catalogs()
    if par_catalog is not None:
        pool = [c for c in pool if c.kind != "par_index"]
    if decision_catalog is not None:
        pool = [c for c in pool if c.kind != "decision_766"]
    if level is None or level not in UNIT_LEVEL_TO_SCOPE:
        entries = criteria_for_report(
            counts, "province", on_date, [c for c in pool if c.level == "any"]
        )
    else:
        entries = criteria_for_report(counts, level, on_date, pool)
    if decision_catalog is not None:
        entries[:0] = score(decision_catalog, counts)
    if par_catalog is not None:
        entries.extend(score(par_catalog, counts))
    by_label = {c.label: c for c in pool}
    for chosen in (decision_catalog, par_catalog):
        if chosen is not None:
            by_label[chosen.label] = chosen
    for e in entries:
        criterion = next(c for c in by_label[e["catalog"]].criteria if c.id == e["id"])
        if criterion.ratio is None:
            e["gap"] = None
            e["gap_text"] = NOT_SCORED_TEXT_VI
            continue
        g = gap(criterion, counts)
        e["gap"] = g.to_dict() if g is not None else None
        e["gap_text"] = gap_text_vi(criterion.ratio, g)
    return entries
