"""Evidence bundles (tài liệu kiểm chứng) of one unit and period.

Pure: everything here builds file *contents* from dossiers already summarised
(:func:`kpi.sla.summarize`) and counters already aggregated (:func:`kpi.batch.aggregate`);
no SQL, Kafka or HTTP. :func:`write_bundle` only writes the built files to a directory.

A bundle (``<unit>_<period>/``) holds:

* ``summary.html`` (Vietnamese, prints to A4) and ``summary.md``: each criterion with value,
  points, max, formula, numerator, denominator and gap to target; the counts and ratios; with
  a unit registry, one row per unit directly below (e.g. the communes of a district) and the
  rolled-up total;
* ``evidence.xlsx``: a summary sheet, a counts sheet, one sheet per criterion listing the
  dossiers behind its numerator and denominator (and a sub-units sheet with a registry);
* one CSV per sheet (UTF-8 with BOM, so Excel reads Vietnamese correctly);
* ``manifest.json``: catalogs (id, version), the input file (path, SHA-256, lines),
  generation time, as_of and the SHA-256 of every other file of the bundle.

Which dossiers are behind a criterion: a dossier's contribution rows for the unit and period
(:func:`kpi.contribution.contribution_rows`) mapped through the ratio's count keys. Every
ratio of :mod:`kpi.ratios` is linear in the counts, so its numerator and denominator
coefficients per count key are read off the formula itself (:func:`ratio_terms`); a row is
listed when it adds to the denominator (or numerator), and ``in_numerator`` says whether it
adds to the numerator. Ratings are rows of their own, so a dossier is listed once per rating
for satisfaction. ``satisfaction_766`` has two terms (late or overdue / resolved + in
progress; dissatisfied / rated), listed with a ``term`` column.

Text cells starting with ``=``, ``+``, ``-``, ``@``, tab or CR are neutralised with a leading
``'`` in XLSX and CSV (:func:`neutralise`): dossier codes come from outside.
"""

from __future__ import annotations

import csv
import datetime as dt
import hashlib
import html
import io
import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from openpyxl import Workbook
from openpyxl.utils import get_column_letter

from kpi.calendar import local_date, to_local_datetime
from kpi.catalog import SATISFACTION_766, Catalog, shipped_catalogs
from kpi.contribution import contribution_rows
from kpi.counters import COUNT_KEYS, COUNT_LABELS_VI, Counters
from kpi.periods import parse_period
from kpi.ratios import RATIO_FORMULAS, RATIO_LABELS_VI
from kpi.report import build_report, report_criteria
from kpi.scoring import totals
from kpi.sla import (
    EARLY,
    IN_PROGRESS,
    LATE,
    ON_TIME,
    OVERDUE,
    REJECTED,
    WITHDRAWN,
    Dossier,
)
from kpi.units import UnitRegistry, rollup

FORMAT = "motcua-evidence/1"

# ------------------------------------------------------------------------------ terms


@dataclass(frozen=True)
class Term:
    """One numerator/denominator pair of a criterion's ratio, as count-key coefficients."""

    name: str
    numerator: Mapping[str, int]
    denominator: Mapping[str, int]


def _linear_coefficients(ratio: str) -> Term:
    fn = RATIO_FORMULAS[ratio][1]
    zero = dict.fromkeys(COUNT_KEYS, 0)
    n0, d0 = fn(zero)
    num: dict[str, int] = {}
    den: dict[str, int] = {}
    for key in COUNT_KEYS:
        n, d = fn({**zero, key: 1})
        if n - n0:
            num[key] = n - n0
        if d - d0:
            den[key] = d - d0
    return Term(ratio, num, den)


def ratio_terms(ratio: str) -> tuple[Term, ...]:
    """The terms of a criterion ratio (a kpi.ratios key or satisfaction_766)."""
    if ratio == SATISFACTION_766:
        return (
            Term("late_or_overdue", {"resolved_late": 1, "in_progress_overdue": 1},
                 {"resolved": 1, "in_progress": 1}),
            Term("dissatisfied", {"dissatisfied": 1}, {"rated": 1}),
        )
    return (_linear_coefficients(ratio),)


