"""Generate the Grafana dashboards of motcua-kpi with Grafana's own SDK (committed JSON).

    python deploy/grafana/build_dashboards.py          # (re)write deploy/grafana/dashboards/
    python deploy/grafana/build_dashboards.py --check  # exit 1 if the committed files differ

Built with the builders and types of ``grafana-foundation-sdk`` (the build for Grafana
11.2, the version docker-compose.yml runs; a dev dependency), serialised with its
``JSONEncoder``: panels, field configs, options, queries and variables are the SDK's typed
objects, and the grid layout is the SDK's (rows, then panels left to right, wrapping at 24
columns). Three dashboards, all on the provisioned datasource uid ``prometheus``:

* ``motcua-overview``  Tổng quan: the scores per unit of one level (total, and points per
  group), each Decision 766 KPI per unit, overdue dossiers, and the level's month-to-date
  trend (ratios recomputed from summed counts);
* ``motcua-unit``      Chi tiết đơn vị: one unit's scores (points per group, total) and KPIs
  across month, quarter and year;
* ``motcua-pipeline``  Tình trạng hệ thống: throughput, DLQ, consumer lag, freshness,
  sink latency and errors.

Both KPI dashboards have a ``scope`` variable (Phạm vi, docs/contract.md): ``own`` — the
unit's own figures (số liệu của đơn vị), the default — or ``total`` — plus every unit below
it (tổng hợp); every KPI query selects it. The gauges are the live view "as it was"
(``view="as_was"``). Units are listed from ``motcua_kpi_items`` (:data:`UNIT_SOURCE`), which
every unit has, not from ``motcua_kpi_ratio``, which a unit without any non-zero
denominator lacks. Per-unit series are named by code and ``unit_name`` (:data:`UNIT_LEGEND`);
the unit dashboard shows the unit's name in its row titles (hidden variable ``unit_name``).
Units of one level never overlap, so summing a level's units is right in either scope.

Scores come from ``motcua_score_group_points`` / ``motcua_score_total_points`` (and their
``_max_points``): panels show one series or column per ``group`` label, so they show as many
groups as the scoring catalog has (six for ``portal-766-2026``), in Vietnamese
(``group_name``), with no group written here.

Metric names are the ones ``motcua metrics`` (consumers/metrics.py) and ``motcua sink
--metrics-port`` (consumers/flush.py SinkMetrics) export; tests/unit/test_deploy.py scrapes
real endpoints and checks every expression here against them, and
tests/unit/test_dashboards_sdk.py that the committed files are this module's output and
decode into the SDK's types unchanged. Panel titles are Vietnamese (the readers are civil
servants), descriptions English.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from grafana_foundation_sdk.builders import bargauge, prometheus, stat, table, timeseries
from grafana_foundation_sdk.builders import common as cb
from grafana_foundation_sdk.builders import dashboard as db
from grafana_foundation_sdk.cog.builder import Builder
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.cog.variants import Dataquery
from grafana_foundation_sdk.models import common as cm
from grafana_foundation_sdk.models import dashboard as dm
from grafana_foundation_sdk.models import prometheus as pm

OUT_DIR = Path(__file__).resolve().parent / "dashboards"
DATASOURCE = dm.DataSourceRef(type_val="prometheus", uid="prometheus")
"""The provisioned datasource (deploy/grafana/provisioning/datasources/prometheus.yml)."""
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
                   "dossiers due in the period (docs/contract.md, third convention).",
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
"""Legend of a per-unit series: its code and, when the registry knows it, its name."""
GROUP_LEGEND = "{{group_name}}"
"""Legend of a per-group series: the group's Vietnamese name (as the report names it)."""
UNIT_SOURCE = 'motcua_kpi_items{kpi="received"}'
"""What the unit pickers list units from: every served snapshot has every count (a unit
whose ratios all have a zero denominator has no ``motcua_kpi_ratio`` series at all)."""


# --------------------------------------------------------------------------- building blocks


