"""The simulator's v1.2 facts (:mod:`kpi.simulate.portal`, every rate [M]): a year of the
province across the reorganisation, with the families, gives every new count of the
portal's scoring at about the rates of the portal's published province (docs/domain.md):
e-results ≈ 72% of handled dossiers, digitized ≈ 12%, reuse ≈ 2%, personal storage small
but non-zero, population data ≈ 46%, ≈ 23% of procedures connected, some fee procedures,
syncs mostly within the window, content complete ≈ 98%, communes with the e-certified
copy; and the v1 stream (without the families) carries none of them."""

from __future__ import annotations

from datetime import date
from pathlib import Path

from kpi.batch import aggregate, fold_lines
from kpi.calendar import local_instant
from kpi.registry import UnitRegistry
from kpi.simulate import SimulationConfig, generate_lines
from kpi.simulate.reorg import write_registry
from kpi.units import CalendarBook

CONFIG = SimulationConfig(seed=5, scale=0.1, families=True, reorganisation=True)


def _total(tmp_path: Path) -> dict[str, int]:
    path = tmp_path / "units.csv"
    write_registry(path, CONFIG.registry_rows())
    agg = aggregate(fold_lines(generate_lines(CONFIG)).states(),
                    local_instant(date(2026, 1, 1)), CalendarBook(),
                    registry=UnitRegistry.load(path))
    return agg.totals[("DT", "2025")].to_dict()


def test_every_new_count_at_its_rate(tmp_path: Path) -> None:
    c = _total(tmp_path)
    handled = c["handled"]
    assert handled > 2000

    def share(key: str) -> float:
        return c[key] / handled

    assert 0.65 < share("handled_e_result") < 0.79
    assert 0.07 < share("handled_digitized") < 0.18
    assert 0.005 < share("handled_reused") < 0.04
    assert 0.005 < share("handled_stored_personal") < 0.05
    assert 0.40 < share("handled_citizen_data") < 0.53
    assert 0 < c["reuse_eligible"] < c["received"] / 4
    assert 0.8 < c["synced_on_time"] / c["sync_due"] < 0.97
    assert c["procedures"] > 0 and c["procedures_complete"] <= c["procedures"]
    assert 0.1 < c["procedures_citizen_data"] / c["procedures"] < 0.6
    assert 0 < c["fee_procedures_paid_portal"] <= c["fee_procedures_paid_online"] \
        <= c["fee_procedures"] < c["procedures"]
    assert 0 < c["communes_e_certified_copy"] <= c["communes"]
    assert 0 < c["procedures_updated_on_time"] <= c["procedures_updated"]
    assert 0 < c["dossiers_unsatisfied"] < handled


def test_without_the_families_no_v12_fact() -> None:
    lines = list(generate_lines(SimulationConfig(seed=5, scale=0.05)))
    for field in (b"citizen_data_used", b"reuse_eligible", b"personal_storage",
                  b"content_complete", b"e_certified_copy"):
        assert not any(field in line for line in lines), field
