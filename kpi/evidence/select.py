"""Which dossiers stand behind a criterion (pure selection; no file format here).

A dossier's contribution rows (:func:`kpi.contribution.contribution_rows`, attributed as the
batch attributes them: :class:`kpi.attribution.Attribution`) that name a counter key — a
unit's own figures or its total, :func:`kpi.attribution.scoped` — in a period
(:func:`contributions_to`) are mapped through the ratio's count keys
(:func:`criterion_rows`). A dossier stands behind a unit's figures whatever its receiving
desk: a dossier received elsewhere and handled by the unit is listed for its handling-side
rows only. Every ratio of :mod:`kpi.ratios` is linear in the
counts, so its numerator and denominator coefficients per count key are read off the formula
itself (:func:`ratio_terms`); a row is listed when it adds to the denominator (or numerator),
and ``in_numerator`` says whether it adds to the numerator. Ratings are rows of their own, so a
dossier is listed once per rating for satisfaction. ``satisfaction_766`` has two terms (late or
overdue / resolved + in progress; dissatisfied / rated), listed with a ``term`` column.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from kpi.attribution import NO_REGISTRY, Attribution, split_scoped
from kpi.calendar import to_local_datetime
from kpi.contribution import contribution_rows
from kpi.counters import COUNT_KEYS, DISTINCT_MARK
from kpi.criteria import SATISFACTION_766
from kpi.ratios import fraction
from kpi.sla import (
    EARLY,
    IN_PROGRESS,
    LATE,
    ON_TIME,
    OVERDUE,
    REJECTED,
    STOPPED,
    WITHDRAWN,
    Dossier,
)


@dataclass(frozen=True)
class Term:
    """One numerator/denominator pair of a criterion's ratio, as count-key coefficients."""

    name: str
    numerator: Mapping[str, int]
    denominator: Mapping[str, int]


def _linear_coefficients(ratio: str) -> Term:
    """The count-key coefficients of a ratio :func:`kpi.ratios.fraction` knows (a report
    ratio, or one only a scoring catalog reads)."""
    zero = dict.fromkeys(COUNT_KEYS, 0)
    n0, d0 = fraction(ratio, zero)
    num: dict[str, int] = {}
    den: dict[str, int] = {}
    for key in COUNT_KEYS:
        n, d = fraction(ratio, {**zero, key: 1})
        if n - n0:
            num[key] = n - n0
        if d - d0:
            den[key] = d - d0
    return Term(ratio, num, den)


def plain_key(key: str) -> str:
    """The count key a row key stands for (a distinct key without its code)."""
    return key.partition(DISTINCT_MARK)[0]


def basis_text(keys: Iterable[str]) -> str:
    """A row's count keys as the ``Căn cứ (khóa đếm)`` cell shows them: a distinct key as
    ``key[code]`` (the mark is a control character no spreadsheet cell may hold)."""
    out = []
    for k in keys:
        base, mark, code = k.partition(DISTINCT_MARK)
        out.append(f"{base}[{code}]" if mark else k)
    return ", ".join(out)


def row_counts(term: Term, keys: Sequence[str], seen: set[tuple[str, str]]) -> tuple[int, int]:
    """What one row of a bucket adds to ``term``'s numerator and denominator: its count
    keys' coefficients; a distinct key (``key<mark>code``) adds only the first time a row
    of the bucket names it (``seen``, shared by the bucket's rows, remembers), so the rows
    of a bucket add up to its counts of distinct codes too."""
    num = den = 0
    for k in keys:
        base, mark, _code = k.partition(DISTINCT_MARK)
        n, d = term.numerator.get(base, 0), term.denominator.get(base, 0)
        if mark and (n or d):
            if (term.name, k) in seen:
                continue
            seen.add((term.name, k))
        num += n
        den += d
    return num, den


def ratio_terms(ratio: str) -> tuple[Term, ...]:
    """The terms of a criterion ratio (a :func:`kpi.ratios.fraction` key or
    satisfaction_766)."""
    if ratio == SATISFACTION_766:
        return (
            Term("late_overdue_or_petitioned",
                 {"resolved_late": 1, "in_progress_overdue": 1, "dossiers_petitioned": 1,
                  "dossiers_petitioned_late": -1},
                 {"resolved": 1, "in_progress": 1}),
            Term("dissatisfied", {"dissatisfied": 1}, {"rated": 1}),
        )
    return (_linear_coefficients(ratio),)


CLASS_LABELS_VI = {
    EARLY: "Trước hạn",
    ON_TIME: "Đúng hạn",
    LATE: "Quá hạn",
    IN_PROGRESS: "Đang giải quyết, trong hạn",
    OVERDUE: "Đang giải quyết, quá hạn",
    REJECTED: "Từ chối",
    WITHDRAWN: "Rút hồ sơ",
    STOPPED: "Dừng giải quyết",
}

CHANNEL_LABELS_VI = {"direct": "Trực tiếp", "online": "Trực tuyến", "postal": "Bưu chính"}


