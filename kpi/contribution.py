"""A dossier's contribution to the counters of each (unit, period), and its changes.

The contribution is a pure function of (state, horizon): what the dossier adds to every
month, quarter and year it touches, judged with the facts visible before the horizon.
When a dossier changes (a new event, or time passing its due instant or a period
boundary), the stream layer applies ``delta(old, new)`` to the counters; summing deltas in
any order equals recomputing contributions from the final states.
"""

from __future__ import annotations

from kpi.dossier import DossierState
from kpi.periods import next_month_start, period_keys, periods_between
from kpi.sla import EARLY, LATE, ON_TIME, CalendarFor, Dossier, summarize

Bucket = tuple[str, str]
"""(unit code, period key)."""
Contribution = dict[Bucket, dict[str, int]]

_EPSILON = 0.001
"""One millisecond: the step after an instant at which a change becomes visible."""

_RESOLVED_KEY = {EARLY: "resolved_early", ON_TIME: "resolved_on_time", LATE: "resolved_late"}


Row = tuple[tuple[str, ...], tuple[str, ...]]
"""(period keys, count keys): add one to each count key in each of those periods."""

_IN_PROGRESS = ("in_progress",)
_OVERDUE = ("in_progress", "in_progress_overdue")
_RATED = {"satisfied": ("rated", "satisfied"), "dissatisfied": ("rated", "dissatisfied"),
          "neutral": ("rated",)}


def contribution_rows(d: Dossier, horizon: float) -> list[Row]:
    """What one dossier, as known before ``horizon``, adds to its unit: a list of rows."""
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
    rows: list[Row] = [(period_keys(d.received_at), tuple(keys))]

    cls = d.completion_class()
    if cls is not None:
        assert d.completed_at is not None
        keys = ["resolved", _RESOLVED_KEY[cls]]
        if cls == LATE and d.apology_at is not None and d.apology_at < d.due_at:
            keys.append("late_with_apology")
        if d.result_electronic:
            keys.append("e_results")
        if d.paper_result:
            keys.append("paper_result_dossiers")
        rows.append((period_keys(d.completed_at), tuple(keys)))

    for ts, rating in d.ratings:
        rows.append((period_keys(ts), _RATED[rating]))

    closed = d.closed_at
    last = horizon if closed is None else min(closed, horizon)
    open_periods: list[str] = []
    overdue_periods: list[str] = []
    for period in periods_between(d.received_at, last):
        if period.start >= horizon:  # only periods that began before the horizon
            continue
        judged = period.end if period.end < horizon else horizon
        if d.received_at >= judged or (closed is not None and closed < judged):
            continue
        (overdue_periods if d.is_overdue_at(judged) else open_periods).append(period.key)
    if open_periods:
        rows.append((tuple(open_periods), _IN_PROGRESS))
    if overdue_periods:
        rows.append((tuple(overdue_periods), _OVERDUE))
    return rows


def dossier_contribution(d: Dossier, horizon: float) -> Contribution:
    """The rows of :func:`contribution_rows` as ``{(unit, period): {count key: n}}``."""
    out: Contribution = {}
    unit = d.unit
    for periods, keys in contribution_rows(d, horizon):
        for pk in periods:
            bucket = out.get((unit, pk))
            if bucket is None:
                bucket = out[(unit, pk)] = {}
            for key in keys:
                bucket[key] = bucket.get(key, 0) + 1
    return out


def contribution(state: DossierState, horizon: float, calendar_for: CalendarFor) -> Contribution:
    d = summarize(state, horizon, calendar_for)
    return dossier_contribution(d, horizon) if d is not None else {}


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
) -> float | None:
    """The earliest instant ``T ≥ horizon`` such that the contribution stays as it is on
    ``[horizon, T]`` and may change just after ``T`` with no new event: a future-dated fact
    becoming visible, the due instant passing on the SLA clock, or a new month starting
    while the dossier is open. None when nothing will change without a new event.

    The stream layer re-judges a dossier once the clock is past ``T``. ``summary`` is
    ``summarize(state, horizon, calendar_for)`` when the caller already has it; pass
    ``summarized=True`` too when that summary may be None (no ``received`` fact yet)."""
    candidates = [f[1] for f in state.facts.values() if f[1] >= horizon]
    d = summary if summary is not None or summarized else summarize(
        state, horizon, calendar_for)
    if d is not None and d.closed_at is None:
        boundary = next_month_start(horizon - _EPSILON)
        if boundary < horizon:  # horizon within the first millisecond of a month
            boundary = next_month_start(horizon)
        candidates.append(boundary)
        open_pause = bool(d.pauses) and d.pauses[-1][1] is None
        if not open_pause and not d.is_overdue_at(horizon):
            paused = sum(end - start for start, end in d.pauses if end is not None)
            candidates.append(d.due_at + paused)
    future = [t for t in candidates if t >= horizon]
    return min(future) if future else None


__all__ = [
    "Bucket",
    "Contribution",
    "Row",
    "contribution",
    "contribution_rows",
    "delta",
    "dossier_contribution",
    "next_change",
]
