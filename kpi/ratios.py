"""KPI ratios (tỷ lệ) as docs/contract.md: null when the denominator is 0, never a fake 0."""

from __future__ import annotations

from collections.abc import Callable, Mapping

Counts = Mapping[str, int]


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


def fraction(key: str, counts: Counts) -> tuple[int, int]:
    """(numerator, denominator) of one ratio."""
    return RATIO_FORMULAS[key][1](counts)


def compute_ratios(counts: Counts) -> dict[str, float | None]:
    return {key: _ratio(*fn(counts)) for key, (_, fn) in RATIO_FORMULAS.items()}