# ------------------------------------------------------------------------ dossier rows

CLASS_LABELS_VI = {
    EARLY: "Trước hạn",
    ON_TIME: "Đúng hạn",
    LATE: "Quá hạn",
    IN_PROGRESS: "Đang giải quyết, trong hạn",
    OVERDUE: "Đang giải quyết, quá hạn",
    REJECTED: "Từ chối",
    WITHDRAWN: "Rút hồ sơ",
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


def criterion_rows(
    ratio: str, dossiers: Iterable[Dossier], unit: str, period: str, horizon: float
) -> list[EvidenceRow]:
    """Every dossier row of ``unit`` that adds to ``ratio``'s numerator or denominator in
    ``period``, in dossier-code order. Summing ``numerator`` / ``denominator`` over the rows
    of a term gives the term's numerator / denominator of the report."""
    terms = ratio_terms(ratio)
    out: list[EvidenceRow] = []
    for d in sorted((d for d in dossiers if d.unit == unit), key=lambda d: d.code):
        status = CLASS_LABELS_VI.get(d.status_at(horizon), d.status_at(horizon))
        for periods, keys in contribution_rows(d, horizon):
            if period not in periods:
                continue
            for term in terms:
                num = sum(term.numerator.get(k, 0) for k in keys)
                den = sum(term.denominator.get(k, 0) for k in keys)
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
                    basis=", ".join(keys),
                    numerator=num,
                    denominator=den,
                ))
    return out


# ------------------------------------------------------------------------ cell safety

_DANGEROUS_START = ("=", "+", "-", "@", "\t", "\r")


def neutralise(value: Any) -> Any:
    """A text cell Excel could read as a formula gets a leading ``'``; others unchanged."""
    if isinstance(value, str) and value.startswith(_DANGEROUS_START):
        return "'" + value
    return value


def _csv_bytes(rows: Iterable[Sequence[Any]]) -> bytes:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")
    for row in rows:
        writer.writerow(["" if v is None else neutralise(v) for v in row])
    return "\ufeff".encode() + buf.getvalue().encode("utf-8")


def _sheet_title(text: str, taken: set[str]) -> str:
    title = re.sub(r"[\[\]:*?/\\]", "_", text)[:31] or "Sheet"
    base, n = title, 2
    while title.lower() in taken:
        suffix = f"~{n}"
        title = base[: 31 - len(suffix)] + suffix
        n += 1
    taken.add(title.lower())
    return title


def _file_stem(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", text).strip("._") or "x"


def bundle_dirname(unit: str, period: str) -> str:
    """``<unit>_<period>`` with characters unsafe in file names replaced by ``_``."""
    return f"{_file_stem(unit)}_{_file_stem(period)}"


# ------------------------------------------------------------------------------ input


@dataclass(frozen=True)
class InputInfo:
    """The event file (or the stored event log) a bundle was built from."""

    path: str
    sha256: str
    lines: int
    valid: int | None = None
    invalid: int | None = None
    log_range: dict[str, dict[str, list[int]]] | None = None
    """For a bundle built from the SQL store: ``{topic: {partition: [first, last offset]}}``
    of the stored events (``sha256`` is then over the payloads in log order, one a line)."""

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"path": self.path, "sha256": self.sha256, "lines": self.lines}
        if self.log_range is not None:
            out["log_range"] = self.log_range
        if self.valid is not None:
            out["valid_events"] = self.valid
        if self.invalid is not None:
            out["invalid_lines"] = self.invalid
        return out


def digest_file(path: Path) -> tuple[str, int]:
    """(SHA-256 hex, number of lines) of a file; a last line without newline counts."""
    h = hashlib.sha256()
    lines = 0
    last = b"\n"
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
            lines += chunk.count(b"\n")
            last = chunk[-1:]
    if last != b"\n":
        lines += 1
    return h.hexdigest(), lines


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


