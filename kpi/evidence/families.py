"""Which petitions (PAKN), procedure catalog entries and documents stand behind a unit's
figures in a period (docs/contract.md families; pure selection, no file format here).

One truth with the counts: each item is summarised by its family's own function
(:func:`kpi.petition.summarize_petition`, :func:`kpi.procedure_catalog.summarize_entry`,
a visible ``document_issued`` fact) from the folded states (:func:`kpi.batch.fold_lines`,
links added), and its contribution rows are the family's own
(:func:`kpi.petition.petition_rows`, :func:`kpi.procedure_catalog.entry_rows`,
:func:`kpi.document.document_fact_rows`) attributed as the batch attributes them. A row is
listed for a counter key (a unit's own figures, or its total: :func:`kpi.attribution.scoped`)
and a period exactly when it adds to that counter's counts, so the lists add up to the
report's counts:

* petitions (:func:`petition_rows_for`): the late-answered ones (a row with
  ``petitions_answered`` but not ``petitions_answered_on_time``) and the open-overdue ones
  (``petitions_open_overdue``) — ``(petitions_answered − petitions_answered_on_time) +
  petitions_open_overdue`` rows;
* the catalog (:func:`procedure_rows_for`): every entry in force at the period's judged
  instant (``procedures`` rows, with what it offered then and whether dossiers used it in
  the period, read off the same row's keys), and every entry first published in the period
  that is no longer in force then (so the ``procedures_published`` rows are all listed too);
* documents (:func:`document_rows_for`): every document issued in the period
  (``documents_issued`` rows; ``documents_e_signed`` ones marked).

:func:`family_criterion_rows` maps the same rows through a criterion ratio's terms (as
:func:`kpi.evidence.select.criterion_rows` does for dossiers), so a criterion over a
family's ratio lists the items behind its numerator and denominator.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from typing import Any

from kpi.attribution import Attribution, split_scoped
from kpi.calendar import to_local_datetime
from kpi.contribution import Row
from kpi.document import ISSUED, document_fact_rows
from kpi.dossier import DossierState, Fact
from kpi.evidence.select import EvidenceRow, basis_text, plain_key, ratio_terms, row_counts
from kpi.petition import KINDS as PETITION_KINDS
from kpi.petition import Petition, petition_rows, summarize_petition
from kpi.procedure_catalog import PUBLISHED, CatalogEntry, entry_rows, summarize_entry
from kpi.sla import CalendarFor

YES, NO, NOT_APPLICABLE = "có", "không", "—"

RATING_LABELS_VI = {"satisfied": "Hài lòng", "neutral": "Bình thường",
                    "dissatisfied": "Không hài lòng"}
ONLINE_LEVEL_LABELS_VI = {"full": "Toàn trình", "partial": "Một phần", "none": "Không"}


def _when(ts: float | None) -> str:
    return "" if ts is None else to_local_datetime(ts).strftime("%Y-%m-%d %H:%M")


def _yes(flag: bool) -> str:
    return YES if flag else NO


# --------------------------------------------------------------------------- selection


@dataclass
class Families:
    """The family items with a contribution row to some unit of interest, each with all
    its rows (every counter key, every period), in code order."""

    petitions: list[tuple[Petition, list[Row]]] = field(default_factory=list)
    entries: list[tuple[CatalogEntry, list[Row]]] = field(default_factory=list)
    documents: list[tuple[str, Fact, list[Row]]] = field(default_factory=list)
    """(subject, the ``document_issued`` fact, its rows): a subject may hold several."""


_FAMILY_KINDS = frozenset({*PETITION_KINDS, PUBLISHED, ISSUED})


def families_behind(
    states: Iterable[DossierState],
    units: Collection[str],
    horizon: float,
    calendar_for: CalendarFor,
    attribution: Attribution,
) -> Families:
    """The petitions, catalog entries and documents of ``states`` (folded with their
    links) as known before ``horizon`` that add to the own figures or the total of one of
    ``units`` (any period); ``attribution`` must be the one the counters were aggregated
    with."""
    wanted = set(units)

    def mine(rows: list[Row]) -> bool:
        return any(split_scoped(key)[0] in wanted for key, _, _ in rows)

    out = Families()
    for state in sorted(states, key=lambda s: s.code):
        if not any(f[0] in _FAMILY_KINDS for f in state.facts.values()):
            continue
        p = summarize_petition(state, horizon, calendar_for)
        if p is not None and mine(rows := petition_rows(p, horizon, attribution)):
            out.petitions.append((p, rows))
        e = summarize_entry(state, horizon)
        if e is not None and mine(rows := entry_rows(e, horizon, attribution)):
            out.entries.append((e, rows))
        issued = sorted((f for f in state.facts.values() if f[0] == ISSUED and f[1] < horizon),
                        key=lambda f: (f[1], repr(f)))
        for fact in issued:
            if mine(rows := document_fact_rows(fact, attribution)):
                out.documents.append((state.code, fact, rows))
    return out


def keys_to(rows: Iterable[Row], counter_key: str, period: str) -> list[tuple[str, ...]]:
    """The count keys of each row of ``rows`` that adds to ``counter_key`` in ``period``,
    as the rows name them: a distinct row key (``key<mark>code``, v1.2) stays one, so that
    :func:`kpi.evidence.select.row_counts` counts its code once across the rows of the
    bucket; read it as its count key with :func:`kpi.evidence.select.plain_key`."""
    return [keys for key, periods, keys in rows if key == counter_key and period in periods]


# --------------------------------------------------------------------------- petitions


@dataclass(frozen=True)
class PetitionRow:
    """A petition answered late in the period, or open and overdue at its judged instant."""

    code: str
    unit: str
    level: str
    received: str
    due: str
    answered: str
    status: str
    rating: str
    dossier_code: str
    basis: str

    HEADERS = ("Mã PAKN", "Đơn vị tiếp nhận", "Cấp", "Tiếp nhận", "Hạn trả lời",
               "Ngày trả lời", "Tình trạng trong kỳ", "Đánh giá", "Hồ sơ bị phản ánh",
               "Căn cứ (khóa đếm)")

    def cells(self) -> list[Any]:
        return [self.code, self.unit, self.level, self.received, self.due, self.answered,
                self.status, self.rating, self.dossier_code, self.basis]


ANSWERED_LATE_VI = "Trả lời quá hạn"
OPEN_OVERDUE_VI = "Đang xử lý, quá hạn (cuối kỳ)"


def petition_rows_for(families: Families, counter_key: str, period: str
                      ) -> list[PetitionRow]:
    """The late-answered and open-overdue petitions behind ``counter_key`` in ``period``:
    one row per contribution row, so there are ``(petitions_answered −
    petitions_answered_on_time) + petitions_open_overdue`` of them."""
    out = []
    for p, rows in families.petitions:
        for keys in keys_to(rows, counter_key, period):
            if "petitions_open_overdue" in keys:
                status = OPEN_OVERDUE_VI
            elif "petitions_answered" in keys and "petitions_answered_on_time" not in keys:
                status = ANSWERED_LATE_VI
            else:
                continue
            out.append(PetitionRow(
                p.code, p.unit, p.level, _when(p.received_at), _when(p.due_at),
                _when(p.answered_at), status, RATING_LABELS_VI.get(p.rating or "", ""),
                p.dossier_code or "", ", ".join(keys)))
    return out


# --------------------------------------------------------------------------- catalog


@dataclass(frozen=True)
class ProcedureRow:
    """A catalog entry in force at the period's judged instant, or first published in the
    period. What it offered and whether it was used are read off its row's count keys."""

    procedure: str
    unit: str
    online_level: str
    online_payment: str
    first_published: str
    publish_due: str
    published_in_period: str
    published_on_time: str
    in_force: str
    used_online: str
    used_full: str
    used_payment: str
    basis: str

    HEADERS = ("Mã TTHC", "Đơn vị công bố", "Mức độ trực tuyến (cuối kỳ)",
               "Thanh toán trực tuyến (cuối kỳ)", "Công bố lần đầu", "Hạn công bố",
               "Công bố lần đầu trong kỳ", "Công bố đúng hạn", "Đang áp dụng cuối kỳ",
               "Có hồ sơ trực tuyến trong kỳ", "Có hồ sơ toàn trình trong kỳ",
               "Có thanh toán trực tuyến trong kỳ", "Căn cứ (khóa đếm)")

    def cells(self) -> list[Any]:
        return [self.procedure, self.unit, self.online_level, self.online_payment,
                self.first_published, self.publish_due, self.published_in_period,
                self.published_on_time, self.in_force, self.used_online, self.used_full,
                self.used_payment, self.basis]


