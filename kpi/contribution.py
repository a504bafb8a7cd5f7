"""A dossier's contribution to the counters of each (unit, period), and its changes.

The contribution is a pure function of (state, horizon): what the dossier adds to every
month, quarter and year it touches, judged with the facts visible before the horizon.
When a dossier changes (a new event, or time passing its due instant or a period
boundary), the stream layer applies ``delta(old, new)`` to the counters; summing deltas in
any order equals recomputing contributions from the final states.

Each count goes to a unit judged at its own instant (docs/contract.md, attribution "as it
was", :class:`kpi.attribution.Attribution`):

* receipt-side counts (``received*``, ``full_online_eligible``, ``fee_dossiers``,
  ``paid_online``, ``digitized``, ``reused``, ``synced``): the unit in force for
  ``unit_code`` at the receipt instant;
* handling-side counts: the unit in force for the handling unit at the completion instant
  (``resolved*``, ``late_with_apology``, ``e_results``, ``paper_result_dossiers``), at the
  period's last instant — or the horizon for a period not yet ended — (``in_progress*``),
  at the original due instant (``due*``) and at the rating time (``rated``,
  ``satisfied``, ``dissatisfied``);

and each also to the totals of that unit and the units above it at that instant.

v1.2 (docs/contract.md; interpretations in docs/decisions/kpi-portal-766-2026-counts.md):
``reuse_eligible`` is receipt-side; ``handled`` (= ``resolved`` + ``in_progress``), its
``handled_*`` qualifiers and ``dossiers_unsatisfied`` ride on the ``resolved`` and
``in_progress`` rows; ``sync_due`` / ``synced_on_time`` count a dossier once per counter key
and period among those where it counts in ``received``, ``resolved`` or ``in_progress``,
on time when every status event of that period was followed by a sync to the portal
within the sync window (passed in as ``sync_window``, seconds).
"""

from __future__ import annotations

from kpi.attribution import NO_REGISTRY, Attribution, split_scoped
from kpi.counters import CATALOG_DISTINCT_KEYS, COMMUNE_DISTINCT_KEY, Row, distinct_key
from kpi.dossier import DossierState
from kpi.periods import next_month_start, period_keys, periods_between
from kpi.sla import EARLY, LATE, ON_TIME, CalendarFor, Dossier, summarize
from kpi.sync_counts import add_sync_rows

Bucket = tuple[str, str]
"""(counter key — a unit code, or a unit's total: :func:`kpi.attribution.scoped` —,
period key)."""
Contribution = dict[Bucket, dict[str, int]]

DEFAULT_SYNC_WINDOW_HOURS = 24
"""The sync window's default [M] (setting ``sync_window_hours``)."""
DEFAULT_SYNC_WINDOW = DEFAULT_SYNC_WINDOW_HOURS * 3600.0
"""In seconds, as :func:`contribution_rows` takes it."""

_EPSILON = 0.001
"""One millisecond: the step after an instant at which a change becomes visible."""

_RESOLVED_KEY = {EARLY: "resolved_early", ON_TIME: "resolved_on_time", LATE: "resolved_late"}


Levels = dict[str, str]
"""Counter key → the unit's level (cấp), filled by :func:`contribution_rows` on request."""

_IN_PROGRESS: tuple[str, ...] = ("in_progress",)
_OVERDUE: tuple[str, ...] = ("in_progress", "in_progress_overdue")
_DUE = ("due",)
_DUE_MET = ("due", "due_met")
_IN_PROGRESS_PETITIONED: tuple[str, ...] = ("in_progress", "dossiers_petitioned")
_OVERDUE_PETITIONED: tuple[str, ...] = ("in_progress", "in_progress_overdue", "dossiers_petitioned",
                       "dossiers_petitioned_late")
_RATED = {"satisfied": ("rated", "satisfied"), "dissatisfied": ("rated", "dissatisfied"),
          "neutral": ("rated",)}


def _receipt_keys(d: Dossier) -> tuple[str, ...]:
    keys = ["received", "received_" + d.channel]
    if d.online_level == "full":
        keys.append("received_full_online")
    if d.full_online_eligible:
        keys.append("full_online_eligible")
    if d.fee_required:
        keys.append("fee_dossiers")
        if d.paid_online:
            keys.append("paid_online")
    if d.digitized:
        keys.append("digitized")
    if d.reused:
        keys.append("reused")
    if d.synced:
        keys.append("synced")
    if d.reuse_eligible:
        keys.append("reuse_eligible")
    return tuple(keys)


