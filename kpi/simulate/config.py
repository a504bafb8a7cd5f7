"""What a simulation run depends on (:class:`SimulationConfig`), what it counts while it
runs (:class:`SimulationStats`) and the exact receipt volumes it plans (:func:`planned_counts`).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import date, timedelta

from kpi.calendar import (
    DAY_SECONDS,
    DEFAULT_RULES,
    LOCAL_OFFSET_SECONDS,
    CalendarRules,
    WorkingCalendar,
    date_to_day,
)
from kpi.simulate.procedures import PROCEDURES_BY_LEVEL, Procedure
from kpi.simulate.profiles import UnitProfile, default_units
from kpi.simulate.reorg import Reorganisation, plan_reorganisation, registry_rows

DEFAULT_SOURCE = "urn:motcua:dvc:dong-thap"


@dataclass(frozen=True)
class SimulationConfig:
    """Everything a run depends on; the same config and seed give the same events.

    Shares are probabilities per dossier unless said otherwise.
    """

    seed: int = 2025
    start: date = date(2025, 1, 1)
    end: date = date(2025, 12, 31)
    scale: float = 1.0
    communes: int = 9
    units: tuple[UnitProfile, ...] | None = None
    source: str = DEFAULT_SOURCE
    code_prefix: str = "DT"
    calendar_rules: CalendarRules = DEFAULT_RULES
    procedures: tuple[tuple[str, tuple[Procedure, ...]], ...] = tuple(
        PROCEDURES_BY_LEVEL.items()
    )
    """(unit level, procedure catalog) pairs; hashable so a config can be a cache key."""
    # dossier fates and behaviours
    supplement_share: float = 0.05
    double_supplement_late_share: float = 0.25
    apology_before_due_share: float = 0.75
    apology_after_due_share: float = 0.15
    rejection_share: float = 0.005
    withdrawal_share: float = 0.003
    fee_exempt_share: float = 0.05
    online_payment_share: float = 0.5
    digitized_event_share: float = 0.95
    digitized_complete_share: float = 0.85
    rated_share: float = 0.30
    satisfied_share: float = 0.95
    e_result_share: float = 0.40
    full_online_share: float = 0.85
    due_at_share: float = 0.4
    transfer_share: float = 0.8
    returned_only_share: float = 0.03
    # the two-level government (v1.1; kpi.simulate.reorg): off keeps the v1 stream as it was
    reorganisation: bool = False
    """Cross the reorganisation at ``cutover`` (new codes, merged communes, no district)
    and play the v1.1 behaviours below; False: the v1 stream, byte for byte."""
    cutover: date = date(2025, 7, 1)
    merged_communes: int = 3
    other_desk_share: float = 0.03
    """With ``reorganisation``: filed at one desk, handled by another (handling_unit_code)."""
    synced_share: float = 0.04
    """With ``reorganisation``: synced to the national portal (dossier.synced)."""
    stopped_share: float = 0.01
    """With ``reorganisation``: stopped before completion (dossier.stopped)."""
    # the v1.1 families (kpi.simulate.families; every rate [M]): off keeps the stream as it was
    families: bool = False
    """Also emit petitions (PAKN), each desk's procedure catalog and the documents it sends,
    and sync dossiers to the national portal; False: none of them, the stream byte for byte
    as without the option."""
    petitions_per_dossier: float = 0.01
    petition_names_dossier_share: float = 0.5
    petition_outside_competence_share: float = 0.1
    petition_late_share: float = 0.08
    petition_rated_share: float = 0.5
    petition_dissatisfied_share: float = 0.15
    petition_days: int = 10
    catalog_due_days: int = 5
    catalog_late_share: float = 0.10
    catalog_payment_share: float = 0.85
    catalog_update_share: float = 0.10
    catalog_withdrawn_share: float = 0.03
    documents_per_dossier: float = 0.3
    document_electronic_share: float = 0.9
    document_signed_share: float = 0.75
    portal_sync_share: float = 0.9
    # test-data options
    shuffle: bool = False
    shuffle_window: int | None = None
    duplicates: float = 0.0
    invalid: float = 0.0

    def __post_init__(self) -> None:
        if self.end < self.start:
            raise ValueError("end must not be before start")
        if self.scale <= 0:
            raise ValueError("scale must be > 0")
        for name in (
            "supplement_share", "double_supplement_late_share", "apology_before_due_share",
            "apology_after_due_share", "rejection_share", "withdrawal_share",
            "fee_exempt_share", "online_payment_share", "digitized_event_share",
            "digitized_complete_share", "rated_share", "satisfied_share", "e_result_share",
            "full_online_share", "due_at_share", "transfer_share", "returned_only_share",
            "duplicates", "invalid", "other_desk_share", "synced_share", "stopped_share",
            "petitions_per_dossier", "petition_names_dossier_share",
            "petition_outside_competence_share", "petition_late_share",
            "petition_rated_share", "petition_dissatisfied_share", "catalog_late_share",
            "catalog_payment_share", "catalog_update_share", "catalog_withdrawn_share",
            "documents_per_dossier", "document_electronic_share", "document_signed_share",
            "portal_sync_share",
        ):
            v = getattr(self, name)
            if not 0.0 <= v <= 1.0:
                raise ValueError(f"{name} must be within [0, 1], got {v}")
        if self.apology_before_due_share + self.apology_after_due_share > 1:
            raise ValueError("apology shares must sum to <= 1")
        if self.digitized_complete_share > self.digitized_event_share:
            raise ValueError("digitized_complete_share must be <= digitized_event_share")
        if self.merged_communes < 1:
            raise ValueError("merged_communes must be >= 1")
        if self.catalog_update_share + self.catalog_withdrawn_share > 1:
            raise ValueError("catalog update and withdrawn shares must sum to <= 1")
        for name in ("petition_days", "catalog_due_days"):
            if not 1 <= getattr(self, name) <= 60:
                raise ValueError(f"{name} must be within 1..60")
        for _, procs in self.procedures:
            for p in procs:
                if not 0 <= p.days <= 60:
                    raise ValueError(f"procedure {p.code}: days must be within 0..60")

    def procedures_by_level(self) -> dict[str, tuple[Procedure, ...]]:
        return dict(self.procedures)

    def resolved_units(self) -> tuple[UnitProfile, ...]:
        return self.units if self.units is not None else default_units(self.communes)

    def reorganisation_plan(self) -> Reorganisation | None:
        """The reorganisation the run crosses (None without ``reorganisation``)."""
        if not self.reorganisation:
            return None
        return plan_reorganisation(self.resolved_units(), self.cutover, self.merged_communes)

    def registry_rows(self) -> list[tuple[str, ...]]:
        """The v1.1 unit registry of the run (:func:`kpi.simulate.reorg.registry_rows`)."""
        return registry_rows(self.resolved_units(), self.reorganisation_plan())

    @property
    def end_instant(self) -> int:
        """Epoch seconds of local midnight after ``end``: nothing is emitted at or after it."""
        return (date_to_day(self.end) + 1) * DAY_SECONDS - LOCAL_OFFSET_SECONDS


@dataclass
class UnitStats:
    dossiers: int = 0
    online: int = 0
    events: int = 0


@dataclass
class SimulationStats:
    """Filled while a generator runs (pass one in to watch progress)."""

    dossiers: int = 0
    events: int = 0
    duplicates: int = 0
    invalid: Counter[str] = field(default_factory=Counter)
    by_unit: dict[str, UnitStats] = field(default_factory=dict)
    by_type: Counter[str] = field(default_factory=Counter)
    families: Counter[str] = field(default_factory=Counter)
    """Subjects of the v1.1 families (``petitions``, ``catalog_entries``, ``documents``);
    their events count in ``events`` and ``by_type``, not in ``by_unit``."""

    @property
    def lines(self) -> int:
        return self.events + self.duplicates + sum(self.invalid.values())


# --------------------------------------------------------------------------- planning


def working_days(cal: WorkingCalendar, first: date, last: date) -> list[int]:
    """Day numbers (:func:`kpi.calendar.date_to_day`) of the working days in ``first..last``."""
    out = []
    d = first
    one = timedelta(days=1)
    while d <= last:
        if cal.is_working_day(d):
            out.append(date_to_day(d))
        d += one
    return out


def _years_equivalent(cal: WorkingCalendar, start: date, end: date) -> float:
    """The range as a number of years, counted in working days of each calendar year."""
    total = 0.0
    for year in range(start.year, end.year + 1):
        in_year = len(working_days(cal, date(year, 1, 1), date(year, 12, 31)))
        lo = max(start, date(year, 1, 1))
        hi = min(end, date(year, 12, 31))
        total += len(working_days(cal, lo, hi)) / in_year
    return total


def planned_counts(config: SimulationConfig) -> dict[str, tuple[int, int]]:
    """Exact (received, online) per unit code that a run of ``config`` generates."""
    cal = WorkingCalendar(config.calendar_rules)
    years = _years_equivalent(cal, config.start, config.end)
    out = {}
    for u in config.resolved_units():
        n = round(u.dossiers_per_year * config.scale * years + 1e-9)
        on = min(n, round(u.online_per_year * config.scale * years + 1e-9))
        out[u.code] = (n, on)
    return out


__all__ = [
    "DEFAULT_SOURCE",
    "SimulationConfig",
    "SimulationStats",
    "UnitStats",
    "planned_counts",
    "working_days",
]
