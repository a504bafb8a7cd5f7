"""The CSV copy of a sheet: UTF-8 with BOM (so Excel reads Vietnamese), CRLF, every text
cell neutralised (:func:`kpi.evidence.sheets.neutralise`)."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Sequence
from typing import Any

from kpi.evidence.sheets import neutralise


def csv_bytes(rows: Iterable[Sequence[Any]]) -> bytes:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")
    for row in rows:
        writer.writerow(["" if v is None else neutralise(v) for v in row])
    return "\ufeff".encode() + buf.getvalue().encode("utf-8")


__all__ = ["csv_bytes"]