def _used(keys: set[str], offered: str, used: str) -> str:
    """``có`` / ``không`` when the entry offered it at the judged instant, else ``—``."""
    return (YES if used in keys else NO) if offered in keys else NOT_APPLICABLE


def procedure_rows_for(families: Families, counter_key: str, period: str
                       ) -> list[ProcedureRow]:
    """The catalog entries behind ``counter_key`` in ``period``: those in force at its
    judged instant (``procedures`` rows) and those first published in it
    (``procedures_published`` rows), one row per entry."""
    out = []
    for e, rows in families.entries:
        keys = {plain_key(k) for ks in keys_to(rows, counter_key, period) for k in ks}
        if not keys:
            continue
        in_force = "procedures" in keys
        level = ("full" if "procedures_full_online" in keys
                 else "partial" if "procedures_online" in keys else "none")
        out.append(ProcedureRow(
            procedure=e.procedure,
            unit=e.unit,
            online_level=ONLINE_LEVEL_LABELS_VI[level] if in_force else NOT_APPLICABLE,
            online_payment=(_yes("procedures_online_payment" in keys) if in_force
                            else NOT_APPLICABLE),
            first_published=_when(e.first_published_at),
            publish_due=_when(e.publish_due_at),
            published_in_period=_yes("procedures_published" in keys),
            published_on_time=_yes(e.published_on_time),
            in_force=_yes(in_force),
            used_online=_used(keys, "procedures_online", "procedures_online_used"),
            used_full=_used(keys, "procedures_full_online", "procedures_full_online_used"),
            used_payment=_used(keys, "procedures_online_payment",
                               "procedures_online_payment_used"),
            basis=", ".join(k for k in _CATALOG_KEY_ORDER if k in keys),
        ))
    return out


