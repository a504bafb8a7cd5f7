"""summary.html prints to PDF in headless Chromium (A4). Needs the `chromium` binary: the
test fails (does not skip) when it is missing — install it with
``apt-get install -y chromium`` (.ci/run does)."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

from kpi.evidence import write_bundle
from tests.unit.test_evidence import REGISTRY, make_bundle

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")


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
    target = write_bundle(make_bundle(registry=REGISTRY), tmp_path / "out")
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
