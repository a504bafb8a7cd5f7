"""summary.html prints to PDF in headless Chromium (A4). Needs the `chromium` binary: the
test fails (does not skip) when it is missing — install it with
``apt-get install -y chromium`` (``make test`` installs it when missing)."""

from __future__ import annotations

import datetime as dt
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from kpi.batch import aggregate, fold_lines
from kpi.evidence import Bundle, build_bundle, write_bundle
from kpi.periods import parse_period
from kpi.registry import UnitRegistry, UnitVersion
from kpi.sla import summarize
from kpi.units import CalendarBook
from tests.eventkit import event_dict, json_line, received_dict

SOURCE = "urn:test:render"
CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


def _bundle() -> Bundle:
    """A district with one commune below it; a dossier code that looks like a formula."""
    lines = []
    for i, (code, unit, level) in enumerate(
        [("H1", "D1", "district"), ('=HYPERLINK("x")', "D1", "district"),
         ("K1", "C1", "commune")]
    ):
        lines.append(json_line(received_dict(
            f"2025-04-0{i + 1}T08:00:00+07:00", code, unit, level, "online",
            due="2025-04-10T17:00:00+07:00", source=SOURCE, id_=f"r{2 * i}")))
        lines.append(json_line(event_dict("dossier.resolved", f"2025-04-1{i}T09:00:00+07:00",
                                          code, SOURCE, f"r{2 * i + 1}")))
    batch = fold_lines(lines)
    horizon = parse_period("2025-04").end
    book = CalendarBook()
    states = list(batch.states())
    registry = UnitRegistry([
        UnitVersion("D1", "Huyện Một", "district", None, dt.date.min, None),
        UnitVersion("C1", "Xã Một", "commune", "D1", dt.date.min, None)])
    agg = aggregate(states, horizon, book, registry=registry)
    dossiers = [d for s in states if (d := summarize(s, horizon, book)) is not None]
    return build_bundle(unit="D1", period="2025-04", dossiers=dossiers,
                        counters=agg.counters, totals=agg.totals, levels=agg.levels,
                        horizon=horizon, generated_at=horizon, registry=registry)


def _chromium() -> str:
    for name in CHROMIUM_NAMES:
        path = shutil.which(name)
        if path:
            return path
    pytest.fail(
        "headless Chromium is required to render summary.html to PDF but none of "
        f"{', '.join(CHROMIUM_NAMES)} is on PATH; install it with "
        "`apt-get install -y chromium` (Debian/Ubuntu)",
        pytrace=False,
    )


@pytest.mark.integration
def test_summary_html_prints_to_pdf(tmp_path: Path) -> None:
    chromium = _chromium()
    target = write_bundle(_bundle(), tmp_path / "out")
    html = target / "summary.html"
    pdf = tmp_path / "summary.pdf"
    profile = tmp_path / "profile"
    cmd = [
        chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
        "--no-first-run", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", f"--user-data-dir={profile}", "--no-pdf-header-footer",
        f"--print-to-pdf={pdf}", html.resolve().as_uri(),
    ]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=180)
    assert pdf.exists(), (
        f"chromium wrote no PDF (exit {proc.returncode}):\n{proc.stderr[-2000:]}"
    )
    data = pdf.read_bytes()
    assert data.startswith(b"%PDF"), data[:20]
    pages = len(re.findall(rb"/Type\s*/Page(?![s\w])", data))
    assert pages >= 1
    # A4 is 595 × 842 points (± rounding)
    box = re.search(rb"/MediaBox\s*\[\s*0\s+0\s+([\d.]+)\s+([\d.]+)\s*\]", data)
    assert box is not None
    width, height = float(box.group(1)), float(box.group(2))
    assert abs(width - 595) < 2 and abs(height - 842) < 2, (width, height)