_CATALOG_KEY_ORDER = (
    "procedures_published", "procedures_published_on_time", "procedures",
    "procedures_online", "procedures_online_used", "procedures_full_online",
    "procedures_full_online_used", "procedures_online_payment",
    "procedures_online_payment_used",
)


# --------------------------------------------------------------------------- documents


@dataclass(frozen=True)
class DocumentRow:
    """A document the unit issued (sent to another state agency) in the period."""

    code: str
    unit: str
    level: str
    issued: str
    electronic: str
    signed: str
    basis: str

    HEADERS = ("Mã văn bản", "Đơn vị gửi", "Cấp", "Thời điểm gửi", "Văn bản điện tử",
               "Ký số", "Căn cứ (khóa đếm)")

    def cells(self) -> list[Any]:
        return [self.code, self.unit, self.level, self.issued, self.electronic, self.signed,
                self.basis]


def document_rows_for(families: Families, counter_key: str, period: str
                      ) -> list[DocumentRow]:
    """Every document behind ``counter_key`` in ``period`` (``documents_issued`` rows)."""
    out = []
    for code, fact, rows in families.documents:
        _, ts, unit, level, electronic, signed = fact
        for keys in keys_to(rows, counter_key, period):
            out.append(DocumentRow(code, unit, level, _when(ts), _yes(bool(electronic)),
                                   _yes(bool(signed)), ", ".join(keys)))
    return out


# --------------------------------------------------------------------------- criteria


