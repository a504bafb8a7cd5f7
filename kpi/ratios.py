"""KPI ratios (tỷ lệ) exactly as docs/contract.md: null when the denominator is 0, never a
fake 0.

:data:`RATIO_FORMULAS` are the report's ``ratios`` (one SQL column each).
:data:`CRITERION_RATIO_FORMULAS` are ratios only a scoring catalog reads (the portal's 2026
metrics, docs/scoring.md): each criterion entry of a report shows its numerator,
denominator and value, so they add no column. A count key missing from the counts given
counts 0 (stored snapshots written before a count existed).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

Counts = Mapping[str, int]


class _ZeroFilled(dict[str, int]):
    """Counts where a missing key counts 0."""

    def __missing__(self, key: str) -> int:
        return 0


def zero_filled(counts: Counts) -> Counts:
    """``counts`` with every missing key counting 0."""
    return counts if isinstance(counts, _ZeroFilled) else _ZeroFilled(counts)


def _ratio(num: int, den: int) -> float | None:
    return num / den if den else None


RATIO_FORMULAS: dict[str, tuple[str, Callable[[Counts], tuple[int, int]]]] = {
    "online_receipt": (
        "received_online / received",
        lambda c: (c["received_online"], c["received"]),
    ),
    "full_online": (
        "received_full_online / full_online_eligible",
        lambda c: (c["received_full_online"], c["full_online_eligible"]),
    ),
    "on_time_resolved": (
        "(resolved_early + resolved_on_time) / resolved",
        lambda c: (c["resolved_early"] + c["resolved_on_time"], c["resolved"]),
    ),
    "on_time_766": (
        "(resolved_early + resolved_on_time + in_progress − in_progress_overdue)"
        " / (resolved + in_progress)",
        lambda c: (
            c["resolved_early"] + c["resolved_on_time"] + c["in_progress"]
            - c["in_progress_overdue"],
            c["resolved"] + c["in_progress"],
        ),
    ),
    "late_apology": (
        "late_with_apology / resolved_late",
        lambda c: (c["late_with_apology"], c["resolved_late"]),
    ),
    "online_payment": (
        "paid_online / fee_dossiers",
        lambda c: (c["paid_online"], c["fee_dossiers"]),
    ),
    "digitization": ("digitized / received", lambda c: (c["digitized"], c["received"])),
    "e_result": (
        "e_results / paper_result_dossiers",
        lambda c: (c["e_results"], c["paper_result_dossiers"]),
    ),
    "satisfaction": ("satisfied / rated", lambda c: (c["satisfied"], c["rated"])),
    "on_time_due": ("due_met / due", lambda c: (c["due_met"], c["due"])),
    "data_reuse": ("reused / received", lambda c: (c["reused"], c["received"])),
    "portal_sync": ("synced / received", lambda c: (c["synced"], c["received"])),
    "petition_on_time": (
        "(petitions_answered_on_time + petitions_open − petitions_open_overdue)"
        " / (petitions_answered + petitions_open)",
        lambda c: (
            c["petitions_answered_on_time"] + c["petitions_open"] - c["petitions_open_overdue"],
            c["petitions_answered"] + c["petitions_open"],
        ),
    ),
    "petition_satisfaction": (
        "(petitions_answered − petitions_unsatisfied) / petitions_answered",
        lambda c: (c["petitions_answered"] - c["petitions_unsatisfied"], c["petitions_answered"]),
    ),
    "procedures_on_time": (
        "procedures_published_on_time / procedures_published",
        lambda c: (c["procedures_published_on_time"], c["procedures_published"]),
    ),
    "procedures_online_share": (
        "procedures_online / procedures",
        lambda c: (c["procedures_online"], c["procedures"]),
    ),
    "online_procedures_used": (
        "procedures_online_used / procedures_online",
        lambda c: (c["procedures_online_used"], c["procedures_online"]),
    ),
    "full_online_procedures_used": (
        "procedures_full_online_used / procedures_full_online",
        lambda c: (c["procedures_full_online_used"], c["procedures_full_online"]),
    ),
    "online_payment_procedures_used": (
        "procedures_online_payment_used / procedures_online_payment",
        lambda c: (c["procedures_online_payment_used"], c["procedures_online_payment"]),
    ),
    "e_signed_documents": (
        "documents_e_signed / documents_issued",
        lambda c: (c["documents_e_signed"], c["documents_issued"]),
    ),
}
"""ratio key → (formula text, counts → (numerator, denominator))."""

RATIO_KEYS: tuple[str, ...] = tuple(RATIO_FORMULAS)


def _share(numerator: str, denominator: str) -> tuple[str, Callable[[Counts], tuple[int, int]]]:
    return f"{numerator} / {denominator}", lambda c: (c[numerator], c[denominator])


CRITERION_RATIO_FORMULAS: dict[str, tuple[str, Callable[[Counts], tuple[int, int]]]] = {
    "procedures_update_on_time": _share("procedures_updated_on_time", "procedures_updated"),
    "procedures_content_full": _share("procedures_complete", "procedures"),
    "dossier_sync_on_time": _share("synced_on_time", "sync_due"),
    "handled_e_result_share": _share("handled_e_result", "handled"),
    "handled_digitized_share": _share("handled_digitized", "handled"),
    "e_certified_copy_communes": _share("communes_e_certified_copy", "communes"),
    "handled_reused_share": _share("handled_reused", "handled"),
    "handled_stored_personal_share": _share("handled_stored_personal", "handled"),
    "handled_citizen_data_share": _share("handled_citizen_data", "handled"),
    "procedures_citizen_data_share": _share("procedures_citizen_data", "procedures"),
    "fee_procedures_online_paid": _share("fee_procedures_paid_online", "fee_procedures"),
    "fee_procedures_portal_paid": _share("fee_procedures_paid_portal", "fee_procedures"),
    "dossier_satisfaction": (
        "(handled − dossiers_unsatisfied) / handled",
        lambda c: (c["handled"] - c["dossiers_unsatisfied"], c["handled"]),
    ),
}
"""Scoring-only ratio key → (formula text, counts → (numerator, denominator)): the ratios of
catalog ``portal-766-2026`` that are not report ratios."""

RATIO_LABELS_VI: dict[str, str] = {
    "online_receipt": "Tỷ lệ tiếp nhận trực tuyến",
    "full_online": "Tỷ lệ trực tuyến toàn trình",
    "on_time_resolved": "Tỷ lệ giải quyết đúng hạn (trên số đã giải quyết)",
    "on_time_766": "Tỷ lệ đúng hạn theo QĐ 766 (chỉ tiêu 2.1)",
    "late_apology": "Tỷ lệ hồ sơ quá hạn có xin lỗi",
    "online_payment": "Tỷ lệ thanh toán trực tuyến",
    "digitization": "Tỷ lệ số hóa hồ sơ",
    "e_result": "Tỷ lệ cấp kết quả điện tử",
    "satisfaction": "Tỷ lệ hài lòng",
    "on_time_due": "Tỷ lệ đúng hạn trên số hồ sơ đến hạn",
    "data_reuse": "Tỷ lệ tái sử dụng dữ liệu số hóa",
    "portal_sync": "Tỷ lệ đồng bộ lên Cổng DVCQG",
    "petition_on_time": "Tỷ lệ PAKN xử lý đúng hạn",
    "petition_satisfaction": "Tỷ lệ hài lòng về xử lý PAKN",
    "procedures_on_time": "Tỷ lệ TTHC công khai đúng hạn",
    "procedures_online_share": "Tỷ lệ TTHC cung cấp trực tuyến",
    "online_procedures_used": "Tỷ lệ TTHC trực tuyến có phát sinh hồ sơ trực tuyến",
    "full_online_procedures_used": "Tỷ lệ TTHC toàn trình có phát sinh hồ sơ toàn trình",
    "online_payment_procedures_used": "Tỷ lệ TTHC có thanh toán trực tuyến có phát sinh thanh toán",
    "e_signed_documents": "Tỷ lệ văn bản điện tử có ký số",
}


RATIO_LABELS_VI.update({
    "procedures_update_on_time": "Tỷ lệ TTHC cập nhật, công khai đúng hạn",
    "procedures_content_full": "Tỷ lệ TTHC công khai đầy đủ bộ phận tạo thành",
    "dossier_sync_on_time": "Tỷ lệ hồ sơ đồng bộ kịp thời lên Cổng DVCQG",
    "handled_e_result_share": "Tỷ lệ hồ sơ có kết quả điện tử (trên số hồ sơ xử lý)",
    "handled_digitized_share": "Tỷ lệ hồ sơ số hóa (trên số hồ sơ xử lý)",
    "e_certified_copy_communes": "Tỷ lệ xã cung cấp chứng thực bản sao điện tử",
    "handled_reused_share": "Tỷ lệ hồ sơ tái sử dụng dữ liệu số hóa (trên số hồ sơ xử lý)",
    "handled_stored_personal_share": "Tỷ lệ hồ sơ đồng bộ kho dữ liệu cá nhân",
    "handled_citizen_data_share": "Tỷ lệ hồ sơ khai thác dữ liệu dân cư",
    "procedures_citizen_data_share": "Tỷ lệ TTHC kết nối dữ liệu dân cư",
    "fee_procedures_online_paid": "Tỷ lệ TTHC có phí được thanh toán trực tuyến",
    "fee_procedures_portal_paid": "Tỷ lệ TTHC có phí được thanh toán qua Cổng DVCQG",
    "dossier_satisfaction": "Tỷ lệ hồ sơ hài lòng (trên số hồ sơ xử lý)",
})

ALL_RATIO_FORMULAS = {**RATIO_FORMULAS, **CRITERION_RATIO_FORMULAS}
"""Every ratio key a formula is known for: report ratios and scoring-only ones."""


def fraction(key: str, counts: Counts) -> tuple[int, int]:
    """(numerator, denominator) of one ratio (report or scoring-only); a missing count key
    counts 0."""
    return ALL_RATIO_FORMULAS[key][1](zero_filled(counts))


def compute_ratios(counts: Counts) -> dict[str, float | None]:
    """The report's ``ratios``: every :data:`RATIO_KEYS` key."""
    c = zero_filled(counts)
    return {key: _ratio(*fn(c)) for key, (_, fn) in RATIO_FORMULAS.items()}