def query(expr: str, legend: str = "", ref: str = "A", *, instant: bool = False,
          table_format: bool = False) -> prometheus.Dataquery:
    """One Prometheus query of a panel (instant: the latest value; else a range)."""
    q = (prometheus.Dataquery().expr(expr).legend_format(legend).ref_id(ref)
         .datasource(DATASOURCE)
         .format(pm.PromQueryFormat.TABLE if table_format else pm.PromQueryFormat.TIME_SERIES))
    return q.instant() if instant else q.range()


Queries = list[Builder[Dataquery]]
"""A panel's queries (the SDK's builders of data queries)."""


def queries(exprs: list[tuple[str, str]], **kw: Any) -> Queries:
    """Several queries, refIds A, B, C…"""
    return [query(e, legend, chr(ord("A") + i), **kw) for i, (e, legend) in enumerate(exprs)]


def steps(*pairs: tuple[float | None, str]) -> db.ThresholdsConfig:
    return (db.ThresholdsConfig().mode(dm.ThresholdsMode.ABSOLUTE)
            .steps([dm.Threshold(value=v, color=c) for v, c in pairs]))


PERCENT_STEPS = ((None, "red"), (0.8, "orange"), (0.95, "green"))
"""Ratios: red below 80 %, orange below 95 % (the alerts' target), green from 95 %."""


def last_value() -> cb.ReduceDataOptions:
    return cb.ReduceDataOptions().calcs(["lastNotNull"]).fields("").values(False)


Panel = stat.Panel | bargauge.Panel | timeseries.Panel | table.Panel


def percent(panel: Panel) -> Panel:
    """A ratio panel: 0–100 %, one decimal, the ratio thresholds."""
    return panel.unit("percentunit").min(0).max(1).decimals(1).thresholds(
        steps(*PERCENT_STEPS))


def number(panel: Panel, unit: str = "short", red_above: float | None = None) -> Panel:
    """A count panel: from 0, green, red from ``red_above``."""
    pairs: list[tuple[float | None, str]] = [(None, "green")]
    if red_above is not None:
        pairs.append((red_above, "red"))
    return panel.unit(unit).min(0).thresholds(steps(*pairs))


def kpi_bars(title: str, description: str, targets: Queries,
             w: int, h: int) -> bargauge.Panel:
    return (bargauge.Panel().title(title).description(description).datasource(DATASOURCE)
            .targets(targets).span(w).height(h)
            .orientation(cm.VizOrientation.HORIZONTAL)
            .display_mode(cm.BarGaugeDisplayMode.GRADIENT).show_unfilled(True)
            .reduce_options(last_value()))


def big_values(title: str, description: str, targets: Queries,
               w: int, h: int, *, color: cm.BigValueColorMode = cm.BigValueColorMode.BACKGROUND,
               graph: cm.BigValueGraphMode = cm.BigValueGraphMode.NONE,
               text: cm.BigValueTextMode | None = None) -> stat.Panel:
    panel = (stat.Panel().title(title).description(description).datasource(DATASOURCE)
             .targets(targets).span(w).height(h).color_mode(color).graph_mode(graph)
             .reduce_options(last_value()))
    return panel.text_mode(text) if text is not None else panel


def lines(title: str, description: str, targets: Queries,
          w: int, h: int, *, legend_table: bool = False) -> timeseries.Panel:
    legend = cb.VizLegendOptions().show_legend(True)
    legend = (legend.display_mode(cm.LegendDisplayMode.TABLE)
              .placement(cm.LegendPlacement.RIGHT).calcs(["lastNotNull"])
              if legend_table else
              legend.display_mode(cm.LegendDisplayMode.LIST)
              .placement(cm.LegendPlacement.BOTTOM))
    # line width and fill are Grafana's defaults, written out (and overridable)
    return (timeseries.Panel().title(title).description(description).datasource(DATASOURCE)
            .targets(targets).span(w).height(h).legend(legend).line_width(1).fill_opacity(0)
            .tooltip(cb.VizTooltipOptions().mode(cm.TooltipDisplayMode.MULTI)
                     .sort(cm.SortOrder.NONE)))