def _petition_fields(p: Petition, keys: tuple[str, ...], horizon: float) -> dict[str, str]:
    if "petitions_open" in keys:
        cls = OPEN_OVERDUE_VI if "petitions_open_overdue" in keys else "Đang xử lý (cuối kỳ)"
    elif "petitions_answered" in keys:
        cls = ("Trả lời đúng hạn" if "petitions_answered_on_time" in keys
               else ANSWERED_LATE_VI)
        if "petitions_unsatisfied" in keys:
            cls += ", không hài lòng hoặc quá hạn"
    else:
        cls = "Tiếp nhận"
    if p.dossier_code:
        cls += f" (phản ánh hồ sơ {p.dossier_code})"
    answered = p.answered_at is not None and p.answered_at < horizon
    return {"code": p.code, "procedure": "", "channel": "",
            "received": _when(p.received_at), "due": _when(p.due_at),
            "completion": _when(p.answered_at), "classification": "PAKN: " + cls,
            "status_as_of": "Đã trả lời" if answered else "Đang xử lý"}


def _entry_fields(e: CatalogEntry, keys: tuple[str, ...], horizon: float) -> dict[str, str]:
    cls = ("TTHC đang áp dụng (cuối kỳ)" if "procedures" in map(plain_key, keys)
           else "TTHC công bố lần đầu trong kỳ")
    return {"code": e.subject, "procedure": e.procedure, "channel": "",
            "received": _when(e.first_published_at), "due": _when(e.publish_due_at),
            "completion": "", "classification": cls,
            "status_as_of": "Đang áp dụng" if e.offer_at(horizon) is not None
            else "Không còn áp dụng"}


def _document_fields(code: str, fact: Fact) -> dict[str, str]:
    electronic, signed = bool(fact[4]), bool(fact[5])
    kind = ("điện tử, ký số" if electronic and signed else "điện tử, chưa ký số" if electronic
            else "giấy")
    return {"code": code, "procedure": "", "channel": "",
            "received": _when(fact[1]), "due": "", "completion": "",
            "classification": f"Văn bản đi ({kind})", "status_as_of": "Đã gửi"}


def family_criterion_rows(ratio: str, families: Families, counter_key: str, period: str,
                          horizon: float) -> list[EvidenceRow]:
    """The family rows adding to ``ratio``'s numerator or denominator for ``counter_key``
    in ``period`` (petitions, then catalog entries, then documents), in the columns of
    :class:`kpi.evidence.select.EvidenceRow`: code (an entry's subject
    ``{unit}/{procedure}``), procedure (entries), received / first published / issued, due
    (to answer, to publish), answered; the family and the row's meaning in the
    classification. Together with the dossier rows they sum to the ratio's
    numerator and denominator (a count of distinct procedure codes or communes: the first
    item naming each, :func:`kpi.evidence.select.row_counts`)."""
    terms = ratio_terms(ratio)
    items: list[tuple[dict[str, str], tuple[str, ...]]] = []
    for p, rows in families.petitions:
        items += [(_petition_fields(p, keys, horizon), keys)
                  for keys in keys_to(rows, counter_key, period)]
    for e, rows in families.entries:
        items += [(_entry_fields(e, keys, horizon), keys)
                  for keys in keys_to(rows, counter_key, period)]
    for code, fact, rows in families.documents:
        items += [(_document_fields(code, fact), keys)
                  for keys in keys_to(rows, counter_key, period)]
    out = []
    seen: set[tuple[str, str]] = set()
    for fields, keys in items:
        for term in terms:
            num, den = row_counts(term, keys, seen)
            if num or den:
                out.append(EvidenceRow(term=term.name, extended_due="", basis=basis_text(keys),
                                       numerator=num, denominator=den, **fields))
    return out


__all__ = [
    "DocumentRow",
    "Families",
    "PetitionRow",
    "ProcedureRow",
    "document_rows_for",
    "families_behind",
    "family_criterion_rows",
    "keys_to",
    "petition_rows_for",
    "procedure_rows_for",
]
