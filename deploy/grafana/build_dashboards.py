"""Generate the Grafana dashboards of motcua-kpi from plain dicts (committed JSON output).

    python deploy/grafana/build_dashboards.py          # (re)write deploy/grafana/dashboards/
    python deploy/grafana/build_dashboards.py --check  # exit 1 if the committed files differ

Three dashboards, all on the provisioned datasource uid ``prometheus``:

* ``motcua-overview``  Tổng quan: each Decision 766 KPI per unit of one level, overdue
  dossiers, and the level's month-to-date trend (ratios recomputed from summed counts);
* ``motcua-unit``      Chi tiết đơn vị: one unit (templated from
  ``label_values(motcua_kpi_ratio, unit)``) across month, quarter and year;

Both KPI dashboards have a ``scope`` variable (Phạm vi, EVENTS.md v1.1): ``own`` — the
unit's own figures (số liệu của đơn vị), the default — or ``total`` — plus every unit below
it (tổng hợp); every KPI query selects it. The gauges are the live view "as it was"
(``view="as_was"``); series are named by unit code and, when known, ``unit_name``. Units of
one level never overlap, so summing a level's units is right in either scope.
* ``motcua-pipeline``  Tình trạng hệ thống: throughput, DLQ, consumer lag, freshness,
  sink latency and errors.

Metric names are the ones ``motcua metrics`` (consumers/metrics.py) and ``motcua sink
--metrics-port`` (consumers/sink.py SinkMetrics) export; tests/unit/test_deploy.py scrapes
real endpoints and checks every expression here against them. Panel titles are Vietnamese
(the readers are civil servants), descriptions English. Standard library only.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

OUT_DIR = Path(__file__).resolve().parent / "dashboards"
DATASOURCE = {"type": "prometheus", "uid": "prometheus"}
MONTH_RE = "[0-9]{4}-[0-9]{2}"

# ratio key → (Vietnamese title, numerator counts (+), numerator counts (−), denominator
# counts); mirrors kpi.ratios.RATIO_FORMULAS (a unit test checks they agree).
RATIOS: dict[str, tuple[str, tuple[str, ...], tuple[str, ...], tuple[str, ...]]] = {
    "on_time_766": ("Tỷ lệ giải quyết đúng hạn (QĐ 766)",
                    ("resolved_early", "resolved_on_time", "in_progress"),
                    ("in_progress_overdue",), ("resolved", "in_progress")),
    "on_time_resolved": ("Tỷ lệ đúng hạn trên số đã giải quyết",
                         ("resolved_early", "resolved_on_time"), (), ("resolved",)),
    "online_receipt": ("Tỷ lệ tiếp nhận trực tuyến", ("received_online",), (), ("received",)),
    "full_online": ("Tỷ lệ trực tuyến toàn trình", ("received_full_online",), (),
                    ("full_online_eligible",)),
    "online_payment": ("Tỷ lệ thanh toán trực tuyến", ("paid_online",), (), ("fee_dossiers",)),
    "digitization": ("Tỷ lệ số hóa hồ sơ", ("digitized",), (), ("received",)),
    "e_result": ("Tỷ lệ cấp kết quả điện tử", ("e_results",), (), ("paper_result_dossiers",)),
    "satisfaction": ("Tỷ lệ hài lòng", ("satisfied",), (), ("rated",)),
    "late_apology": ("Tỷ lệ quá hạn có xin lỗi", ("late_with_apology",), (), ("resolved_late",)),
    "on_time_due": ("Tỷ lệ đúng hạn trên số đến hạn", ("due_met",), (), ("due",)),
    "data_reuse": ("Tỷ lệ tái sử dụng dữ liệu số hóa", ("reused",), (), ("received",)),
    "portal_sync": ("Tỷ lệ đồng bộ lên Cổng DVCQG", ("synced",), (), ("received",)),
    "petition_on_time": ("Tỷ lệ PAKN xử lý đúng hạn",
                         ("petitions_answered_on_time", "petitions_open"),
                         ("petitions_open_overdue",), ("petitions_answered", "petitions_open")),
    "petition_satisfaction": ("Tỷ lệ hài lòng về xử lý PAKN", ("petitions_answered",),
                              ("petitions_unsatisfied",), ("petitions_answered",)),
    "procedures_on_time": ("Tỷ lệ TTHC công khai đúng hạn", ("procedures_published_on_time",),
                           (), ("procedures_published",)),
    "procedures_online_share": ("Tỷ lệ TTHC cung cấp trực tuyến", ("procedures_online",), (),
                                ("procedures",)),
    "online_procedures_used": ("Tỷ lệ TTHC trực tuyến có hồ sơ trực tuyến",
                               ("procedures_online_used",), (), ("procedures_online",)),
    "full_online_procedures_used": ("Tỷ lệ TTHC toàn trình có hồ sơ toàn trình",
                                    ("procedures_full_online_used",), (),
                                    ("procedures_full_online",)),
    "online_payment_procedures_used": ("Tỷ lệ TTHC thanh toán trực tuyến có phát sinh",
                                       ("procedures_online_payment_used",), (),
                                       ("procedures_online_payment",)),
    "e_signed_documents": ("Tỷ lệ văn bản điện tử có ký số", ("documents_e_signed",), (),
                           ("documents_issued",)),
}
OVERVIEW_RATIOS = ("on_time_766", "online_receipt", "online_payment", "digitization",
                   "full_online")
RATIO_DESCRIPTIONS = {
    "on_time_766": "Decision 766 indicator: (resolved early + on time + in progress not yet "
                   "overdue) / (resolved + in progress).",
    "on_time_resolved": "(resolved early + resolved on time) / resolved.",
    "online_receipt": "Dossiers received online / all dossiers received.",
    "full_online": "Dossiers received fully online / dossiers of procedures eligible for "
                   "full-online service.",
    "online_payment": "Dossiers with fees paid online / dossiers with a fee.",
    "digitization": "Dossiers fully digitized / dossiers received.",
    "e_result": "Electronic results issued / dossiers that also have a paper result.",
    "satisfaction": "Satisfied ratings / all ratings.",
    "late_apology": "Late dossiers with an apology letter / dossiers resolved late.",
    "on_time_due": "Dossiers due in the period (original due instant) and met on time / "
                   "dossiers due in the period (EVENTS.md v1.1, third convention).",
    "data_reuse": "Dossiers received whose digitization reused stored data / dossiers "
                  "received.",
    "portal_sync": "Dossiers received and synced to the national public-service portal "
                   "(DVCQG) / dossiers received.",
    "petition_on_time": "Petitions (PAKN) within competence answered on time or open and not "
                        "yet overdue / answered + open.",
    "petition_satisfaction": "Petitions answered neither late nor rated dissatisfied / "
                             "petitions answered.",
    "procedures_on_time": "Catalog entries first published on time / first published in the "
                          "period.",
    "procedures_online_share": "Catalog entries in force offered online / entries in force.",
    "online_procedures_used": "Entries offered online that had an online dossier in the "
                              "period / entries offered online.",
    "full_online_procedures_used": "Entries offered fully online that had a fully online "
                                   "dossier / entries offered fully online.",
    "online_payment_procedures_used": "Entries with online payment that had a dossier paid "
                                      "online / entries with online payment.",
    "e_signed_documents": "Documents sent electronic and digitally signed / documents sent.",
}
COUNTS_VI = {
    "received": "Hồ sơ tiếp nhận",
    "resolved": "Đã giải quyết",
    "resolved_late": "Giải quyết quá hạn",
    "in_progress": "Đang giải quyết",
    "in_progress_overdue": "Đang giải quyết quá hạn",
}
PERIOD_KINDS = "Tháng : [0-9]{4}-[0-9]{2},Quý : [0-9]{4}-Q[1-4],Năm : [0-9]{4}"
SCOPES = "Số liệu của đơn vị : own,Tổng hợp : total"
"""The ``scope`` variable's options, own figures first (the default)."""
UNIT_LEGEND = "{{unit}} {{unit_name}}"