class Layout:
    """A dashboard under construction: rows and panels in reading order, numbered 1, 2, 3…
    (Grafana wants unique panel ids; the SDK's layout places them)."""

    def __init__(self, board: db.Dashboard) -> None:
        self.board = board
        self.next_id = 1

    def row(self, title: str) -> Layout:
        self.board.with_row(db.Row(title).id(self.next_id))
        self.next_id += 1
        return self

    def add(self, panel: Panel) -> Layout:
        self.board.with_panel(panel.id(self.next_id))
        self.next_id += 1
        return self


def query_var(name: str, label: str, expr: str, *, multi: bool = False,
              include_all: bool = False, hidden: bool = False) -> db.QueryVariable:
    var = (db.QueryVariable(name).label(label).datasource(DATASOURCE)
           .query({"query": expr, "refId": f"{name}-var"})
           .refresh(dm.VariableRefresh.ON_TIME_RANGE_CHANGED)
           .sort(dm.VariableSort.ALPHABETICAL_ASC).multi(multi).include_all(include_all)
           .current(dm.VariableOption(text="", value="")).options([]))
    return var.hide(dm.VariableHide.HIDE_VARIABLE) if hidden else var


def custom_var(name: str, label: str, values: str) -> db.CustomVariable:
    """A fixed list ``text : value,…``; the first option is the default."""
    options = []
    for i, item in enumerate(values.split(",")):
        text, _, value = (part.strip() for part in item.partition(" : "))
        options.append(dm.VariableOption(selected=i == 0, text=text, value=value))
    return (db.CustomVariable(name).label(label).values(values).options(options)
            .current(dm.VariableOption(text=options[0].text, value=options[0].value))
            .multi(False).include_all(False))


def dashboard(uid: str, title: str, description: str, time_from: str = "now-30d",
              variables: list[db.QueryVariable | db.CustomVariable] | None = None
              ) -> db.Dashboard:
    board = (db.Dashboard(title).uid(uid).description(description)
             .tags(["motcua", "một cửa"]).timezone("Asia/Ho_Chi_Minh").readonly()
             .tooltip(dm.DashboardCursorSync.CROSSHAIR).version(1).refresh("1m")
             .time(time_from, "now")
             .link(db.DashboardLink("motcua-kpi").type(dm.DashboardLinkType.DASHBOARDS)
                   .tags(["motcua"]).as_dropdown(True).include_vars(False).keep_time(True)))
    # an empty list rather than none, as Grafana itself saves a dashboard
    board.variables(list(variables or [])).annotations([])
    return board


def counts_sum(keys: tuple[str, ...], selector: str) -> str:
    kpi = "|".join(keys)
    op = "=" if len(keys) == 1 else "=~"
    return f'sum(motcua_kpi_items{{{selector},kpi{op}"{kpi}"}})'


def points(panel: Panel) -> Panel:
    """A score panel: points with two decimals, as the portal shows them."""
    return panel.unit("none").min(0).decimals(2).thresholds(steps((None, "blue")))