# ----------------------------------------------------------------------------- bundle


@dataclass
class SubunitRow:
    code: str
    name: str
    level: str
    counts: dict[str, int]
    ratios: dict[str, float | None]
    totals: dict[str, dict[str, float]]
    """catalog label → {points, max_points}."""


@dataclass
class Bundle:
    unit: str
    period: str
    report: dict[str, Any]
    criteria_rows: dict[str, list[EvidenceRow]]
    """criterion id → its dossier rows."""
    subunits: list[SubunitRow]
    rollup_counts: dict[str, int] | None
    manifest: dict[str, Any]
    files: dict[str, bytes] = field(default_factory=dict)
    """file name → content, manifest.json included."""

    @property
    def dirname(self) -> str:
        return bundle_dirname(self.unit, self.period)


def _catalog_info(c: Catalog) -> dict[str, Any]:
    return {
        "id": c.id,
        "version": c.version,
        "kind": c.kind,
        "level": c.level,
        "issuer": c.issuer,
        "valid_from": c.valid_from.isoformat(),
        "valid_to": c.valid_to.isoformat() if c.valid_to else None,
    }


def _totals_by_catalog(criteria: Iterable[Mapping[str, Any]]) -> dict[str, dict[str, float]]:
    groups: dict[str, list[Mapping[str, Any]]] = {}
    for c in criteria:
        groups.setdefault(c.get("catalog", ""), []).append(c)
    return {label: totals(entries) for label, entries in groups.items()}


def build_bundle(
    *,
    unit: str,
    period: str,
    dossiers: Iterable[Dossier],
    counters: Mapping[tuple[str, str], Counters],
    levels: Mapping[str, str],
    horizon: float,
    generated_at: float,
    input_info: InputInfo | None = None,
    catalogs: Sequence[Catalog] | None = None,
    par_catalog: Catalog | None = None,
    registry: UnitRegistry | None = None,
    registry_info: Mapping[str, Any] | None = None,
) -> Bundle:
    """Every file of the evidence bundle of ``unit`` and ``period``, as known before
    ``horizon``. ``counters`` / ``levels`` are :class:`kpi.batch.Aggregate` fields;
    ``dossiers`` the summarised dossiers (others than the unit's are ignored)."""
    p = parse_period(period)
    on_date = local_date(p.start)
    pool = list(catalogs) if catalogs is not None else shipped_catalogs()
    unit_info = registry.units.get(unit) if registry is not None else None
    level = levels.get(unit) or (unit_info.level if unit_info else None)
    own = counters.get((unit, period), Counters())
    criteria = report_criteria(own.to_dict(), level, on_date, pool, par_catalog)
    report = build_report(unit, period, own, horizon, criteria=criteria, level=level)
    if unit_info is not None:
        report["unit_name"] = unit_info.name

    mine = [d for d in dossiers if d.unit == unit]
    rows = {c["id"]: criterion_rows(c["ratio"], mine, unit, period, horizon) for c in criteria}

    subunits: list[SubunitRow] = []
    rolled: dict[str, int] | None = None
    if registry is not None:
        children = sorted(registry.children(unit), key=lambda u: u.code)
        for child in children:
            cc = counters.get((child.code, period), Counters()).to_dict()
            ccrit = report_criteria(cc, levels.get(child.code, child.level), on_date, pool)
            child_report = build_report(child.code, period, Counters.from_mapping(cc), horizon)
            subunits.append(SubunitRow(child.code, child.name, child.level, cc,
                                       child_report["ratios"], _totals_by_catalog(ccrit)))
        if children:
            rolled = rollup(counters, registry).get((unit, period), Counters()).to_dict()

    used_labels = list(dict.fromkeys(c["catalog"] for c in criteria))
    by_label = {c.label: c for c in [*pool, *([par_catalog] if par_catalog else [])]}
    manifest: dict[str, Any] = {
        "format": FORMAT,
        "unit": unit,
        "unit_name": unit_info.name if unit_info else None,
        "level": level,
        "period": period,
        "period_start": to_local_datetime(p.start).isoformat(),
        "period_end": to_local_datetime(p.end).isoformat(),
        "as_of": report["as_of"],
        "generated_at": to_local_datetime(generated_at).isoformat(),
        "catalogs": [_catalog_info(by_label[label]) for label in used_labels],
        "input": input_info.to_dict() if input_info else None,
        "registry": dict(registry_info) if registry_info else None,
        "totals": _totals_by_catalog(criteria),
    }
    bundle = Bundle(unit, period, report, rows, subunits, rolled, manifest)
    files: dict[str, bytes] = {}
    files["summary.html"] = render_html(bundle).encode("utf-8")
    files["summary.md"] = render_markdown(bundle).encode("utf-8")
    sheets = evidence_sheets(bundle)
    files["evidence.xlsx"] = render_xlsx(sheets, generated_at)
    for sheet in sheets:
        files[sheet.csv_name] = _csv_bytes(sheet.rows)
    manifest["files"] = {name: sha256_bytes(data) for name, data in sorted(files.items())}
    files["manifest.json"] = (
        json.dumps(manifest, ensure_ascii=False, indent=2) + "\n"
    ).encode("utf-8")
    bundle.files = files
    return bundle


