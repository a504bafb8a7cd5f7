"""Write deploy/constraints.txt: the exact versions of the runtime dependency closure.

    python deploy/lock_constraints.py           # (re)write deploy/constraints.txt
    python deploy/lock_constraints.py --check   # exit 1 if the file differs

Run it with the interpreter of an environment where the project is installed (``make
test``'s ``.venv``; Python 3.11 on Linux, as the image): it starts from
``[project].dependencies`` of pyproject.toml (no extras: not ``dev``, not ``embedded``),
follows each installed distribution's requirements whose environment markers hold here
(extras only where a requirement asks for them, as ``psycopg[binary]``), and writes one
``name==version`` line per distribution reached — ``pip freeze`` restricted to what the
production image installs. The Dockerfile installs the wheel with ``-c`` this file, so an
image build resolves the same versions whatever the ranges would allow that day.

A package missing from the environment is an error (install the project first).
"""

from __future__ import annotations

import sys
import tomllib
from importlib.metadata import PackageNotFoundError, distribution
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "deploy" / "constraints.txt"


def runtime_closure(pyproject: Path) -> dict[str, tuple[str, str]]:
    """Canonical name → (distribution name, installed version) of every distribution the
    base dependencies need in this environment."""
    project = tomllib.loads(pyproject.read_text(encoding="utf-8"))["project"]
    todo = [Requirement(r) for r in project["dependencies"]]
    found: dict[str, tuple[str, str]] = {}
    visited: set[tuple[str, frozenset[str]]] = set()
    while todo:
        req = todo.pop()
        if req.marker is not None and not req.marker.evaluate({"extra": ""}):
            continue
        key = (canonicalize_name(req.name), frozenset(req.extras))
        if key in visited:
            continue
        visited.add(key)
        try:
            dist = distribution(req.name)
        except PackageNotFoundError as exc:
            raise SystemExit(f"{req.name} is not installed here: install the project "
                             f"(pip install -e .) and run this again") from exc
        found[key[0]] = (dist.metadata["Name"], dist.version)
        for text in dist.requires or []:
            sub = Requirement(text)
            if sub.marker is None or any(sub.marker.evaluate({"extra": e})
                                         for e in (req.extras or {""})):
                sub.marker = None
                todo.append(sub)
    return found


def render(pyproject: Path = ROOT / "pyproject.toml") -> str:
    lines = [
        "# Exact versions of motcua-kpi's runtime dependencies (the closure of",
        "# [project].dependencies, no extras), for the production image:",
        "#   pip install -c deploy/constraints.txt motcua_kpi-*.whl   (Dockerfile)",
        "# Written by `python deploy/lock_constraints.py` from the environment it ran in",
        f"# (Python {sys.version_info.major}.{sys.version_info.minor}.{sys.version_info.micro},"
        f" {sys.platform}); tests/unit/test_image_lock.py checks it.",
    ]
    closure = runtime_closure(pyproject)
    lines += [f"{name}=={version}" for _key, (name, version) in sorted(closure.items())]
    return "\n".join(lines) + "\n"


def main(argv: list[str]) -> int:
    text = render()
    if "--check" in argv:
        if not OUT.is_file() or OUT.read_text(encoding="utf-8") != text:
            print(f"{OUT} differs from this environment (run {Path(__file__).name})")
            return 1
        return 0
    OUT.write_text(text, encoding="utf-8")
    print(f"wrote {OUT} ({text.count('==')} pins)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
