"""A realistic, deterministic simulator of v1 one-stop (một cửa) events.

Pure Python: no broker, no database. The core API is a pair of generators,

* :func:`generate_events` ``(config) -> Iterator[dict]``: valid v1 events (plus exact
  duplicates when asked), in business-time order unless shuffled;
* :func:`generate_lines` ``(config) -> Iterator[bytes]``: the same events as JSON documents
  (one per item, no trailing newline), with invalid lines injected when asked,

so a file writer (``motcua simulate``), a Kafka publisher (``motcua ingest`` of that file)
or a soak run all consume the same stream. The same :class:`SimulationConfig` (seed
included) gives the same bytes.

Modules, one job each:

* :mod:`kpi.simulate.profiles`: emitting units and their 2023 calibration (Tân Hồng
  district, Đồng Tháp; docs/domain.md); :mod:`kpi.simulate.procedures`: procedures;
* :mod:`kpi.simulate.config`: the run's config, statistics and exact planned volumes
  (receipt volumes and online counts per unit are exact: ``round(annual × scale × years)``);
* :mod:`kpi.simulate.core`: the generator of a run: receipts on working days, the events
  in time order; :mod:`kpi.simulate.course`: what happens to one dossier (timing on the
  working calendar);
* :mod:`kpi.simulate.reorg`: the 1 July 2025 reorganisation a run may cross
  (``SimulationConfig(reorganisation=True)``) and the v1.1 unit registry of a run;
* :mod:`kpi.simulate.families`: the v1.1 families a run may add
  (``SimulationConfig(families=True)``): petitions (PAKN), each desk's procedure catalog,
  the documents it sends, the portal sync — every rate [M];
* :mod:`kpi.simulate.portal`: with the families, the v1.2 facts of the portal's 2026
  scoring (citizen data, reuse, e-results, personal storage, syncs after status events,
  catalog flags and update deadlines) — every rate [M];
* :mod:`kpi.simulate.stream`: duplicates, shuffling, invalid lines, the JSON Lines writer;
* :mod:`kpi.simulate.timefmt`: RFC 3339 local-time text of epoch seconds.
"""

from __future__ import annotations

from kpi.simulate.config import (
    DEFAULT_SOURCE,
    SimulationConfig,
    SimulationStats,
    UnitStats,
    planned_counts,
)
from kpi.simulate.procedures import PROCEDURES_BY_LEVEL, Procedure, expected_fee_share
from kpi.simulate.profiles import (
    PROVINCE,
    TAN_HONG_2023,
    UnitProfile,
    default_units,
    write_unit_registry,
)
from kpi.simulate.reorg import (
    REGISTRY_COLUMNS,
    Reorganisation,
    plan_reorganisation,
    registry_rows,
    write_registry,
)
from kpi.simulate.stream import (
    INVALID_KINDS,
    generate_events,
    generate_lines,
    write_jsonl,
)
from kpi.simulate.timefmt import format_time

__all__ = [
    "DEFAULT_SOURCE",
    "INVALID_KINDS",
    "PROCEDURES_BY_LEVEL",
    "PROVINCE",
    "Procedure",
    "REGISTRY_COLUMNS",
    "Reorganisation",
    "SimulationConfig",
    "SimulationStats",
    "TAN_HONG_2023",
    "UnitProfile",
    "UnitStats",
    "default_units",
    "expected_fee_share",
    "format_time",
    "generate_events",
    "generate_lines",
    "plan_reorganisation",
    "planned_counts",
    "registry_rows",
    "write_jsonl",
    "write_registry",
    "write_unit_registry",
]
