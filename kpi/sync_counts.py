"""The v1.2 portal-sync counts of a dossier's rows: ``sync_due`` and ``synced_on_time``.

A dossier counts once per counter key and period where it counts in ``received``,
``resolved`` or ``in_progress`` (docs/contract.md; interpretations in
docs/decisions/kpi-portal-766-2026-counts.md), on time when every status event of that
period was followed by a sync to the national portal within the sync window.
:func:`kpi.contribution.contribution_rows` appends these rows to the others.
"""

from __future__ import annotations

from kpi.attribution import TOTAL_MARK
from kpi.counters import Row
from kpi.periods import period_keys
from kpi.sla import Dossier

_SYNC_SOURCES = frozenset({"received", "resolved", "in_progress"})
_SYNC_DUE = ("sync_due",)
_SYNC_ON_TIME = ("sync_due", "synced_on_time")


def add_sync_rows(rows: list[Row], d: Dossier, window: float) -> None:
    """Append the ``sync_due`` rows: once per unit (own figures) and period where the
    dossier counts in ``received``, ``resolved`` or ``in_progress``, and once more to each
    total those rows joined (a total adds its units' own figures); with ``synced_on_time``
    when none of the status events of that period is left unsynced
    (:meth:`Dossier.unsynced_times`) and its receipt was synced (a dossier the portal never
    received is synced on time in no period, even one without a status event)."""
    own: dict[str, dict[str, None]] = {}
    totals: dict[tuple[str, str], dict[str, None]] | None = None
    current = ""
    sources = _SYNC_SOURCES
    for key, periods, keys in rows:
        if key[-1] == TOTAL_MARK:
            if sources.isdisjoint(keys):
                continue
            if totals is None:
                totals = {}
            for pk in periods:  # the totals of a row follow its own row (add_rows)
                totals.setdefault((current, pk), {})[key] = None
            continue
        current = key
        if sources.isdisjoint(keys):
            continue
        mine = own.get(key)
        if mine is None:
            own[key] = dict.fromkeys(periods)
        else:
            mine.update(dict.fromkeys(periods))
    unsynced = d.unsynced_times(window)
    if not unsynced:
        late_periods: set[str] | None = set()
    elif d.received_at in unsynced:
        late_periods = None  # every period late
    else:
        late_periods = {pk for t in unsynced for pk in period_keys(t)}
    late: tuple[str, ...]
    on_time: tuple[str, ...]
    for key, periods_of in own.items():
        if late_periods is None:
            late, on_time = tuple(periods_of), ()
        elif not late_periods:
            late, on_time = (), tuple(periods_of)
        else:
            late = tuple(pk for pk in periods_of if pk in late_periods)
            on_time = tuple(pk for pk in periods_of if pk not in late_periods)
        if on_time:
            rows.append((key, on_time, _SYNC_ON_TIME))
        if late:
            rows.append((key, late, _SYNC_DUE))
        if totals is None:
            continue
        above: dict[tuple[str, bool], list[str]] = {}
        for pk in periods_of:
            is_late = late_periods is None or pk in late_periods
            for total in totals.get((key, pk), ()):
                above.setdefault((total, is_late), []).append(pk)
        for (total, is_late), pks in above.items():
            rows.append((total, tuple(pks), _SYNC_DUE if is_late else _SYNC_ON_TIME))


__all__ = ["add_sync_rows"]