def write_bundle(bundle: Bundle, out_dir: Path) -> Path:
    """Write the bundle's files to ``out_dir/<unit>_<period>/``; returns that directory."""
    target = out_dir / bundle.dirname
    target.mkdir(parents=True, exist_ok=True)
    for name, data in bundle.files.items():
        (target / name).write_bytes(data)
    return target


# ----------------------------------------------------------------------------- sheets


@dataclass
class Sheet:
    title: str
    csv_name: str
    rows: list[list[Any]]
    """Header row first."""
    number_formats: dict[int, str] = field(default_factory=dict)
    """0-based column → Excel number format."""


SUMMARY_HEADERS = (
    "Mã tiêu chí", "Tiêu chí", "Bộ tiêu chí", "Thành phần", "Công thức", "Tử số", "Mẫu số",
    "Giá trị", "Điểm", "Điểm tối đa", "Quy tắc", "Khoảng cách đến mục tiêu", "Trang chi tiết",
)


def _term_counts(entry: Mapping[str, Any]) -> list[tuple[str, int | None, int | None]]:
    """(term, numerator, denominator) of a report criterion entry, as counts."""
    if "terms" in entry:
        return [(name, n, d) for name, (n, d) in entry["terms"].items()]
    return [(entry["ratio"], entry["numerator"], entry["denominator"])]


def evidence_sheets(bundle: Bundle) -> list[Sheet]:
    """The sheets of evidence.xlsx (each also written as a CSV)."""
    taken: set[str] = set()
    criteria = bundle.report["criteria"]
    titles = {c["id"]: _sheet_title(c["id"], taken | {"tổng hợp", "số liệu", "đơn vị trực thuộc"})
              for c in criteria}
    summary = Sheet(_sheet_title("Tổng hợp", taken), "summary.csv", [list(SUMMARY_HEADERS)],
                    {7: "0.00%"})
    for c in criteria:
        for i, (term, n, d) in enumerate(_term_counts(c)):
            first = i == 0
            summary.rows.append([
                c["id"], c["name"], c.get("catalog", ""), term,
                c["formula"] if first else "", n, d,
                c["value"] if first else None,
                c["points"] if first else None,
                c["max_points"] if first else None,
                c["rule"] if first else "",
                c.get("gap_text", "") if first else "",
                titles[c["id"]],
            ])
    for label, total in bundle.manifest["totals"].items():
        summary.rows.append(["Tổng điểm", "", label, "", "", None, None, None,
                             total["points"], total["max_points"], "", "", ""])
    counts = Sheet(_sheet_title("Số liệu", taken), "counts.csv",
                   [["Chỉ số", "Khóa", "Giá trị", "Công thức"]], {2: "#,##0.####"})
    for key in COUNT_KEYS:
        counts.rows.append([COUNT_LABELS_VI[key], key, bundle.report["counts"][key], ""])
    for key, value in bundle.report["ratios"].items():
        counts.rows.append([RATIO_LABELS_VI[key], key, value, RATIO_FORMULAS[key][0]])
    sheets = [summary, counts]
    if bundle.subunits:
        sheets.append(_subunit_sheet(bundle, taken))
    for c in criteria:
        sheet = Sheet(titles[c["id"]], f"criterion_{_file_stem(c['id'])}.csv",
                      [list(EvidenceRow.HEADERS)])
        sheet.rows.extend(r.cells() for r in bundle.criteria_rows[c["id"]])
        sheets.append(sheet)
    return sheets


