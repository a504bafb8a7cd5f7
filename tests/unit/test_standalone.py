"""The repository stands alone: no tracked file reads or cites the spec outside it.

The event contract, the domain notes and the design live in ``docs/`` (contract.md,
domain.md, architecture.md, scoring.md). A clone from anywhere else has no sibling
``shared`` directory, so a citation of one of its files is a reference nobody can follow.
This module itself is the only file allowed to spell the forbidden names.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SELF = Path(__file__).resolve().relative_to(ROOT).as_posix()

FORBIDDEN = re.compile(
    r"\.\./shared|shared/(?:EVENTS|DOMAIN|DESIGN|WEB)|(?<![\w/])(?:EVENTS|DOMAIN|DESIGN|WEB)\.md\b"
)
"""``../shared``, any of the four spec files under ``shared/``, and their bare names (a
path that ends in one of them, e.g. ``docs/WEB.md``, is a file of the repository: not
matched)."""


def _tracked_files() -> list[str]:
    listed = subprocess.run(
        ["git", "ls-files", "-z"], cwd=ROOT, check=True, capture_output=True
    ).stdout.decode("utf-8")
    return [name for name in listed.split("\0") if name and name != SELF]


def _offences() -> list[str]:
    found = []
    for name in _tracked_files():
        path = ROOT / name
        if not path.is_file():
            continue  # deleted in the work tree, not yet committed
        text = path.read_bytes().decode("utf-8", errors="replace")
        for number, line in enumerate(text.splitlines(), start=1):
            if FORBIDDEN.search(line):
                found.append(f"{name}:{number}: {line.strip()[:120]}")
    return found


def test_no_tracked_file_cites_the_spec_outside_the_repository() -> None:
    offences = _offences()
    assert not offences, (
        "cite docs/contract.md, docs/domain.md, docs/architecture.md or docs/scoring.md "
        "instead:\n" + "\n".join(offences))


def test_the_pattern_catches_what_it_must() -> None:
    """Hand-picked lines, so a pattern that matches nothing cannot pass silently."""
    for line in ("see ../shared/EVENTS.md", "EVENTS.md v1.1", "(DOMAIN.md)",
                 "DESIGN.md, 'Faust'", "WEB.md", "shared/EVENTS", "/work/shared/DOMAIN.md"):
        assert FORBIDDEN.search(line), line
    for line in ("docs/contract.md", "MOTCUA_EVENTS", "EVENTS = [", "events.md",
                 "the shared runtime"):
        assert not FORBIDDEN.search(line), line