def score_rows(b: Layout, sel: str, *, per_unit: bool) -> None:
    """The scores of ``sel`` (the current period of the selected kind and scope): per unit
    of a level (``per_unit``: total, lowest first, and a unit × group table) or for one
    unit (points of each group, total beside its maximum)."""
    if per_unit:
        b.add(points(kpi_bars(
            "Tổng điểm theo đơn vị",
            "Total points of each unit (motcua_score_total_points: the sum of its groups; "
            "metrics not scored are left out of the maximum), lowest first. Click a bar for "
            "the unit's dashboard.",
            [query(f"sort(motcua_score_total_points{{{sel}}})", UNIT_LEGEND, instant=True)],
            w=8, h=9).value_mode(cm.BarGaugeValueMode.COLOR).data_links([UNIT_LINK])))
        b.add(points(
            table.Panel().title("Điểm theo nhóm tiêu chí và đơn vị").description(
                "Points of each group of the scoring catalog (columns, as many as it has) "
                "per unit (rows), current period of the selected kind and scope.")
            .datasource(DATASOURCE)
            .targets([query(f"motcua_score_group_points{{{sel}}}", "", instant=True,
                            table_format=True)])
            .span(16).height(9).show_header(True).align(cm.FieldTextAlignment.AUTO)
            .inspect(False)
            .with_transformation(dm.DataTransformerConfig(id_val="groupingToMatrix", options={
                "columnField": "group_name", "rowField": "unit", "valueField": "Value"}))))
        return
    b.add(points(big_values(
        "Điểm theo nhóm tiêu chí",
        "Points of each group of the scoring catalog (as many as it has, in Vietnamese) "
        "for the current period of the selected kind; a group with nothing scored shows no "
        "value.",
        [query(f"motcua_score_group_points{{{sel}}}", GROUP_LEGEND, instant=True)],
        w=16, h=5, color=cm.BigValueColorMode.NONE, text=cm.BigValueTextMode.VALUE_AND_NAME)))
    b.add(points(big_values(
        "Tổng điểm",
        "Total points and the maximum they are out of (100 less the metrics not scored).",
        queries([(f"motcua_score_total_points{{{sel}}}", "Tổng điểm"),
                 (f"motcua_score_total_max_points{{{sel}}}", "Điểm tối đa")], instant=True),
        w=8, h=5, color=cm.BigValueColorMode.NONE, text=cm.BigValueTextMode.VALUE_AND_NAME)))


def level_ratio(key: str, selector: str) -> str:
    """A ratio over several units, recomputed from summed counts (never an average of
    ratios); no sample while the denominator is 0, as in the KPI report."""
    _, plus, minus, den = RATIOS[key]
    num = counts_sum(plus, selector)
    if minus:
        num = f"({num} - {counts_sum(minus, selector)})"
    return f"{num} / ({counts_sum(den, selector)} > 0)"



UNIT_LINK = (db.DashboardLink("Chi tiết đơn vị ${__field.labels.unit}")
             .url("/d/motcua-unit/motcua-unit?var-unit=${__field.labels.unit}"
                  "&var-period_kind=${period_kind}&var-scope=${scope}&${__url_time_range}"))
"""From a unit's bar to its own dashboard, keeping the period kind, scope and time."""


# --------------------------------------------------------------------------- dashboards