SUBUNIT_COUNT_KEYS = (
    "received", "received_online", "resolved", "resolved_early", "resolved_on_time",
    "resolved_late", "in_progress", "in_progress_overdue",
)
SUBUNIT_RATIO_KEYS = ("on_time_resolved", "on_time_766", "online_receipt")


def _subunit_sheet(bundle: Bundle, taken: set[str]) -> Sheet:
    labels = sorted({label for s in bundle.subunits for label in s.totals})
    header = ["Mã đơn vị", "Tên đơn vị", "Cấp",
              *(COUNT_LABELS_VI[k] for k in SUBUNIT_COUNT_KEYS),
              *(RATIO_LABELS_VI[k] for k in SUBUNIT_RATIO_KEYS),
              *(f"Điểm {label}" for label in labels), *(f"Tối đa {label}" for label in labels)]
    first_ratio = 3 + len(SUBUNIT_COUNT_KEYS)
    sheet = Sheet(_sheet_title("Đơn vị trực thuộc", taken), "subunits.csv", [header],
                  {first_ratio + i: "0.00%" for i in range(len(SUBUNIT_RATIO_KEYS))})
    for s in bundle.subunits:
        sheet.rows.append([
            s.code, s.name, s.level, *(s.counts[k] for k in SUBUNIT_COUNT_KEYS),
            *(s.ratios[k] for k in SUBUNIT_RATIO_KEYS),
            *(s.totals[label]["points"] if label in s.totals else None for label in labels),
            *(s.totals[label]["max_points"] if label in s.totals else None for label in labels),
        ])
    if bundle.rollup_counts is not None:
        from kpi.ratios import compute_ratios

        rr = compute_ratios(bundle.rollup_counts)
        sheet.rows.append([
            bundle.unit, "Tổng hợp (đơn vị và các đơn vị trực thuộc)", "",
            *(bundle.rollup_counts[k] for k in SUBUNIT_COUNT_KEYS),
            *(rr[k] for k in SUBUNIT_RATIO_KEYS), *([None] * (2 * len(labels))),
        ])
    return sheet


def render_xlsx(sheets: Sequence[Sheet], generated_at: float) -> bytes:
    """The workbook; every text cell neutralised, headers bold, filters and frozen header."""
    from openpyxl.styles import Alignment, Font

    wb = Workbook()
    wb.remove(wb.active)
    created = dt.datetime.fromtimestamp(generated_at, dt.UTC).replace(tzinfo=None)
    wb.properties.created = created
    wb.properties.modified = created
    wb.properties.creator = "motcua-kpi"
    bold = Font(bold=True)
    for sheet in sheets:
        ws = wb.create_sheet(sheet.title)
        for r, row in enumerate(sheet.rows, start=1):
            for col, value in enumerate(row, start=1):
                cell = ws.cell(row=r, column=col)
                v = neutralise(value)
                cell.value = v
                if isinstance(v, str):
                    cell.data_type = "s"  # never a formula, whatever the text
                if r == 1:
                    cell.font = bold
                    cell.alignment = Alignment(wrap_text=True, vertical="top")
                elif (col - 1) in sheet.number_formats and isinstance(v, float | int):
                    cell.number_format = sheet.number_formats[col - 1]
        ws.freeze_panes = "A2"
        if sheet.rows and sheet.rows[0]:
            ws.auto_filter.ref = f"A1:{get_column_letter(len(sheet.rows[0]))}{len(sheet.rows)}"
        for col in range(1, len(sheet.rows[0]) + 1 if sheet.rows else 1):
            width = max((len(str(row[col - 1])) for row in sheet.rows[1:] if col <= len(row)
                         and row[col - 1] is not None), default=8)
            ws.column_dimensions[get_column_letter(col)].width = min(max(width + 2, 10), 60)
    buf = io.BytesIO()
    wb.save(buf)
    return buf.getvalue()