# --------------------------------------------------------------------------- building blocks


def target(expr: str, legend: str = "", ref: str = "A", *, instant: bool = False,
           fmt: str = "time_series") -> dict[str, Any]:
    return {"datasource": DATASOURCE, "refId": ref, "expr": expr, "legendFormat": legend,
            "instant": instant, "range": not instant, "format": fmt}


def refs(exprs: list[tuple[str, str]], **kw: Any) -> list[dict[str, Any]]:
    return [target(e, legend, chr(ord("A") + i), **kw) for i, (e, legend) in enumerate(exprs)]


def percent_field(**extra: Any) -> dict[str, Any]:
    return {
        "defaults": {
            "unit": "percentunit", "min": 0, "max": 1, "decimals": 1,
            "thresholds": {"mode": "absolute", "steps": [
                {"color": "red", "value": None},
                {"color": "orange", "value": 0.8},
                {"color": "green", "value": 0.95},
            ]},
            **extra,
        },
        "overrides": [],
    }


def number_field(unit: str = "short", red_above: float | None = None) -> dict[str, Any]:
    steps: list[dict[str, Any]] = [{"color": "green", "value": None}]
    if red_above is not None:
        steps.append({"color": "red", "value": red_above})
    return {"defaults": {"unit": unit, "min": 0,
                         "thresholds": {"mode": "absolute", "steps": steps}},
            "overrides": []}