def overview() -> db.Dashboard:
    sel = 'level="$level",unit=~"$unit",period=~"$period_kind",scope="$scope"'
    board = dashboard(
        "motcua-overview", "Tổng quan chỉ số một cửa",
        "Decision 766 one-stop KPIs per unit of one level, current month, quarter or year, "
        "own figures or totals (scope), view as it was, from motcua metrics.",
        variables=[
            query_var("level", "Cấp", f"label_values({UNIT_SOURCE}, level)"),
            query_var("unit", "Đơn vị",
                      'label_values(motcua_kpi_items{kpi="received",level="$level"}, unit)',
                      multi=True, include_all=True),
            custom_var("period_kind", "Kỳ", PERIOD_KINDS),
            custom_var("scope", "Phạm vi", SCOPES),
        ])
    b = Layout(board)
    b.row("Điểm đánh giá theo đơn vị — kỳ hiện tại ($scope)")
    score_rows(b, sel, per_unit=True)
    b.row("Chỉ số theo đơn vị — kỳ hiện tại ($scope)")
    for key in OVERVIEW_RATIOS:
        b.add(percent(kpi_bars(
            RATIOS[key][0],
            f"{RATIO_DESCRIPTIONS[key]} Per unit of the selected level, current period of the "
            "selected kind (month, quarter or year), the selected scope (own figures or "
            "total); units with a zero denominator have no bar. Click a bar for the unit's "
            "dashboard.",
            [query(f'motcua_kpi_ratio{{{sel},kpi="{key}"}}', UNIT_LEGEND, instant=True)],
            w=8, h=9).value_mode(cm.BarGaugeValueMode.COLOR).data_links([UNIT_LINK])))
    b.add(number(kpi_bars(
        "Hồ sơ đang giải quyết quá hạn",
        "Dossiers still in progress past their due instant (in_progress_overdue), per unit, "
        "current period of the selected kind, selected scope.",
        [query(f'motcua_kpi_items{{{sel},kpi="in_progress_overdue"}}', UNIT_LEGEND,
               instant=True)],
        w=8, h=9), red_above=1))
    b.row("Toàn cấp đã chọn")
    b.add(percent(big_values(
        "Chỉ số chung của các đơn vị đã chọn",
        "Each KPI over all selected units of the level, recomputed from the summed counts "
        "(not an average of unit ratios).",
        queries([(level_ratio(k, sel), RATIOS[k][0]) for k in OVERVIEW_RATIOS], instant=True),
        w=16, h=5, text=cm.BigValueTextMode.VALUE_AND_NAME)))
    b.add(number(big_values(
        "Tổng hồ sơ quá hạn đang giải quyết",
        "Sum of in_progress_overdue over the selected units, current period.",
        [query(counts_sum(("in_progress_overdue",), sel), "quá hạn", instant=True)],
        w=8, h=5), red_above=1))
    b.row("Xu hướng theo tháng")
    month_sel = f'level="$level",unit=~"$unit",period=~"{MONTH_RE}",scope="$scope"'
    b.add(percent(lines(
        "Xu hướng các chỉ số (lũy kế tháng)",
        "Month-to-date value of each KPI over the selected units; each calendar month "
        "starts again from its first dossiers (the gauges carry the current month only).",
        queries([(level_ratio(k, month_sel), RATIOS[k][0]) for k in OVERVIEW_RATIOS]),
        w=16, h=9, legend_table=True).line_width(2).fill_opacity(0)))
    b.add(number(lines(
        "Hồ sơ quá hạn theo đơn vị (tháng)",
        "in_progress_overdue of the current month per unit over time.",
        [query(f'sum by (unit, unit_name) '
               f'(motcua_kpi_items{{{month_sel},kpi="in_progress_overdue"}})', UNIT_LEGEND)],
        w=8, h=9)))
    return board