def _handled_keys(d: Dossier, keys: list[str], late: bool, resolved: bool = False) -> None:
    """Append the v1.2 keys of a dossier counted in ``handled`` (``resolved`` in the period,
    else in progress at its end); ``late``: resolved late or open overdue. The e-result
    counts with the resolution only; the other facts as known before the horizon."""
    keys.append("handled")
    if resolved and d.result_electronic:
        keys.append("handled_e_result")
    if d.digitized:
        keys.append("handled_digitized")
    if d.reused:
        keys.append("handled_reused")
    if d.stored_personal:
        keys.append("handled_stored_personal")
    if d.citizen_data_used:
        keys.append("handled_citizen_data")
    if late or d.petitioned or d.latest_rating() == "dissatisfied":
        keys.append("dossiers_unsatisfied")


_OPEN_KEYS: dict[tuple[bool, ...], tuple[str, ...]] = {}


def _open_keys(d: Dossier, overdue: bool) -> tuple[str, ...]:
    """The keys of an in-progress row (memoized per combination of what they depend on)."""
    flags = (overdue, d.petitioned, d.digitized, d.reused, d.stored_personal,
             d.citizen_data_used, d.latest_rating() == "dissatisfied")
    found = _OPEN_KEYS.get(flags)
    if found is not None:
        return found
    if d.petitioned:
        base = _OVERDUE_PETITIONED if overdue else _IN_PROGRESS_PETITIONED
    else:
        base = _OVERDUE if overdue else _IN_PROGRESS
    keys = list(base)
    _handled_keys(d, keys, overdue)
    found = _OPEN_KEYS[flags] = tuple(keys)
    return found


def _completion_keys(d: Dossier, cls: str) -> tuple[str, ...]:
    keys = ["resolved", _RESOLVED_KEY[cls]]
    if cls == LATE and d.apology_at is not None and d.apology_at < d.due_at:
        keys.append("late_with_apology")
    if d.result_electronic:
        keys.append("e_results")
    if d.paper_result:
        keys.append("paper_result_dossiers")
    if d.petitioned:
        keys.append("dossiers_petitioned")
        if cls == LATE:
            keys.append("dossiers_petitioned_late")
    _handled_keys(d, keys, cls == LATE, resolved=True)
    return tuple(keys)


def _open_periods(d: Dossier, horizon: float) -> list[tuple[str, float, bool]]:
    """(period key, judged instant, overdue then) of every period the dossier is in
    progress at: periods that began before the horizon, judged at their end (or at the
    horizon while they run), received before and not closed by then."""
    closed = d.closed_at
    last = horizon if closed is None else min(closed, horizon)
    out = []
    for period in periods_between(d.received_at, last):
        if period.start >= horizon:
            continue
        judged = period.end if period.end < horizon else horizon
        if d.received_at >= judged or (closed is not None and closed < judged):
            continue
        out.append((period.key, judged, d.is_overdue_at(judged)))
    return out


def contribution_rows(
    d: Dossier,
    horizon: float,
    attribution: Attribution = NO_REGISTRY,
    levels: Levels | None = None,
    sync_window: float = DEFAULT_SYNC_WINDOW,
) -> list[Row]:
    """What one dossier, as known before ``horizon``, adds to each unit: a list of rows.
    ``levels``, if given, receives the level of every counter key the rows name;
    ``sync_window`` is the setting ``sync_window_hours`` in seconds.

    Without a registry every code stands for itself, so the receipt rows go to ``unit``
    and every handling row to ``handling_unit`` with no lookup (the batch report's and the
    worker's hot path); with one, each row's unit is looked up at its judged instant."""
    if attribution.registry is None:
        rows = _rows_without_registry(d, horizon, levels)
    else:
        rows = _rows_with_registry(d, horizon, attribution, levels)
    add_sync_rows(rows, d, sync_window)
    return rows


def _rows_without_registry(d: Dossier, horizon: float, levels: Levels | None) -> list[Row]:
    unit, handling = d.unit, d.handling_unit
    rows: list[Row] = [(unit, period_keys(d.received_at), _receipt_keys(d))]
    cls = d.completion_class()
    if cls is not None:
        assert d.completed_at is not None
        rows.append((handling, period_keys(d.completed_at), _completion_keys(d, cls)))
    for ts, rating in d.ratings:
        rows.append((handling, period_keys(ts), _RATED[rating]))
    if d.due_at < horizon and d.counts_as_due():
        rows.append((handling, period_keys(d.due_at), _DUE_MET if d.due_met() else _DUE))
    open_periods: list[str] = []
    overdue_periods: list[str] = []
    for key, _judged, overdue in _open_periods(d, horizon):
        (overdue_periods if overdue else open_periods).append(key)
    if open_periods:
        rows.append((handling, tuple(open_periods), _open_keys(d, False)))
    if overdue_periods:
        rows.append((handling, tuple(overdue_periods), _open_keys(d, True)))
    if levels is not None:  # in row order, as the registry path: the handling level last
        levels[unit] = d.level
        if len(rows) > 1:
            levels[handling] = d.handling_level
    return rows


