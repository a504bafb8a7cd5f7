"""The Grafana dashboards are built with Grafana's own SDK (``grafana-foundation-sdk``, the
build for Grafana 11.2 that docker-compose.yml runs) and validated by its types (issue 16):

* deploy/grafana/build_dashboards.py builds SDK objects (typed panels, options, queries,
  variables), and the committed JSON files are exactly their encoding;
* each committed file decodes into the SDK's types and encodes back to the same text, so
  no field is unknown to the SDK or of another type (a field the SDK does not model is
  dropped on decoding and the comparison fails, as the last test shows);
* every per-unit series is named by code and ``unit_name``.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from grafana_foundation_sdk.cog import plugins
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models import bargauge as bargauge_model
from grafana_foundation_sdk.models import dashboard as dm
from grafana_foundation_sdk.models import prometheus as prometheus_model
from grafana_foundation_sdk.models import stat as stat_model
from grafana_foundation_sdk.models import table as table_model
from grafana_foundation_sdk.models import timeseries as timeseries_model

from tests.unit.test_deploy import _build_module

ROOT = Path(__file__).resolve().parents[2]
GRAFANA = ROOT / "deploy" / "grafana"
OPTIONS = {"stat": stat_model.Options, "bargauge": bargauge_model.Options,
           "timeseries": timeseries_model.Options, "table": table_model.Options}


@pytest.fixture(scope="module")
def build() -> Any:
    return _build_module()


def committed() -> dict[str, str]:
    return {p.name: p.read_text(encoding="utf-8")
            for p in sorted((GRAFANA / "dashboards").glob("*.json"))}


def decode(text: str) -> dm.Dashboard:
    plugins.register_default_plugins()  # panel options and queries by type
    return dm.Dashboard.from_json(json.loads(text))


def encode(model: dm.Dashboard) -> str:
    return json.dumps(model, cls=JSONEncoder, indent=2, ensure_ascii=False) + "\n"


def test_the_committed_files_are_the_encoded_sdk_objects(build: Any) -> None:
    models = build.models()
    assert set(models) == set(committed()) == {
        "motcua-overview.json", "motcua-unit.json", "motcua-pipeline.json"}
    for name, model in models.items():
        assert isinstance(model, dm.Dashboard), name
        assert encode(model) == committed()[name], \
            f"{name} is stale: run python deploy/grafana/build_dashboards.py"
        assert model.panels
        for panel in model.panels:
            if isinstance(panel, dm.RowPanel):
                continue
            assert isinstance(panel, dm.Panel), (name, panel)
            # typed options, queries and field config: no hand-made dicts
            assert isinstance(panel.options, OPTIONS[panel.type_val]), (name, panel.title)
            assert panel.targets and all(isinstance(t, prometheus_model.Dataquery)
                                         for t in panel.targets), (name, panel.title)
            assert isinstance(panel.field_config, dm.FieldConfigSource)
            assert isinstance(panel.field_config.defaults, dm.FieldConfig)
        assert model.templating is not None and model.templating.list_val is not None
        for var in model.templating.list_val:
            assert isinstance(var, dm.VariableModel), (name, var)


def test_each_committed_file_decodes_into_the_sdk_types_unchanged() -> None:
    for name, text in committed().items():
        model = decode(text)
        assert isinstance(model, dm.Dashboard)
        assert encode(model) == text, f"{name} does not survive the SDK's types"
        kinds = {type(p.options) for p in model.panels or [] if isinstance(p, dm.Panel)}
        assert kinds <= set(OPTIONS.values()), (name, kinds)


def test_a_field_the_sdk_does_not_know_is_caught() -> None:
    """The round trip is a real check: an unknown key, or a known one spelled wrongly,
    does not survive decoding."""
    text = committed()["motcua-pipeline.json"]
    doc = json.loads(text)
    for mutate in (lambda d: d["panels"][1].__setitem__("legendz", {"show": True}),
                   lambda d: d.__setitem__("graphTooltipp", 1),
                   lambda d: d["panels"][1]["targets"][0].__setitem__("exprr", "up")):
        broken = json.loads(json.dumps(doc))
        mutate(broken)
        text_broken = json.dumps(broken, indent=2, ensure_ascii=False) + "\n"
        assert encode(decode(text_broken)) != text_broken


def test_series_of_units_are_named_by_code_and_name() -> None:
    """A query whose series are units keeps their ``unit_name`` label (no aggregation, or
    ``by`` it) and its legend shows it beside the code."""
    checked = 0
    for name, text in committed().items():
        for panel in json.loads(text)["panels"]:
            for target in panel.get("targets", []):
                legend, expr = target.get("legendFormat", ""), target["expr"]
                if "{{unit}}" not in legend:
                    continue
                checked += 1
                assert "{{unit_name}}" in legend, (name, panel["title"], legend)
                grouped = re.findall(r"\b(?:sum|max|min|avg)\s+by\s*\(([^)]*)\)", expr)
                assert all("unit_name" in g for g in grouped), (name, panel["title"], expr)
                assert not re.search(r"\b(?:sum|max|min|avg)\s*\(", expr), expr
    assert checked >= 7
    # the unit dashboard names its unit in its row titles (a hidden variable)
    unit = json.loads(committed()["motcua-unit.json"])
    var = next(v for v in unit["templating"]["list"] if v["name"] == "unit_name")
    assert var["hide"] == 2
    assert var["query"]["query"] == \
        'label_values(motcua_kpi_items{kpi="received",unit="$unit"}, unit_name)'
    rows = [p["title"] for p in unit["panels"] if p["type"] == "row"]
    assert any("$unit_name" in title for title in rows), rows