def unit_detail() -> db.Dashboard:
    sel = 'unit="$unit",period=~"$period_kind",scope="$scope"'
    board = dashboard(
        "motcua-unit", "Chi tiết đơn vị",
        "Drill-down of one unit: every KPI for its current month, quarter and year, and "
        "their month-to-date history; its own figures or its total (scope), view as it "
        "was.",
        variables=[
            query_var("unit", "Đơn vị", f"label_values({UNIT_SOURCE}, unit)"),
            query_var("unit_name", "Tên đơn vị",
                      'label_values(motcua_kpi_items{kpi="received",unit="$unit"}, unit_name)',
                      hidden=True),
            custom_var("period_kind", "Kỳ", PERIOD_KINDS),
            custom_var("scope", "Phạm vi", SCOPES),
        ])
    b = Layout(board)
    b.row("Điểm đánh giá — $unit $unit_name — kỳ hiện tại ($scope)")
    score_rows(b, sel, per_unit=False)
    b.row("Đơn vị $unit $unit_name — kỳ hiện tại ($scope)")
    b.add(percent(big_values(
        "Các tỷ lệ", "Every KPI ratio of the unit for the current period of the selected "
        "kind; a KPI whose denominator is 0 shows no value.",
        queries([(f'motcua_kpi_ratio{{{sel},kpi="{k}"}}', title)
                 for k, (title, *_r) in RATIOS.items()], instant=True),
        w=24, h=6, text=cm.BigValueTextMode.VALUE_AND_NAME)
        .orientation(cm.VizOrientation.AUTO)))
    b.add(number(big_values(
        "Số hồ sơ", "Dossier counts of the unit for the current period.",
        queries([(f'motcua_kpi_items{{{sel},kpi="{k}"}}', title)
                 for k, title in COUNTS_VI.items()], instant=True),
        w=24, h=4, color=cm.BigValueColorMode.NONE, text=cm.BigValueTextMode.VALUE_AND_NAME)))
    b.row("Tháng, quý, năm")
    for key in ("on_time_766", "online_receipt", "online_payment"):
        b.add(percent(kpi_bars(
            f"{RATIOS[key][0]} theo kỳ",
            f"{RATIO_DESCRIPTIONS[key]} Current month, quarter and year side by side.",
            [query(f'motcua_kpi_ratio{{unit="$unit",scope="$scope",kpi="{key}"}}',
                   "{{period}}", instant=True)],
            w=8, h=7)))
    b.row("Diễn biến — $unit $unit_name")
    month = f'unit="$unit",period=~"{MONTH_RE}",scope="$scope"'
    b.add(percent(lines(
        "Diễn biến các tỷ lệ (lũy kế tháng)",
        "Month-to-date ratios of the unit over time.",
        queries([(f'max(motcua_kpi_ratio{{{month},kpi="{k}"}})', RATIOS[k][0])
                 for k in OVERVIEW_RATIOS]),
        w=12, h=9).line_width(2).fill_opacity(0)))
    b.add(number(lines(
        "Diễn biến số hồ sơ (lũy kế tháng)",
        "Month-to-date dossier counts of the unit over time.",
        queries([(f'max(motcua_kpi_items{{{month},kpi="{k}"}})', title)
                 for k, title in COUNTS_VI.items()]),
        w=12, h=9)))
    b.add(points(lines(
        "Diễn biến điểm theo nhóm (lũy kế tháng)",
        "Month-to-date points of each group of the unit over time, and the total.",
        [query(f"max by (group_name) (motcua_score_group_points{{{month}}})", GROUP_LEGEND,
               "A"),
         query(f"max(motcua_score_total_points{{{month}}})", "Tổng điểm", "B")],
        w=24, h=9, legend_table=True)))
    b.add(percent(
        table.Panel().title("Bảng chỉ số").description(
            "All ratios of the unit for its current month, quarter and year (one row per "
            "KPI and period), in the selected scope.").datasource(DATASOURCE)
        .targets([query('motcua_kpi_ratio{unit="$unit",scope="$scope"}', "", instant=True,
                        table_format=True)])
        .span(24).height(10).show_header(True)
        .align(cm.FieldTextAlignment.AUTO).inspect(False)
        .sort_by([cb.TableSortByFieldState().display_name("kpi").desc(False)])
        .with_transformation(dm.DataTransformerConfig(id_val="organize", options={
            "excludeByName": {"Time": True, "__name__": True, "instance": True,
                              "job": True},
            "renameByName": {"kpi": "Chỉ số (kpi)", "period": "Kỳ", "level": "Cấp",
                             "unit": "Đơn vị", "unit_name": "Tên đơn vị",
                             "scope": "Phạm vi", "view": "Góc nhìn", "Value": "Giá trị"}}))))
    return board