# --------------------------------------------------------------------- HTML / Markdown


def _pct(v: float | None) -> str:
    return "—" if v is None else f"{v * 100:.2f}%".replace(".", ",")


def _pts(v: float | None) -> str:
    return "—" if v is None else f"{v:.2f}".replace(".", ",")


def _int(v: int | None) -> str:
    return "—" if v is None else f"{v:,}".replace(",", ".")


def _criterion_cells(c: Mapping[str, Any]) -> list[str]:
    parts = _term_counts(c)
    if len(parts) == 1:
        num, den = _int(parts[0][1]), _int(parts[0][2])
    else:
        num = "; ".join(f"{t}: {_int(n)}" for t, n, _ in parts)
        den = "; ".join(f"{t}: {_int(d)}" for t, _, d in parts)
    return [
        c["id"], c["name"], c["formula"], num, den, _pct(c["value"]), _pts(c["points"]),
        f"{c['max_points']:g}".replace(".", ","), c.get("gap_text", ""),
    ]


CRITERIA_HEADERS = ("Mã", "Tiêu chí", "Công thức", "Tử số", "Mẫu số", "Giá trị", "Điểm",
                    "Tối đa", "Khoảng cách đến mục tiêu")


def _meta_rows(bundle: Bundle) -> list[tuple[str, str]]:
    m = bundle.manifest
    unit = bundle.unit + (f" — {m['unit_name']}" if m.get("unit_name") else "")
    rows = [
        ("Đơn vị", unit),
        ("Cấp", m.get("level") or "—"),
        ("Kỳ báo cáo", f"{bundle.period} (từ {m['period_start'][:10]} đến trước "
                       f"{m['period_end'][:10]})"),
        ("Số liệu tính đến", m["as_of"]),
        ("Thời điểm lập", m["generated_at"]),
        ("Bộ tiêu chí", "; ".join(f"{c['id']} phiên bản {c['version']}" for c in m["catalogs"])
         or "—"),
    ]
    if m.get("input"):
        i = m["input"]
        rows.append(("Dữ liệu nguồn", f"{i['path']} ({_int(i['lines'])} dòng)"))
        rows.append(("SHA-256 dữ liệu nguồn", i["sha256"]))
    return rows


def _subunit_table(bundle: Bundle) -> tuple[list[str], list[list[str]]]:
    labels = sorted({label for s in bundle.subunits for label in s.totals})
    header = ["Mã", "Tên", "Tiếp nhận", "Trực tuyến", "Đã giải quyết", "Trước/đúng hạn",
              "Quá hạn", "Đang giải quyết", "Tỷ lệ đúng hạn (766)",
              *(f"Điểm {label}" for label in labels)]

    def line(code: str, name: str, c: Mapping[str, int], r: Mapping[str, float | None],
             t: Mapping[str, Mapping[str, float]]) -> list[str]:
        return [code, name, _int(c["received"]), _int(c["received_online"]),
                _int(c["resolved"]), _int(c["resolved_early"] + c["resolved_on_time"]),
                _int(c["resolved_late"]), _int(c["in_progress"]), _pct(r["on_time_766"]),
                *(f"{_pts(t[lb]['points'])}/{t[lb]['max_points']:g}".replace(".", ",")
                  if lb in t else "—"
                  for lb in labels)]

    rows = [line(s.code, s.name, s.counts, s.ratios, s.totals) for s in bundle.subunits]
    if bundle.rollup_counts is not None:
        from kpi.ratios import compute_ratios

        rows.append(line(bundle.unit, "Tổng hợp (đơn vị và các đơn vị trực thuộc)",
                         bundle.rollup_counts, compute_ratios(bundle.rollup_counts), {}))
    return header, rows