def _row_class(keys: Sequence[str]) -> str:
    """The classification a contribution row stands for, in Vietnamese."""
    if "resolved_early" in keys:
        label = CLASS_LABELS_VI[EARLY]
    elif "resolved_on_time" in keys:
        label = CLASS_LABELS_VI[ON_TIME]
    elif "resolved_late" in keys:
        label = CLASS_LABELS_VI[LATE]
        if "late_with_apology" in keys:
            label += " (có thư xin lỗi)"
    elif "in_progress_overdue" in keys:
        label = CLASS_LABELS_VI[OVERDUE] + " (cuối kỳ)"
    elif "in_progress" in keys:
        label = CLASS_LABELS_VI[IN_PROGRESS] + " (cuối kỳ)"
    elif "rated" in keys:
        label = "Đánh giá: " + (
            "hài lòng" if "satisfied" in keys
            else "không hài lòng" if "dissatisfied" in keys else "bình thường"
        )
    elif "due_met" in keys:
        label = "Đến hạn trong kỳ, đã giải quyết đúng hạn"
    elif "due" in keys:
        label = "Đến hạn trong kỳ, chưa giải quyết đúng hạn"
    else:
        label = "Tiếp nhận"
    return label


def _when(ts: float | None) -> str:
    return "" if ts is None else to_local_datetime(ts).strftime("%Y-%m-%d %H:%M")


@dataclass(frozen=True)
class EvidenceRow:
    """One dossier row behind a criterion (one contribution row of the period)."""

    term: str
    code: str
    procedure: str
    channel: str
    received: str
    due: str
    extended_due: str
    completion: str
    classification: str
    status_as_of: str
    basis: str
    numerator: int
    denominator: int

    @property
    def in_numerator(self) -> bool:
        return self.numerator > 0

    HEADERS = (
        "Thành phần", "Mã hồ sơ", "Thủ tục", "Kênh", "Tiếp nhận", "Hạn xử lý", "Hẹn lại",
        "Hoàn thành", "Phân loại trong kỳ", "Trạng thái đến thời điểm tính",
        "Căn cứ (khóa đếm)", "Tính vào tử số", "Tính vào mẫu số",
    )

    def cells(self) -> list[Any]:
        return [
            self.term, self.code, self.procedure, self.channel, self.received, self.due,
            self.extended_due, self.completion, self.classification, self.status_as_of,
            self.basis, "có" if self.in_numerator else "không",
            "có" if self.denominator > 0 else "không",
        ]


@dataclass(frozen=True)
class Contributed:
    """A dossier and the count keys of each of its contribution rows to one counter key in
    one period (a dossier rated twice has two rating rows)."""

    dossier: Dossier
    rows: tuple[tuple[str, ...], ...]


def contributions_to(
    dossiers: Iterable[Dossier],
    counter_keys: Collection[str],
    period: str,
    horizon: float,
    attribution: Attribution = NO_REGISTRY,
) -> dict[str, list[Contributed]]:
    """For each counter key (a unit code, or ``scoped(unit, TOTAL)``), the dossiers with a
    contribution row to it in ``period``, in dossier-code order, with those rows in the
    order :func:`~kpi.contribution.contribution_rows` gives them. Summing a count key over
    the rows of a counter key gives that counter's count in ``period``, when
    ``attribution`` is the one the counters were aggregated with."""
    out: dict[str, list[Contributed]] = {k: [] for k in counter_keys}
    for d in sorted(dossiers, key=lambda d: d.code):
        mine: dict[str, list[tuple[str, ...]]] = {}
        for key, periods, keys in contribution_rows(d, horizon, attribution):
            if key in out and period in periods:
                mine.setdefault(key, []).append(keys)
        for key, rows in mine.items():
            out[key].append(Contributed(d, tuple(rows)))
    return out


def dossiers_behind(
    dossiers: Iterable[Dossier],
    units: Collection[str],
    horizon: float,
    attribution: Attribution = NO_REGISTRY,
) -> list[Dossier]:
    """The dossiers with a contribution row to the own figures or the total of one of
    ``units`` (any period): what the evidence bundles of those units may list."""
    wanted = set(units)
    out = []
    for d in dossiers:
        for key, _periods, _keys in contribution_rows(d, horizon, attribution):
            if split_scoped(key)[0] in wanted:
                out.append(d)
                break
    return out


def criterion_rows(
    ratio: str, contributed: Iterable[Contributed], horizon: float
) -> list[EvidenceRow]:
    """Every row of ``contributed`` (:func:`contributions_to` of one counter key and
    period) that adds to ``ratio``'s numerator or denominator, in the given order. Summing
    ``numerator`` / ``denominator`` over the rows of a term gives the term's numerator /
    denominator of that counter's report."""
    terms = ratio_terms(ratio)
    out: list[EvidenceRow] = []
    seen: set[tuple[str, str]] = set()
    for c in contributed:
        d = c.dossier
        status = CLASS_LABELS_VI.get(d.status_at(horizon), d.status_at(horizon))
        for keys in c.rows:
            for term in terms:
                num, den = row_counts(term, keys, seen)
                if not num and not den:
                    continue
                out.append(EvidenceRow(
                    term=term.name,
                    code=d.code,
                    procedure=d.procedure,
                    channel=CHANNEL_LABELS_VI.get(d.channel, d.channel),
                    received=_when(d.received_at),
                    due=_when(d.due_at),
                    extended_due=_when(d.extended_due_at),
                    completion=_when(d.completed_at),
                    classification=_row_class(keys),
                    status_as_of=status,
                    basis=basis_text(keys),
                    numerator=num,
                    denominator=den,
                ))
    return out


__all__ = [
    "CHANNEL_LABELS_VI",
    "CLASS_LABELS_VI",
    "DISTINCT_MARK",
    "Contributed",
    "EvidenceRow",
    "Term",
    "basis_text",
    "contributions_to",
    "criterion_rows",
    "dossiers_behind",
    "plain_key",
    "ratio_terms",
    "row_counts",
]