def pipeline() -> db.Dashboard:
    board = dashboard(
        "motcua-pipeline", "Tình trạng hệ thống xử lý",
        "Pipeline health: Kafka reachability, freshness, dead letters, consumer lag and SQL "
        "sink throughput/latency.", time_from="now-6h")
    b = Layout(board)
    b.row("Trạng thái")
    b.add(big_values(
        "Prometheus thu thập được", "1 when Prometheus scraped the target at the last "
        "attempt (per scrape job and instance).",
        [query('up{job=~"motcua.*"}', "{{job}} {{instance}}", instant=True)], w=8, h=4)
        .mappings([dm.ValueMap(options={
            "0": dm.ValueMappingResult(text="DOWN", color="red"),
            "1": dm.ValueMappingResult(text="UP", color="green")})])
        .thresholds(steps((None, "red"), (1, "green"))))
    b.add(big_values(
        "Kết nối Kafka", "motcua_health_probe_up: 1 when the metrics process could ask "
        "Kafka for offsets at the last scrape, 0 when the broker was unreachable.",
        [query("min(motcua_health_probe_up)", "probe", instant=True)], w=4, h=4)
        .thresholds(steps((None, "red"), (1, "green"))))
    b.add(number(big_values(
        "Độ trễ dữ liệu", "Seconds since the newest record reached the events topic "
        "(freshness). Grows when the one-stop software stops publishing.",
        [query("max(motcua_newest_event_age_seconds)", "age", instant=True)], w=4, h=4,
        graph=cm.BigValueGraphMode.AREA), "s", red_above=3600))
    b.add(number(big_values(
        "Hồ sơ lỗi (DLQ)", "Records ever written to the dead-letter topic (sum of its end "
        "offsets).",
        [query("max(motcua_dlq_records)", "DLQ", instant=True)], w=4, h=4,
        graph=cm.BigValueGraphMode.AREA), red_above=1))
    b.add(number(big_values(
        "Độ trễ tiêu thụ lớn nhất", "Largest consumer lag (records not yet committed) over "
        "the reported groups and topics.",
        [query("max(motcua_consumer_lag)", "lag", instant=True)], w=4, h=4,
        graph=cm.BigValueGraphMode.AREA), red_above=10000))
    b.row("Luồng dữ liệu")
    b.add(number(lines(
        "Thông lượng ghi CSDL (bản ghi/giây)",
        "Kafka records written to PostgreSQL by the SQL sink per second, by kind (event, "
        "kpi snapshot, dead letter…).",
        [query("sum by (kind) (rate(motcua_sink_records_total[$__rate_interval]))",
               "{{kind}}")], w=12, h=8), "rps"))
    b.add(number(lines(
        "Độ trễ tiêu thụ theo nhóm",
        "Consumer lag per consumer group and topic: end offsets minus committed offsets. A "
        "steadily growing line means that consumer cannot keep up or is down.",
        [query("motcua_consumer_lag", "{{group}} · {{topic}}")], w=12, h=8)))
    b.add(number(lines(
        "Hồ sơ lỗi mới (DLQ, mỗi giờ)",
        "Records added to the dead-letter topic over the previous hour: invalid events from "
        "the one-stop software (see the reasons in the dead_letters table).",
        [query("delta(motcua_dlq_records[1h])", "DLQ / giờ")], w=12, h=8)))
    b.add(number(lines(
        "Độ mới dữ liệu", "Age of the newest event on the events topic.",
        [query("max(motcua_newest_event_age_seconds)", "tuổi sự kiện mới nhất")],
        w=12, h=8), "s"))
    b.row("Ghi CSDL (sink)")
    b.add(number(lines(
        "Thời gian ghi một lô (p50/p95/p99)",
        "Time for the SQL sink to write one poll batch to the database (successful "
        "attempts), quantiles from the motcua_sink_batch_seconds histogram.",
        queries([(f"histogram_quantile({q}, sum by (le) "
                  f"(rate(motcua_sink_batch_seconds_bucket[$__rate_interval])))", f"p{p}")
                 for q, p in ((0.5, 50), (0.95, 95), (0.99, 99))]),
        w=12, h=8), "s"))
    b.add(number(lines(
        "Số lô và lỗi ghi CSDL",
        "Batches committed per second, and failed database writes per second (each is "
        "retried; offsets are committed only after the database commit).",
        queries([("sum(rate(motcua_sink_batch_seconds_count[$__rate_interval]))", "lô/giây"),
                 ("sum(rate(motcua_sink_db_errors_total[$__rate_interval]))", "lỗi/giây")]),
        w=12, h=8), "ops"))
    return board


DASHBOARDS = {
    "motcua-overview.json": overview,
    "motcua-unit.json": unit_detail,
    "motcua-pipeline.json": pipeline,
}


def to_text(model: dm.Dashboard) -> str:
    """The provisioned file of one dashboard: the SDK's JSON encoding, 2-space indent."""
    return json.dumps(model, cls=JSONEncoder, indent=2, ensure_ascii=False) + "\n"


def models() -> dict[str, dm.Dashboard]:
    """File name → the SDK's dashboard object of every dashboard."""
    return {name: build().build() for name, build in DASHBOARDS.items()}


def render() -> dict[str, str]:
    """File name → JSON text of every dashboard."""
    return {name: to_text(model) for name, model in models().items()}


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
