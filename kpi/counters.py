"""KPI counters per unit and period: a mergeable monoid (zero, add, subtract).

Per-partition results add up, per-unit results roll up to parents, and a dossier's change is
applied as ``counters + (new contribution − old contribution)``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

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
)
"""Every count key of docs/contract.md, plus two added optional keys that Decision 766
indicator 5.4 needs: ``dissatisfied`` and ``dossiers_petitioned_late`` (dossiers counted in
``dossiers_petitioned`` that are also resolved late or open overdue, so that a dossier both
late and petitioned is subtracted once)."""

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