def _rows_with_registry(
    d: Dossier, horizon: float, attribution: Attribution, levels: Levels | None
) -> list[Row]:
    at = attribution.at
    rows: list[Row] = []

    def add(code: str, level: str, t: float, periods: tuple[str, ...],
            keys: tuple[str, ...]) -> None:
        add_rows(rows, attribution, levels, code, level, t, periods, keys)

    add(d.unit, d.level, d.received_at, period_keys(d.received_at), _receipt_keys(d))
    handling, handling_level = d.handling_unit, d.handling_level
    cls = d.completion_class()
    if cls is not None:
        assert d.completed_at is not None
        add(handling, handling_level, d.completed_at, period_keys(d.completed_at),
            _completion_keys(d, cls))
    for ts, rating in d.ratings:
        add(handling, handling_level, ts, period_keys(ts), _RATED[rating])
    if d.due_at < horizon and d.counts_as_due():
        add(handling, handling_level, d.due_at, period_keys(d.due_at),
            _DUE_MET if d.due_met() else _DUE)
    # in progress: the unit is the one in force at the period's last instant (or just
    # before the horizon), judged - ε; periods with the same unit and state share a row
    grouped: dict[tuple[str, tuple[str, ...], bool], tuple[float, list[str]]] = {}
    for key, judged, overdue in _open_periods(d, horizon):
        instant = judged - _EPSILON
        unit, totals, _level = at(handling, instant)
        group = grouped.get((unit, totals, overdue))
        if group is None:
            grouped[(unit, totals, overdue)] = (instant, [key])
        else:
            group[1].append(key)
    for (_, _, overdue), (instant, periods) in grouped.items():
        add(handling, handling_level, instant, tuple(periods), _open_keys(d, overdue))
    return rows


def add_rows(rows: list[Row], attribution: Attribution, levels: Levels | None, code: str,
             level: str, t: float, periods: tuple[str, ...], keys: tuple[str, ...],
             procedure: str | None = None) -> None:
    """Append the rows of one set of counts judged at ``t``: to ``code`` itself without a
    registry; with one, to the unit in force for ``code`` at ``t`` and to the totals
    above it (the rule every family shares, :mod:`kpi.attribution`).

    A catalog entry passes its ``procedure`` code: its totals' rows then count the keys of
    :data:`kpi.counters.CATALOG_DISTINCT_KEYS` once per procedure code
    (:func:`kpi.counters.distinct_key`), and ``communes_e_certified_copy`` is kept only
    when the unit in force is a commune, counted once per commune in every row."""
    unit: str
    totals: tuple[str, ...]
    registered: str | None
    if attribution.registry is None:
        unit, totals, registered = code, (), None
    else:
        unit, totals, registered = attribution.at(code, t)
    total_keys: tuple[str, ...]
    if procedure is not None:
        keys, total_keys = _catalog_keys(keys, unit, registered or level, procedure)
        if not keys:
            return
    else:
        total_keys = keys
    rows.append((unit, periods, keys))
    for total in totals:
        rows.append((total, periods, total_keys))
    if levels is not None:
        levels[unit] = registered or level
        for total in totals:
            if total not in levels:  # the level of the total's own unit
                levels[total] = attribution.at(split_scoped(total)[0], t)[2] or level


def _catalog_keys(keys: tuple[str, ...], unit: str, level: str, procedure: str
                  ) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(own keys, total keys) of a catalog entry's row for ``unit`` (of ``level``)."""
    if COMMUNE_DISTINCT_KEY in keys:
        keys = tuple(distinct_key(k, unit) if k == COMMUNE_DISTINCT_KEY else k for k in keys
                     if k != COMMUNE_DISTINCT_KEY or level == "commune")
    total = tuple(distinct_key(k, procedure) if k in CATALOG_DISTINCT_KEYS else k
                  for k in keys)
    return keys, total


def add_judged_rows(rows: list[Row], attribution: Attribution, levels: Levels | None,
                    code: str, level: str, judged: list[tuple[str, float, tuple[str, ...]]],
                    procedure: str | None = None) -> None:
    """:func:`add_rows` for counts judged at the end of each period (``(period key, judged
    instant, count keys)``; the unit is the one in force just before the judged instant),
    periods with the same unit and keys sharing one row."""
    grouped: dict[tuple[str, tuple[str, ...], tuple[str, ...]], tuple[float, list[str]]] = {}
    for key, instant, keys in judged:
        if not keys:
            continue
        t = instant - _EPSILON
        unit = attribution.at(code, t)[:2] if attribution.registry is not None else (code, ())
        group = grouped.get((unit[0], unit[1], keys))
        if group is None:
            grouped[(unit[0], unit[1], keys)] = (t, [key])
        else:
            group[1].append(key)
    for (_, _, keys), (t, periods) in grouped.items():
        add_rows(rows, attribution, levels, code, level, t, tuple(periods), keys, procedure)