class Board:
    """Panels laid out left to right, top to bottom on Grafana's 24-column grid."""

    def __init__(self) -> None:
        self.panels: list[dict[str, Any]] = []
        self.x = self.y = self.row_h = 0

    def add(self, panel_type: str, title: str, description: str, targets: list[dict],
            w: int, h: int, field: dict | None = None, options: dict | None = None,
            **extra: Any) -> None:
        if self.x + w > 24:
            self.x, self.y, self.row_h = 0, self.y + self.row_h, 0
        self.panels.append({
            "id": len(self.panels) + 1, "type": panel_type, "title": title,
            "description": description, "datasource": DATASOURCE,
            "gridPos": {"h": h, "w": w, "x": self.x, "y": self.y},
            "targets": targets, "fieldConfig": field or {"defaults": {}, "overrides": []},
            "options": options or {}, **extra,
        })
        self.x += w
        self.row_h = max(self.row_h, h)

    def row(self, title: str) -> None:
        if self.x:
            self.x, self.y, self.row_h = 0, self.y + self.row_h, 0
        self.panels.append({"id": len(self.panels) + 1, "type": "row", "title": title,
                            "collapsed": False, "panels": [],
                            "gridPos": {"h": 1, "w": 24, "x": 0, "y": self.y}})
        self.y += 1


def query_var(name: str, label: str, query: str, *, multi: bool = False,
              include_all: bool = False) -> dict[str, Any]:
    return {
        "name": name, "label": label, "type": "query", "datasource": DATASOURCE,
        "query": {"query": query, "refId": f"{name}-var"}, "definition": query,
        "refresh": 2, "sort": 1, "multi": multi, "includeAll": include_all,
        "current": {}, "options": [], "hide": 0,
    }


def custom_var(name: str, label: str, query: str) -> dict[str, Any]:
    options = []
    for i, item in enumerate(query.split(",")):
        text, _, value = (part.strip() for part in item.partition(" : "))
        options.append({"text": text, "value": value, "selected": i == 0})
    return {
        "name": name, "label": label, "type": "custom", "query": query,
        "options": options, "current": {"text": options[0]["text"],
                                        "value": options[0]["value"]},
        "multi": False, "includeAll": False, "hide": 0,
    }


def dashboard(uid: str, title: str, description: str, board: Board,
              variables: list[dict[str, Any]], time_from: str = "now-30d") -> dict[str, Any]:
    return {
        "uid": uid, "title": title, "description": description,
        "tags": ["motcua", "một cửa"], "timezone": "Asia/Ho_Chi_Minh", "editable": False,
        "graphTooltip": 1, "schemaVersion": 39, "version": 1, "refresh": "1m",
        "time": {"from": time_from, "to": "now"},
        "templating": {"list": variables},
        "annotations": {"list": []},
        "links": [{"type": "dashboards", "tags": ["motcua"], "asDropdown": True,
                   "title": "motcua-kpi", "includeVars": False, "keepTime": True}],
        "panels": board.panels,
    }


