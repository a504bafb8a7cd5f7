"""KPI counters per unit and period: a mergeable monoid (zero, add, subtract).

Per-partition results add up, per-unit results roll up to parents, and a dossier's change is
applied as ``counters + (new contribution − old contribution)``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

Row = tuple[str, tuple[str, ...], tuple[str, ...]]
"""(counter key, period keys, count keys): add one to each count key in each of those
periods of that unit's own figures or total."""

COUNT_KEYS: tuple[str, ...] = (
    "received",
    "received_online",
    "received_postal",
    "received_direct",
    "received_full_online",
    "full_online_eligible",
    "resolved",
    "resolved_early",
    "resolved_on_time",
    "resolved_late",
    "late_with_apology",
    "in_progress",
    "in_progress_overdue",
    "fee_dossiers",
    "paid_online",
    "digitized",
    "e_results",
    "paper_result_dossiers",
    "rated",
    "satisfied",
    "dissatisfied",
    "reused",
    "synced",
    "due",
    "due_met",
    "petitions_received",
    "petitions_answered",
    "petitions_answered_on_time",
    "petitions_open",
    "petitions_open_overdue",
    "petitions_unsatisfied",
    "dossiers_petitioned",
    "dossiers_petitioned_late",
    "procedures",
    "procedures_published",
    "procedures_published_on_time",
    "procedures_online",
    "procedures_full_online",
    "procedures_online_payment",
    "procedures_online_used",
    "procedures_full_online_used",
    "procedures_online_payment_used",
    "documents_issued",
    "documents_e_signed",
    "procedures_updated",
    "procedures_updated_on_time",
    "procedures_complete",
    "handled",
    "sync_due",
    "synced_on_time",
    "handled_e_result",
    "handled_digitized",
    "handled_reused",
    "handled_stored_personal",
    "handled_citizen_data",
    "reuse_eligible",
    "procedures_citizen_data",
    "communes",
    "communes_e_certified_copy",
    "fee_procedures",
    "fee_procedures_paid_online",
    "fee_procedures_paid_portal",
    "dossiers_unsatisfied",
)
"""Every count key of the event contract v1.1 and v1.2 (docs/contract.md), plus two added
optional keys that Decision 766 indicator 5.4 needs: ``dissatisfied`` and
``dossiers_petitioned_late`` (dossiers counted in ``dossiers_petitioned`` that are also
resolved late or open overdue, so that a dossier both late and petitioned is subtracted
once). New keys are only ever appended: stored checkpoints name their keys."""

DISTINCT_MARK = "\x1d"
"""Joins a count key and what it counts distinctly in a *distinct row key* (below)."""

CATALOG_DISTINCT_KEYS: frozenset[str] = frozenset({
    "procedures", "procedures_complete", "procedures_citizen_data", "fee_procedures",
    "fee_procedures_paid_online", "fee_procedures_paid_portal",
})
"""Catalog counts that a unit's *total* counts once per procedure code (v1.2: a province's
catalog is counted once), however many units below it have an entry of that code."""

COMMUNE_DISTINCT_KEY = "communes_e_certified_copy"
"""Counted once per commune, however many of its entries offer the service."""


def distinct_key(key: str, of: str) -> str:
    """The row key that counts ``key`` once per distinct ``of`` (a procedure code, a
    commune): rows carry it instead of ``key``; a bucket holds how many rows name each such
    key (its references) and ``key``'s count is how many of them are named at least once
    (:func:`add_keys`). Plain keys are counted as before."""
    return f"{key}{DISTINCT_MARK}{of}"


def key_indices(keys: Iterable[str]) -> tuple[tuple[int, ...], tuple[tuple[str, int], ...]]:
    """(indices of the plain keys, (distinct row key, index of its count key) pairs)."""
    plain: list[int] = []
    distinct: list[tuple[str, int]] = []
    for key in keys:
        if DISTINCT_MARK in key:
            distinct.append((key, INDEX[key.split(DISTINCT_MARK, 1)[0]]))
        else:
            plain.append(INDEX[key])
    return tuple(plain), tuple(distinct)


def add_distinct(values: list[int], refs: dict[str, int],
                 distinct: tuple[tuple[str, int], ...], sign: int) -> None:
    """Add (``sign`` = 1) or remove (−1) one reference to each distinct row key of a bucket
    whose counts are ``values`` and references ``refs``: a count changes only when a key
    gains its first reference or loses its last, so the counts stay equal to the number of
    distinct keys named, in any order of additions and removals."""
    for key, i in distinct:
        before = refs.get(key, 0)
        after = before + sign
        if after:
            refs[key] = after
        else:
            refs.pop(key, None)
        if before <= 0 < after:
            values[i] += 1
        elif after <= 0 < before:
            values[i] -= 1