CSS = """
@page { size: A4; margin: 15mm 12mm; }
body { font-family: "Times New Roman", "DejaVu Serif", "Noto Serif", serif; font-size: 11pt;
       color: #000; }
h1 { font-size: 15pt; text-align: center; margin: 0 0 4mm; }
h2 { font-size: 12.5pt; margin: 6mm 0 2mm; break-after: avoid; }
table { border-collapse: collapse; width: 100%; margin-bottom: 3mm; font-size: 9.5pt; }
th, td { border: 1px solid #000; padding: 1.2mm 1.5mm; vertical-align: top;
         overflow-wrap: anywhere; }
table.fixed { table-layout: fixed; font-size: 8.5pt; }
th { background: #eee; text-align: left; }
thead { display: table-header-group; }
tr { break-inside: avoid; page-break-inside: avoid; }
td.n { text-align: right; }
td.code { font-family: "DejaVu Sans Mono", monospace; font-size: 8.5pt; word-break: break-all; }
p.note { font-size: 9pt; }
table.meta th { width: 26%; }
@media print { th { -webkit-print-color-adjust: exact; print-color-adjust: exact; } }
"""


def _html_table(header: Sequence[str], rows: Iterable[Sequence[str]],
                numeric: Iterable[int] = (), widths: Sequence[int] = ()) -> str:
    """A bordered table; ``widths`` (percent per column) fixes the layout to the page."""
    num = set(numeric)
    e = html.escape
    out = ['<table class="fixed">' if widths else "<table>"]
    if widths:
        out += ["<colgroup>", *(f'<col style="width:{w}%">' for w in widths), "</colgroup>"]
    out += ["<thead><tr>", *(f"<th>{e(h)}</th>" for h in header), "</tr></thead><tbody>"]
    for row in rows:
        out.append("<tr>")
        for i, v in enumerate(row):
            cls = ' class="n"' if i in num else ""
            out.append(f"<td{cls}>{e(str(v))}</td>")
        out.append("</tr>")
    out.append("</tbody></table>")
    return "".join(out)


def _even_widths(n: int) -> tuple[int, ...]:
    """Code and name columns wider, the rest shared evenly."""
    rest = max(n - 2, 1)
    each = (100 - 26) // rest
    return (10, 16, *([each] * rest))


