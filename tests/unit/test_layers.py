"""The packages import downward only (docs/architecture.md, "Layers").

Every ``import`` statement of every module is read with :mod:`ast` — at module level and
inside functions alike, so a function-local import cannot hide an upward one — and:

* a package may import only the packages below it (:data:`LAYERS`; ``streams`` and
  ``consumers`` are side by side and do not import each other);
* no module imports itself back through a cycle, inside a package or across packages;
* ``kpi`` and ``schemas`` import no Kafka, faust, SQL or HTTP library;
* two Kafka client libraries at most (:data:`KAFKA_CLIENTS`): faust's aiokafka, in
  ``streams`` only (the worker), and confluent-kafka for everything else.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

LAYERS: dict[str, set[str]] = {
    "motcua": {"streams", "consumers", "runtime", "kpi", "schemas"},  # the command line
    "streams": {"runtime", "kpi", "schemas"},  # the live pipeline
    "consumers": {"runtime", "kpi", "schemas"},  # SQL sink, metrics
    "runtime": {"kpi", "schemas"},  # settings, Kafka helpers, topics, dead letters, broker
    "kpi": {"schemas"},  # the pure domain
    "schemas": set(),  # the event contract
}
"""Each project package → the project packages it may import."""

IMPURE = ("kafka", "aiokafka", "faust", "mode", "sqlalchemy", "alembic", "psycopg",
          "httpx", "requests", "starlette", "fastapi", "uvicorn", "http", "urllib",
          "socket", "prometheus_client", "confluent_kafka")
"""Libraries the pure packages (``kpi``, ``schemas``) must not import."""

KAFKA_CLIENTS: dict[str, set[str]] = {
    "aiokafka": {"streams"}, "faust": {"streams"}, "mode": {"streams"},  # the worker's
    "confluent_kafka": {"motcua", "consumers", "runtime"},  # everything else
}
"""Each Kafka client library the project may import → the packages that may import it
(docs/decisions/runtime-one-admin-client.md); any other (``kafka``: kafka-python,
``pykafka``…) none."""

OTHER_KAFKA_CLIENTS = ("kafka", "pykafka", "kafka3")


def _modules() -> dict[str, Path]:
    out = {}
    for package in LAYERS:
        for path in sorted((ROOT / package).rglob("*.py")):
            if "migrations" in path.parts:
                continue
            rel = path.relative_to(ROOT).with_suffix("")
            parts = list(rel.parts)
            if parts[-1] == "__init__":
                parts.pop()
            out[".".join(parts)] = path
    return out


MODULES = _modules()


def _imports(name: str, path: Path) -> list[tuple[int, str]]:
    """(line, imported module) of every import in a module, relative ones resolved."""
    tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            found.append((node.lineno, mod))
            for alias in node.names:  # ``from pkg import module``
                if f"{mod}.{alias.name}" in MODULES:
                    found.append((node.lineno, f"{mod}.{alias.name}"))
    return found


def test_every_package_is_found() -> None:
    assert {m.split(".")[0] for m in MODULES} == set(LAYERS)


@pytest.mark.parametrize("name", sorted(MODULES))
def test_imports_run_downward(name: str) -> None:
    top = name.split(".")[0]
    allowed = LAYERS[top] | {top}
    wrong = [f"{MODULES[name].relative_to(ROOT)}:{line} imports {mod}"
             for line, mod in _imports(name, MODULES[name])
             if mod.split(".")[0] in LAYERS and mod.split(".")[0] not in allowed]
    assert not wrong, "upward or sideways imports:\n" + "\n".join(wrong)


@pytest.mark.parametrize("name", sorted(m for m in MODULES if m.split(".")[0] in
                                        ("kpi", "schemas")))
def test_pure_packages_import_no_io_library(name: str) -> None:
    wrong = [f"{MODULES[name].relative_to(ROOT)}:{line} imports {mod}"
             for line, mod in _imports(name, MODULES[name]) if mod.split(".")[0] in IMPURE]
    assert not wrong, "kpi/ and schemas/ stay pure:\n" + "\n".join(wrong)


@pytest.mark.parametrize("name", sorted(MODULES))
def test_two_kafka_clients_at_most(name: str) -> None:
    top = name.split(".")[0]
    wrong = [f"{MODULES[name].relative_to(ROOT)}:{line} imports {mod}"
             for line, mod in _imports(name, MODULES[name])
             if (mod.split(".")[0] in KAFKA_CLIENTS
                 and top not in KAFKA_CLIENTS[mod.split(".")[0]])
             or mod.split(".")[0] in OTHER_KAFKA_CLIENTS]
    assert not wrong, "Kafka clients outside their place:\n" + "\n".join(wrong)


def test_no_import_cycle() -> None:
    graph = {name: {mod for _, mod in _imports(name, path) if mod in MODULES and mod != name}
             for name, path in MODULES.items()}
    cycles: list[list[str]] = []
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done
    path: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                cycles.append(path[path.index(nxt):] + [nxt])
            elif nxt not in state:
                visit(nxt)
        path.pop()
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node)
    assert not cycles, "import cycles:\n" + "\n".join(" -> ".join(c) for c in cycles)


def test_the_checker_sees_function_local_imports(tmp_path: Path) -> None:
    """The walk finds an import inside a function body (the way cycles used to hide)."""
    module = tmp_path / "m.py"
    module.write_text("def f():\n    from motcua.cli import app\n    return app\n")
    assert (2, "motcua.cli") in _imports("kpi.m", module)
