"""Every module of the six packages stays at most 500 lines (CONTRIBUTING.md: one job per
module; issue 24, goal 5; docs/decisions/architecture-modules-under-500-lines.md)."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("kpi", "schemas", "runtime", "streams", "consumers", "motcua")
MAX_LINES = 500


def test_no_module_is_over_500_lines() -> None:
    modules = [p for pkg in PACKAGES for p in (ROOT / pkg).rglob("*.py")]
    assert len(modules) > 100  # the packages were found
    over = {str(p.relative_to(ROOT)): n for p in modules
            if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_LINES}
    assert over == {}