def render_html(bundle: Bundle) -> str:
    """summary.html: Vietnamese, A4, bordered tables."""
    e = html.escape
    r = bundle.report
    parts = [
        "<!DOCTYPE html>",
        '<html lang="vi"><head><meta charset="utf-8">',
        f"<title>Tài liệu kiểm chứng — {e(bundle.unit)} — {e(bundle.period)}</title>",
        f"<style>{CSS}</style></head><body>",
        "<h1>TÀI LIỆU KIỂM CHỨNG<br>Kết quả giải quyết thủ tục hành chính</h1>",
        '<table class="meta"><tbody>',
        *(f"<tr><th>{e(k)}</th><td>{e(v)}</td></tr>" for k, v in _meta_rows(bundle)),
        "</tbody></table>",
        "<h2>1. Điểm theo tiêu chí</h2>",
        _html_table(CRITERIA_HEADERS, [_criterion_cells(c) for c in r["criteria"]],
                    numeric=(3, 4, 5, 6, 7), widths=(9, 17, 21, 9, 9, 8, 6, 5, 16)),
    ]
    tot = bundle.manifest["totals"]
    if tot:
        parts.append(_html_table(
            ("Bộ tiêu chí", "Tổng điểm", "Tối đa (các tiêu chí áp dụng)"),
            [(label, _pts(t["points"]), _pts(t["max_points"])) for label, t in tot.items()],
            numeric=(1, 2)))
    parts += [
        "<h2>2. Số liệu</h2>",
        _html_table(("Chỉ số", "Khóa", "Giá trị"),
                    [(COUNT_LABELS_VI[k], k, _int(r["counts"][k])) for k in COUNT_KEYS],
                    numeric=(2,)),
        _html_table(("Tỷ lệ", "Công thức", "Giá trị"),
                    [(RATIO_LABELS_VI[k], RATIO_FORMULAS[k][0], _pct(v))
                     for k, v in r["ratios"].items()], numeric=(2,)),
    ]
    if bundle.subunits:
        header, rows = _subunit_table(bundle)
        parts += ["<h2>3. Các đơn vị trực thuộc</h2>",
                  _html_table(header, rows, numeric=range(2, len(header)),
                              widths=_even_widths(len(header)))]
    parts.append(
        '<p class="note">Danh sách hồ sơ tính vào tử số và mẫu số của từng tiêu chí: tệp '
        "evidence.xlsx (mỗi tiêu chí một trang) và các tệp CSV kèm theo. Mã băm SHA-256 của "
        "từng tệp và của dữ liệu nguồn: manifest.json. Thời gian theo giờ Việt Nam (UTC+7)."
        "</p></body></html>"
    )
    return "\n".join(parts) + "\n"


def _md_cell(v: Any) -> str:
    return str(v).replace("\\", "\\\\").replace("|", "\\|").replace("\r", " ").replace("\n", " ")


def _md_table(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> list[str]:
    out = ["| " + " | ".join(_md_cell(h) for h in header) + " |",
           "|" + "---|" * len(header)]
    out += ["| " + " | ".join(_md_cell(v) for v in row) + " |" for row in rows]
    return [*out, ""]


def render_markdown(bundle: Bundle) -> str:
    """summary.md: the same content as summary.html."""
    r = bundle.report
    lines = [f"# Tài liệu kiểm chứng — {_md_cell(bundle.unit)} — {bundle.period}", ""]
    lines += [f"- **{k}**: {_md_cell(v)}" for k, v in _meta_rows(bundle)]
    lines += ["", "## 1. Điểm theo tiêu chí", ""]
    lines += _md_table(CRITERIA_HEADERS, [_criterion_cells(c) for c in r["criteria"]])
    for label, t in bundle.manifest["totals"].items():
        lines.append(f"- Tổng điểm {label}: {_pts(t['points'])} / {_pts(t['max_points'])}")
    lines += ["", "## 2. Số liệu", ""]
    lines += _md_table(("Chỉ số", "Khóa", "Giá trị"),
                       [(COUNT_LABELS_VI[k], k, _int(r["counts"][k])) for k in COUNT_KEYS])
    lines += _md_table(("Tỷ lệ", "Công thức", "Giá trị"),
                       [(RATIO_LABELS_VI[k], RATIO_FORMULAS[k][0], _pct(v))
                        for k, v in r["ratios"].items()])
    if bundle.subunits:
        header, rows = _subunit_table(bundle)
        lines += ["## 3. Các đơn vị trực thuộc", ""]
        lines += _md_table(header, rows)
    lines.append("Danh sách hồ sơ theo từng tiêu chí: evidence.xlsx và các tệp CSV; "
                 "mã băm SHA-256: manifest.json. Thời gian theo giờ Việt Nam (UTC+7).")
    return "\n".join(lines) + "\n"


__all__ = [
    "Bundle",
    "EvidenceRow",
    "InputInfo",
    "Term",
    "build_bundle",
    "bundle_dirname",
    "criterion_rows",
    "digest_file",
    "neutralise",
    "ratio_terms",
    "render_html",
    "render_markdown",
    "write_bundle",
]
