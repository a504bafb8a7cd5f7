"""The unit registry a worker attributes with (docs/contract.md, "Units in force and
attribution"): which file, its fingerprint, and the unit names its snapshots carry.

* :func:`load_registry` — the registry of ``settings.units_file`` (None: every unit code
  stands for itself, no totals); a broken file raises :class:`schemas.errors.RegistryError`.
* :func:`registry_fingerprint` — a short digest of what attribution reads from a registry
  (codes, levels, parents, validity dates, successors; not names). The tracker writes it
  into every dossier table row; a row restored under another fingerprint is re-emitted at
  once (docs/decisions/streams-registry-change.md).
* :class:`UnitNames` — the name a snapshot of (unit, period) carries: the unit's name on
  the period's last day, or today for a period not yet ended.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from functools import lru_cache

from kpi.registry import UnitRegistry
from runtime.settings import Settings


def load_registry(settings: Settings) -> UnitRegistry | None:
    """The registry of ``settings.units_file``, or None when none is set."""
    if settings.units_file is None:
        return None
    return UnitRegistry.load(settings.units_file)


def registry_fingerprint(registry: UnitRegistry | None) -> str | None:
    """16 hex digits that change whenever the attribution of some count may change (a
    version added, ended, re-parented, given a successor or another level); None without a
    registry. Names and row order do not count."""
    if registry is None:
        return None
    digest = hashlib.sha256()
    for code in registry.codes:
        for v in registry.versions(code):
            digest.update("\x1f".join((
                v.code, v.level, v.parent or "", v.valid_from.isoformat(),
                v.valid_to.isoformat() if v.valid_to is not None else "",
                v.successor or "")).encode())
            digest.update(b"\x1e")
    return digest.hexdigest()[:16]


class UnitNames:
    """``name(unit, period, now)``: the registry name of ``unit`` on the last day of
    ``period``, or on the local date of ``now`` while the period runs; None without a
    registry or for an unknown code."""

    def __init__(self, registry: UnitRegistry | None) -> None:
        self.registry = registry
        self._on = lru_cache(maxsize=16384)(self._name_on)

    def name(self, unit: str, period: str, now: float) -> str | None:
        if self.registry is None:
            return None
        return self._on(unit, self.registry.naming_day(period, now).toordinal())

    def _name_on(self, unit: str, ordinal: int) -> str | None:
        assert self.registry is not None
        return self.registry.name_on(unit, dt.date.fromordinal(ordinal))


__all__ = ["UnitNames", "load_registry", "registry_fingerprint"]
