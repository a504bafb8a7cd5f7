"""Charts as server-side SVG (no script, no CDN): a sparkline for the tree's rows and a
12-month line chart with its points labelled, both with a text alternative."""

from __future__ import annotations

from collections.abc import Sequence
from html import escape

from motcua.web.fmt import period_label, points


def _scale(values: Sequence[float | None], lo_px: float, hi_px: float,
           top: float | None = None) -> list[float | None]:
    known = [v for v in values if v is not None]
    if not known:
        return [None for _ in values]
    lo, hi = min(known), max(known) if top is None else top
    if hi - lo < 1e-9:
        lo, hi = lo - 1, hi + 1
    return [None if v is None else hi_px - (v - lo) / (hi - lo) * (hi_px - lo_px)
            for v in values]


def _path(xs: Sequence[float], ys: Sequence[float | None]) -> str:
    parts, pen = [], "M"
    for x, y in zip(xs, ys, strict=True):
        if y is None:
            pen = "M"
            continue
        parts.append(f"{pen}{x:.1f},{y:.1f}")
        pen = "L"
    return " ".join(parts)


def sparkline(periods: Sequence[str], values: Sequence[float | None],
              width: int = 120, height: int = 28) -> str:
    """A small line of ``values`` (None: no data that month), its last point marked."""
    n = len(values)
    xs = [2 + i * (width - 4) / max(n - 1, 1) for i in range(n)]
    ys = _scale(values, 3, height - 3)
    known = [(p, v) for p, v in zip(periods, values, strict=True) if v is not None]
    label = "Không có dữ liệu" if not known else (
        f"Tổng điểm 12 tháng: {period_label(known[0][0])} {points(known[0][1])} → "
        f"{period_label(known[-1][0])} {points(known[-1][1])}")
    dot = ""
    last = [(x, y) for x, y in zip(xs, ys, strict=True) if y is not None]
    if last:
        dot = f'<circle cx="{last[-1][0]:.1f}" cy="{last[-1][1]:.1f}" r="2.5"/>'
    return (f'<svg class="spark" width="{width}" height="{height}" viewBox="0 0 {width} '
            f'{height}" role="img" aria-label="{escape(label)}"><title>{escape(label)}</title>'
            f'<path d="{_path(xs, ys)}" fill="none" stroke="currentColor" '
            f'stroke-width="1.5"/>{dot}</svg>')


def line_chart(periods: Sequence[str], values: Sequence[float | None],
               tips: Sequence[str] | None = None, width: int = 640, height: int = 200,
               top: float | None = 100.0) -> str:
    """The monthly trend: ``values`` against ``periods`` on a 0..``top`` axis, each point
    with a tooltip (``tips``: e.g. the groups' points that month)."""
    left, right, up, down = 36, 22, 10, 28
    n = len(values)
    xs = [left + i * (width - left - right) / max(n - 1, 1) for i in range(n)]
    span_top = top if top is not None else max([v for v in values if v is not None] or [1])
    ys: list[float | None] = [
        None if v is None else up + (1 - v / span_top) * (height - up - down) for v in values]
    grid = []
    for frac in (0, 0.25, 0.5, 0.75, 1):
        y = up + (1 - frac) * (height - up - down)
        grid.append(f'<line x1="{left}" x2="{width - right}" y1="{y:.1f}" y2="{y:.1f}" '
                    f'class="grid"/><text x="{left - 4}" y="{y + 4:.1f}" '
                    f'text-anchor="end">{points(span_top * frac).split(",")[0]}</text>')
    ticks = []
    for i, (x, p) in enumerate(zip(xs, periods, strict=True)):
        if n <= 12 or i % 2 == 0:
            short = p[5:7] + "/" + p[2:4] if len(p) == 7 else p
            ticks.append(f'<text x="{x:.1f}" y="{height - 8}" text-anchor="middle">'
                         f'{escape(short)}</text>')
    dots = []
    for i, (x, yy) in enumerate(zip(xs, ys, strict=True)):
        if yy is None:
            continue
        y = yy
        tip = f"{period_label(periods[i])}: {points(values[i])}"
        if tips:
            tip += "\n" + tips[i]
        dots.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="3.5" tabindex="0">'
                    f'<title>{escape(tip)}</title></circle>')
    summary = "; ".join(f"{period_label(p)}: {points(v)}"
                        for p, v in zip(periods, values, strict=True) if v is not None)
    return (f'<svg class="chart" viewBox="0 0 {width} {height}" role="img" '
            f'aria-label="{escape("Tổng điểm theo tháng. " + (summary or "Không có dữ liệu"))}"'
            f'>{"".join(grid)}{"".join(ticks)}<path d="{_path(xs, ys)}" fill="none" '
            f'stroke="currentColor" stroke-width="2"/>{"".join(dots)}</svg>')
