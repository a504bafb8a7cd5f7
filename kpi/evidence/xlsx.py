"""``evidence.xlsx``: the bundle's sheets as one workbook (openpyxl)."""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Sequence

from openpyxl import Workbook
from openpyxl.utils import get_column_letter

from kpi.evidence.sheets import Sheet, neutralise


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


__all__ = ["render_xlsx"]
