"""The soak reads its freshness markers' gauges from a ``/metrics`` body whatever the label
order, and only the markers' own figures (:func:`motcua.soak.markers.marker_gauges`)."""

from __future__ import annotations

from motcua.soak.markers import marker_gauges

BODY = b"".join(line + b"\n" for line in (
    b"# HELP motcua_kpi_items KPI counts",
    b"# TYPE motcua_kpi_items gauge",
    b'motcua_kpi_items{unit="SOAK.F01",level="commune",period="2026-11",kpi="received"} 3.0',
    b'motcua_kpi_items{unit="SOAK.F01",level="commune",period="2026-11",kpi="resolved"} 2.0',
    b'motcua_kpi_items{unit="SOAK.F02",level="commune",period="2026-11",scope="total",'
    b'view="as_was",kpi="received"} 9.0',
    b'motcua_kpi_items{scope="own",view="as_was",unit="SOAK.F02",unit_name="X",'
    b'level="commune",period="2026-11",kpi="received"} 4.0',
    b'motcua_kpi_items{unit="DT",level="province",period="2026-11",scope="own",'
    b'kpi="received"} 7.0',
    b'motcua_kpi_ratio{unit="SOAK.F03",level="commune",period="2026-11",kpi="received"} 1.0',
))


def test_marker_gauges_own_received_of_marker_units_only() -> None:
    assert marker_gauges(BODY) == [("SOAK.F01", "2026-11", 3), ("SOAK.F02", "2026-11", 4)]