COUNT_LABELS_VI: dict[str, str] = {
    "received": "Hồ sơ tiếp nhận",
    "received_online": "Tiếp nhận trực tuyến",
    "received_postal": "Tiếp nhận qua bưu chính công ích",
    "received_direct": "Tiếp nhận trực tiếp",
    "received_full_online": "Tiếp nhận trực tuyến toàn trình",
    "full_online_eligible": "Hồ sơ thuộc TTHC đủ điều kiện toàn trình",
    "resolved": "Đã giải quyết",
    "resolved_early": "Giải quyết trước hạn",
    "resolved_on_time": "Giải quyết đúng hạn",
    "resolved_late": "Giải quyết quá hạn",
    "late_with_apology": "Quá hạn có thư xin lỗi",
    "in_progress": "Đang giải quyết",
    "in_progress_overdue": "Đang giải quyết quá hạn",
    "fee_dossiers": "Hồ sơ phải nộp phí, lệ phí",
    "paid_online": "Thanh toán trực tuyến",
    "digitized": "Hồ sơ số hóa đầy đủ",
    "e_results": "Kết quả điện tử",
    "paper_result_dossiers": "Hồ sơ có kết quả giấy",
    "rated": "Lượt đánh giá",
    "satisfied": "Đánh giá hài lòng",
    "dissatisfied": "Đánh giá không hài lòng",
    "reused": "Hồ sơ tái sử dụng dữ liệu số hóa",
    "synced": "Hồ sơ đồng bộ lên Cổng DVCQG",
    "due": "Hồ sơ đến hạn trong kỳ",
    "due_met": "Đến hạn và giải quyết đúng hạn",
    "petitions_received": "PAKN tiếp nhận (thuộc thẩm quyền)",
    "petitions_answered": "PAKN đã trả lời",
    "petitions_answered_on_time": "PAKN trả lời đúng hạn",
    "petitions_open": "PAKN đang xử lý",
    "petitions_open_overdue": "PAKN đang xử lý quá hạn",
    "petitions_unsatisfied": "PAKN trả lời quá hạn hoặc không hài lòng",
    "dossiers_petitioned": "Hồ sơ bị phản ánh, kiến nghị",
    "dossiers_petitioned_late": "Hồ sơ bị phản ánh, kiến nghị và quá hạn",
    "procedures": "TTHC đang áp dụng",
    "procedures_published": "TTHC công khai trong kỳ",
    "procedures_published_on_time": "TTHC công khai đúng hạn",
    "procedures_online": "TTHC cung cấp trực tuyến",
    "procedures_full_online": "TTHC trực tuyến toàn trình",
    "procedures_online_payment": "TTHC có thanh toán trực tuyến",
    "procedures_online_used": "TTHC trực tuyến có phát sinh hồ sơ trực tuyến",
    "procedures_full_online_used": "TTHC toàn trình có phát sinh hồ sơ toàn trình",
    "procedures_online_payment_used": "TTHC có thanh toán trực tuyến có phát sinh thanh toán",
    "documents_issued": "Văn bản đi",
    "documents_e_signed": "Văn bản điện tử có ký số",
    "procedures_updated": "Lượt cập nhật TTHC trong kỳ",
    "procedures_updated_on_time": "Cập nhật TTHC đúng hạn",
    "procedures_complete": "TTHC công khai đầy đủ bộ phận",
    "handled": "Hồ sơ tiếp nhận và xử lý trong kỳ",
    "sync_due": "Hồ sơ phải đồng bộ lên Cổng DVCQG",
    "synced_on_time": "Hồ sơ đồng bộ kịp thời",
    "handled_e_result": "Hồ sơ có kết quả điện tử",
    "handled_digitized": "Hồ sơ số hóa đầy đủ (trên hồ sơ xử lý)",
    "handled_reused": "Hồ sơ tái sử dụng dữ liệu số hóa (trên hồ sơ xử lý)",
    "handled_stored_personal": "Hồ sơ đồng bộ kho dữ liệu cá nhân",
    "handled_citizen_data": "Hồ sơ sử dụng dữ liệu dân cư",
    "reuse_eligible": "Hồ sơ thuộc TTHC được cắt giảm, thay thế bằng dữ liệu",
    "procedures_citizen_data": "TTHC kết nối dữ liệu dân cư",
    "communes": "Đơn vị cấp xã",
    "communes_e_certified_copy": "Cấp xã có chứng thực bản sao điện tử",
    "fee_procedures": "TTHC có phí, lệ phí",
    "fee_procedures_paid_online": "TTHC có phí phát sinh thanh toán trực tuyến",
    "fee_procedures_paid_portal": "TTHC có phí thanh toán qua Cổng DVCQG",
    "dossiers_unsatisfied": "Hồ sơ chưa hài lòng (quá hạn, không hài lòng, bị phản ánh)",
}

INDEX: dict[str, int] = {k: i for i, k in enumerate(COUNT_KEYS)}
_N = len(COUNT_KEYS)


class Counters:
    """A vector of counts indexed by :data:`COUNT_KEYS`."""

    __slots__ = ("values",)

    def __init__(self, values: Iterable[int] | None = None) -> None:
        self.values: list[int] = list(values) if values is not None else [0] * _N
        if len(self.values) != _N:
            raise ValueError(f"expected {_N} counts, got {len(self.values)}")

    @classmethod
    def zero(cls) -> Counters:
        return cls()

    @classmethod
    def from_mapping(cls, counts: Mapping[str, int]) -> Counters:
        c = cls()
        for key, n in counts.items():
            c.values[INDEX[key]] += n
        return c

    def __add__(self, other: Counters) -> Counters:
        return Counters([a + b for a, b in zip(self.values, other.values, strict=True)])

    def __sub__(self, other: Counters) -> Counters:
        return Counters([a - b for a, b in zip(self.values, other.values, strict=True)])

    def __iadd__(self, other: Counters) -> Counters:
        v = self.values
        for i, b in enumerate(other.values):
            v[i] += b
        return self

    def add_mapping(self, counts: Mapping[str, int], sign: int = 1) -> None:
        v = self.values
        for key, n in counts.items():
            v[INDEX[key]] += sign * n

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Counters) and self.values == other.values

    def __hash__(self) -> int:  # pragma: no cover - mutable, never hashed in practice
        raise TypeError("Counters is mutable")

    def is_zero(self) -> bool:
        return not any(self.values)

    def __getitem__(self, key: str) -> int:
        return self.values[INDEX[key]]

    def to_dict(self) -> dict[str, int]:
        return dict(zip(COUNT_KEYS, self.values, strict=True))

    def __repr__(self) -> str:
        nonzero = {k: v for k, v in self.to_dict().items() if v}
        return f"Counters({nonzero})"