def open_judgements(opened_at: float, closed_at: float | None, horizon: float
                    ) -> list[tuple[str, float]]:
    """(period key, judged instant) of every period something opened at ``opened_at`` and
    closed at ``closed_at`` (None: still open) is open at: periods that began before the
    horizon, judged at their end (or at the horizon while they run), opened before and
    not closed by then — the in-progress rule of dossiers, shared by petitions."""
    last = horizon if closed_at is None else min(closed_at, horizon)
    out = []
    for period in periods_between(opened_at, last):
        if period.start >= horizon:
            continue
        judged = period.end if period.end < horizon else horizon
        if opened_at >= judged or (closed_at is not None and closed_at < judged):
            continue
        out.append((period.key, judged))
    return out


def next_open_change(horizon: float, attribution: Attribution) -> list[float]:
    """Instants at which something open changes with time alone: the next month start
    (a new period to be open in) and the next unit-version change of the registry."""
    boundary = next_month_start(horizon - _EPSILON)
    if boundary < horizon:  # horizon within the first millisecond of a month
        boundary = next_month_start(horizon)
    out = [boundary]
    change = attribution.next_change(horizon - _EPSILON)
    if change is not None:
        out.append(change)
    return out


def dossier_contribution(
    d: Dossier, horizon: float, attribution: Attribution = NO_REGISTRY
) -> Contribution:
    """The rows of :func:`contribution_rows` as ``{(unit, period): {count key: n}}``."""
    out: Contribution = {}
    for unit, periods, keys in contribution_rows(d, horizon, attribution):
        for pk in periods:
            bucket = out.get((unit, pk))
            if bucket is None:
                bucket = out[(unit, pk)] = {}
            for key in keys:
                bucket[key] = bucket.get(key, 0) + 1
    return out


def contribution(
    state: DossierState,
    horizon: float,
    calendar_for: CalendarFor,
    attribution: Attribution = NO_REGISTRY,
) -> Contribution:
    d = summarize(state, horizon, calendar_for)
    return dossier_contribution(d, horizon, attribution) if d is not None else {}


def delta(old: Contribution, new: Contribution) -> Contribution:
    """``new − old``, with zero entries left out."""
    out: Contribution = {}
    for bucket in old.keys() | new.keys():
        o = old.get(bucket, {})
        n = new.get(bucket, {})
        diff = {k: n.get(k, 0) - o.get(k, 0) for k in o.keys() | n.keys()}
        diff = {k: v for k, v in diff.items() if v}
        if diff:
            out[bucket] = diff
    return out


def next_change(
    state: DossierState,
    horizon: float,
    calendar_for: CalendarFor,
    summary: Dossier | None = None,
    *,
    summarized: bool = False,
    attribution: Attribution = NO_REGISTRY,
) -> float | None:
    """The earliest instant ``T ≥ horizon`` such that the contribution stays as it is on
    ``[horizon, T]`` and may change just after ``T`` with no new event: a future-dated fact
    becoming visible, the original due instant passing (``due``) or passing on the SLA
    clock, a new month starting while the dossier is open, or — while it is open — a day
    on which a unit version of the registry begins or ends (its handling unit in force may
    change). None when nothing will change without a new event.

    The stream layer re-judges a dossier once the clock is past ``T``. ``summary`` is
    ``summarize(state, horizon, calendar_for)`` when the caller already has it; pass
    ``summarized=True`` too when that summary may be None (no ``received`` fact yet)."""
    candidates = [f[1] for f in state.facts.values() if f[1] >= horizon]
    d = summary if summary is not None or summarized else summarize(
        state, horizon, calendar_for)
    if d is not None and d.due_at >= horizon and d.counts_as_due():
        candidates.append(d.due_at)
    if d is not None and d.closed_at is None:
        boundary = next_month_start(horizon - _EPSILON)
        if boundary < horizon:  # horizon within the first millisecond of a month
            boundary = next_month_start(horizon)
        candidates.append(boundary)
        change = attribution.next_change(horizon - _EPSILON)
        if change is not None:
            candidates.append(change)
        open_pause = bool(d.pauses) and d.pauses[-1][1] is None
        if not open_pause and not d.is_overdue_at(horizon):
            paused = sum(end - start for start, end in d.pauses if end is not None)
            candidates.append(d.due_at + paused)
    future = [t for t in candidates if t >= horizon]
    return min(future) if future else None


__all__ = [
    "DEFAULT_SYNC_WINDOW",
    "DEFAULT_SYNC_WINDOW_HOURS",
    "Bucket",
    "Contribution",
    "Levels",
    "Row",
    "add_judged_rows",
    "add_rows",
    "contribution",
    "contribution_rows",
    "delta",
    "dossier_contribution",
    "next_change",
    "next_open_change",
    "open_judgements",
]