def counts_sum(keys: tuple[str, ...], selector: str) -> str:
    kpi = "|".join(keys)
    op = "=" if len(keys) == 1 else "=~"
    return f'sum(motcua_kpi_count{{{selector},kpi{op}"{kpi}"}})'


def level_ratio(key: str, selector: str) -> str:
    """A ratio over several units, recomputed from summed counts (never an average of
    ratios); no sample while the denominator is 0, as in the KPI report."""
    _, plus, minus, den = RATIOS[key]
    num = counts_sum(plus, selector)
    if minus:
        num = f"({num} - {counts_sum(minus, selector)})"
    return f"{num} / ({counts_sum(den, selector)} > 0)"


UNIT_LINK = [{"title": "Chi tiết đơn vị ${__field.labels.unit}",
              "url": "/d/motcua-unit/motcua-unit?var-unit=${__field.labels.unit}"
                     "&var-period_kind=${period_kind}&var-scope=${scope}"
                     "&${__url_time_range}"}]


# --------------------------------------------------------------------------- dashboards


def overview() -> dict[str, Any]:
    sel = 'level="$level",unit=~"$unit",period=~"$period_kind",scope="$scope"'
    b = Board()
    b.row("Chỉ số theo đơn vị — kỳ hiện tại ($scope)")
    for key in OVERVIEW_RATIOS:
        title = RATIOS[key][0]
        b.add("bargauge", title,
              f"{RATIO_DESCRIPTIONS[key]} Per unit of the selected level, current period "
              "of the selected kind (month, quarter or year), the selected scope (own "
              "figures or total); units with a zero denominator have no bar. Click a bar "
              "for the unit's dashboard.",
              [target(f'motcua_kpi_ratio{{{sel},kpi="{key}"}}', UNIT_LEGEND, instant=True)],
              w=8, h=9, field=percent_field(links=UNIT_LINK),
              options={"orientation": "horizontal", "displayMode": "gradient",
                       "showUnfilled": True, "valueMode": "color",
                       "reduceOptions": {"calcs": ["lastNotNull"], "fields": "",
                                         "values": False}})
    b.add("bargauge", "Hồ sơ đang giải quyết quá hạn",
          "Dossiers still in progress past their due instant (in_progress_overdue), per "
          "unit, current period of the selected kind, selected scope.",
          [target(f'motcua_kpi_count{{{sel},kpi="in_progress_overdue"}}', UNIT_LEGEND,
                  instant=True)],
          w=8, h=9, field=number_field(red_above=1),
          options={"orientation": "horizontal", "displayMode": "gradient",
                   "showUnfilled": True,
                   "reduceOptions": {"calcs": ["lastNotNull"], "fields": "",
                                     "values": False}})
    b.row("Toàn cấp đã chọn")
    level_sel = 'level="$level",unit=~"$unit",period=~"$period_kind",scope="$scope"'
    b.add("stat", "Chỉ số chung của các đơn vị đã chọn",
          "Each KPI over all selected units of the level, recomputed from the summed counts "
          "(not an average of unit ratios).",
          refs([(level_ratio(k, level_sel), RATIOS[k][0]) for k in OVERVIEW_RATIOS],
               instant=True),
          w=16, h=5, field=percent_field(),
          options={"colorMode": "background", "graphMode": "none", "textMode": "value_and_name",
                   "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False}})
    b.add("stat", "Tổng hồ sơ quá hạn đang giải quyết",
          "Sum of in_progress_overdue over the selected units, current period.",
          [target(counts_sum(("in_progress_overdue",), level_sel), "quá hạn", instant=True)],
          w=8, h=5, field=number_field(red_above=1),
          options={"colorMode": "background", "graphMode": "none",
                   "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False}})
    b.row("Xu hướng theo tháng")
    month_sel = f'level="$level",unit=~"$unit",period=~"{MONTH_RE}",scope="$scope"'
    b.add("timeseries", "Xu hướng các chỉ số (lũy kế tháng)",
          "Month-to-date value of each KPI over the selected units; each calendar month "
          "starts again from its first dossiers (the gauges carry the current month only).",
          refs([(level_ratio(k, month_sel), RATIOS[k][0]) for k in OVERVIEW_RATIOS]),
          w=16, h=9, field=percent_field(custom={"lineWidth": 2, "fillOpacity": 0}),
          options={"legend": {"displayMode": "table", "placement": "right",
                              "calcs": ["lastNotNull"]},
                   "tooltip": {"mode": "multi"}})
    b.add("timeseries", "Hồ sơ quá hạn theo đơn vị (tháng)",
          "in_progress_overdue of the current month per unit over time.",
          [target(f'sum by (unit, unit_name) '
                  f'(motcua_kpi_count{{{month_sel},kpi="in_progress_overdue"}})', UNIT_LEGEND)],
          w=8, h=9, field=number_field(),
          options={"legend": {"displayMode": "list", "placement": "bottom"},
                   "tooltip": {"mode": "multi"}})
    variables = [
        query_var("level", "Cấp", "label_values(motcua_kpi_ratio, level)"),
        query_var("unit", "Đơn vị", 'label_values(motcua_kpi_ratio{level="$level"}, unit)',
                  multi=True, include_all=True),
        custom_var("period_kind", "Kỳ", PERIOD_KINDS),
        custom_var("scope", "Phạm vi", SCOPES),
    ]
    return dashboard("motcua-overview", "Tổng quan chỉ số một cửa",
                     "Decision 766 one-stop KPIs per unit of one level, current month, "
                     "quarter or year, own figures or totals (scope), view as it was, from "
                     "motcua metrics.", b, variables)


def unit_detail() -> dict[str, Any]:
    sel = 'unit="$unit",period=~"$period_kind",scope="$scope"'
    b = Board()
    b.row("Đơn vị $unit — kỳ hiện tại ($scope)")
    b.add("stat", "Các tỷ lệ", "Every KPI ratio of the unit for the current period of the "
          "selected kind; a KPI whose denominator is 0 shows no value.",
          refs([(f'motcua_kpi_ratio{{{sel},kpi="{k}"}}', title)
                for k, (title, *_r) in RATIOS.items()], instant=True),
          w=24, h=6, field=percent_field(),
          options={"colorMode": "background", "graphMode": "none",
                   "textMode": "value_and_name", "orientation": "auto",
                   "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False}})
    b.add("stat", "Số hồ sơ", "Dossier counts of the unit for the current period.",
          refs([(f'motcua_kpi_count{{{sel},kpi="{k}"}}', title)
                for k, title in COUNTS_VI.items()], instant=True),
          w=24, h=4, field=number_field(),
          options={"colorMode": "none", "graphMode": "none", "textMode": "value_and_name",
                   "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False}})
    b.row("Tháng, quý, năm")
    for key in ("on_time_766", "online_receipt", "online_payment"):
        b.add("bargauge", f"{RATIOS[key][0]} theo kỳ",
              f"{RATIO_DESCRIPTIONS[key]} Current month, quarter and year side by side.",
              [target(f'motcua_kpi_ratio{{unit="$unit",scope="$scope",kpi="{key}"}}',
                      "{{period}}", instant=True)],
              w=8, h=7, field=percent_field(),
              options={"orientation": "horizontal", "displayMode": "gradient",
                       "showUnfilled": True,
                       "reduceOptions": {"calcs": ["lastNotNull"], "fields": "",
                                         "values": False}})
    b.row("Diễn biến")
    month = f'unit="$unit",period=~"{MONTH_RE}",scope="$scope"'
    b.add("timeseries", "Diễn biến các tỷ lệ (lũy kế tháng)",
          "Month-to-date ratios of the unit over time.",
          refs([(f'max(motcua_kpi_ratio{{{month},kpi="{k}"}})', RATIOS[k][0])
                for k in OVERVIEW_RATIOS]),
          w=12, h=9, field=percent_field(custom={"lineWidth": 2, "fillOpacity": 0}),
          options={"legend": {"displayMode": "list", "placement": "bottom"},
                   "tooltip": {"mode": "multi"}})
    b.add("timeseries", "Diễn biến số hồ sơ (lũy kế tháng)",
          "Month-to-date dossier counts of the unit over time.",
          refs([(f'max(motcua_kpi_count{{{month},kpi="{k}"}})', title)
                for k, title in COUNTS_VI.items()]),
          w=12, h=9, field=number_field(),
          options={"legend": {"displayMode": "list", "placement": "bottom"},
                   "tooltip": {"mode": "multi"}})
    b.add("table", "Bảng chỉ số", "All ratios of the unit for its current month, quarter "
          "and year (one row per KPI and period), in the selected scope.",
          [target('motcua_kpi_ratio{unit="$unit",scope="$scope"}', "", instant=True,
                  fmt="table")],
          w=24, h=10, field=percent_field(),
          options={"showHeader": True, "sortBy": [{"displayName": "kpi", "desc": False}]},
          transformations=[{"id": "organize", "options": {
              "excludeByName": {"Time": True, "__name__": True, "instance": True,
                                "job": True},
              "renameByName": {"kpi": "Chỉ số (kpi)", "period": "Kỳ", "level": "Cấp",
                               "unit": "Đơn vị", "unit_name": "Tên đơn vị",
                               "scope": "Phạm vi", "view": "Góc nhìn",
                               "Value": "Giá trị"}}}])
    variables = [
        query_var("unit", "Đơn vị", "label_values(motcua_kpi_ratio, unit)"),
        custom_var("period_kind", "Kỳ", PERIOD_KINDS),
        custom_var("scope", "Phạm vi", SCOPES),
    ]
    return dashboard("motcua-unit", "Chi tiết đơn vị",
                     "Drill-down of one unit: every KPI for its current month, quarter and "
                     "year, and their month-to-date history; its own figures or its total "
                     "(scope), view as it was.", b, variables)


def pipeline() -> dict[str, Any]:
    b = Board()
    b.row("Trạng thái")
    b.add("stat", "Prometheus thu thập được", "1 when Prometheus scraped the target at the "
          "last attempt (per scrape job and instance).",
          [target('up{job=~"motcua.*"}', "{{job}} {{instance}}", instant=True)],
          w=8, h=4, field={"defaults": {"mappings": [
              {"type": "value", "options": {"0": {"text": "DOWN", "color": "red"},
                                            "1": {"text": "UP", "color": "green"}}}],
              "thresholds": {"mode": "absolute", "steps": [
                  {"color": "red", "value": None}, {"color": "green", "value": 1}]}},
              "overrides": []},
          options={"colorMode": "background", "graphMode": "none",
                   "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False}})
    b.add("stat", "Kết nối Kafka", "motcua_health_probe_up: 1 when the metrics process could "
          "ask Kafka for offsets at the last scrape, 0 when the broker was unreachable.",
          [target("min(motcua_health_probe_up)", "probe", instant=True)],
          w=4, h=4, field={"defaults": {"thresholds": {"mode": "absolute", "steps": [
              {"color": "red", "value": None}, {"color": "green", "value": 1}]}},
              "overrides": []},
          options={"colorMode": "background", "graphMode": "none",
                   "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False}})
    b.add("stat", "Độ trễ dữ liệu", "Seconds since the newest record reached the events "
          "topic (freshness). Grows when the one-stop software stops publishing.",
          [target("max(motcua_newest_event_age_seconds)", "age", instant=True)],
          w=4, h=4, field=number_field("s", red_above=3600),
          options={"colorMode": "background", "graphMode": "area",
                   "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False}})
    b.add("stat", "Hồ sơ lỗi (DLQ)", "Records ever written to the dead-letter topic "
          "(sum of its end offsets).",
          [target("max(motcua_dlq_records)", "DLQ", instant=True)],
          w=4, h=4, field=number_field(red_above=1),
          options={"colorMode": "background", "graphMode": "area",
                   "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False}})
    b.add("stat", "Độ trễ tiêu thụ lớn nhất", "Largest consumer lag (records not yet "
          "committed) over the reported groups and topics.",
          [target("max(motcua_consumer_lag)", "lag", instant=True)],
          w=4, h=4, field=number_field(red_above=10000),
          options={"colorMode": "background", "graphMode": "area",
                   "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False}})
    b.row("Luồng dữ liệu")
    ts_opts = {"legend": {"displayMode": "list", "placement": "bottom"},
               "tooltip": {"mode": "multi"}}
    b.add("timeseries", "Thông lượng ghi CSDL (bản ghi/giây)",
          "Kafka records written to PostgreSQL by the SQL sink per second, by kind "
          "(event, kpi snapshot, dead letter…).",
          [target("sum by (kind) (rate(motcua_sink_records_total[$__rate_interval]))",
                  "{{kind}}")],
          w=12, h=8, field=number_field("rps"), options=ts_opts)
    b.add("timeseries", "Độ trễ tiêu thụ theo nhóm",
          "Consumer lag per consumer group and topic: end offsets minus committed offsets. "
          "A steadily growing line means that consumer cannot keep up or is down.",
          [target("motcua_consumer_lag", "{{group}} · {{topic}}")],
          w=12, h=8, field=number_field(), options=ts_opts)
    b.add("timeseries", "Hồ sơ lỗi mới (DLQ, mỗi giờ)",
          "Records added to the dead-letter topic over the previous hour: invalid events "
          "from the one-stop software (see the reasons in the dead_letters table).",
          [target("delta(motcua_dlq_records[1h])", "DLQ / giờ")],
          w=12, h=8, field=number_field(), options=ts_opts)
    b.add("timeseries", "Độ mới dữ liệu", "Age of the newest event on the events topic.",
          [target("max(motcua_newest_event_age_seconds)", "tuổi sự kiện mới nhất")],
          w=12, h=8, field=number_field("s"), options=ts_opts)
    b.row("Ghi CSDL (sink)")
    b.add("timeseries", "Thời gian ghi một lô (p50/p95/p99)",
          "Time for the SQL sink to write one poll batch to the database (successful "
          "attempts), quantiles from the motcua_sink_batch_seconds histogram.",
          refs([(f"histogram_quantile({q}, sum by (le) "
                 f"(rate(motcua_sink_batch_seconds_bucket[$__rate_interval])))", f"p{p}")
                for q, p in ((0.5, 50), (0.95, 95), (0.99, 99))]),
          w=12, h=8, field=number_field("s"), options=ts_opts)
    b.add("timeseries", "Số lô và lỗi ghi CSDL",
          "Batches committed per second, and failed database writes per second (each is "
          "retried; offsets are committed only after the database commit).",
          refs([("sum(rate(motcua_sink_batch_seconds_count[$__rate_interval]))", "lô/giây"),
                ("sum(rate(motcua_sink_db_errors_total[$__rate_interval]))", "lỗi/giây")]),
          w=12, h=8, field=number_field("ops"), options=ts_opts)
    return dashboard("motcua-pipeline", "Tình trạng hệ thống xử lý",
                     "Pipeline health: Kafka reachability, freshness, dead letters, consumer "
                     "lag and SQL sink throughput/latency.", b, [], time_from="now-6h")


DASHBOARDS = {
    "motcua-overview.json": overview,
    "motcua-unit.json": unit_detail,
    "motcua-pipeline.json": pipeline,
}


def render() -> dict[str, str]:
    """File name → JSON text of every dashboard."""
    return {name: json.dumps(build(), indent=2, ensure_ascii=False) + "\n"
            for name, build in DASHBOARDS.items()}


def main(argv: list[str]) -> int:
    files = render()
    if "--check" in argv:
        stale = [n for n, text in files.items()
                 if not (OUT_DIR / n).is_file()
                 or (OUT_DIR / n).read_text(encoding="utf-8") != text]
        if stale:
            print(f"stale dashboards (run {Path(__file__).name}): {', '.join(stale)}")
            return 1
        return 0
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    for name, text in files.items():
        (OUT_DIR / name).write_text(text, encoding="utf-8")
        print(f"wrote {OUT_DIR / name}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
