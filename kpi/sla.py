"""Due instants, pauses and classification (đúng hạn / trước hạn / quá hạn) of one dossier.

:func:`summarize` derives a :class:`Dossier` from a state's facts *as known before the
horizon* (facts at or after it are not yet visible), so the batch report ``--as-of T`` and
the live stream at wall-clock ``T`` judge the same facts the same way.

Rules (docs/contract.md):

* completion = first of ``resolved`` / ``returned``; a ``rejected`` / ``withdrawn`` /
  ``stopped`` before completion takes the dossier out of the on-time counts (one after
  completion is ignored);
* pauses run from ``supplement_requested`` to the next ``supplemented``; a request while
  paused or a resume while running is ignored (but every request counts for the
  more-than-one rule);
* adjusted time ``adjusted(t) = t − time paused before t``: inside an open pause this is
  the pause's start, so "a dossier still paused is judged at the instant its open pause
  began". The same adjustment is applied to the judged instant of in-progress dossiers
  (citizen time never counts), which docs/contract.md leaves implicit;
* early: adjusted completion's local date before the original due date; on time: not early
  and adjusted completion ≤ original due; late: the rest, or more than one supplement
  request; late with apology: late and an ``extended`` event came before the original due;
* overdue while open (v1.1): judged past the original due on the SLA clock, or with more
  than one supplement request before the judged instant (it is late whatever happens next);
* the handling unit (v1.1 ``handling_unit_code``) defaults to the receiving unit.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Callable
from dataclasses import dataclass

from kpi.calendar import WorkingCalendar, local_day
from kpi.dossier import DossierState, Fact

EARLY = "early"
ON_TIME = "on_time"
LATE = "late"
IN_PROGRESS = "in_progress"
OVERDUE = "overdue"
REJECTED = "rejected"
WITHDRAWN = "withdrawn"
STOPPED = "stopped"
TERMINAL_KINDS = ("rejected", "withdrawn", "stopped")
"""Fact kinds that end a dossier before completion and take it out of the on-time counts."""
STATUS_KINDS = frozenset({
    "received", "transferred", "supplement_requested", "supplemented", "extended", "resolved",
    "returned", "rejected", "withdrawn", "stopped",
})
"""Fact kinds that change a dossier's status: each must be synced to the national portal
within the sync window (v1.2 ``synced_on_time``; docs/decisions/kpi-portal-766-2026-counts.md).
Digitization, payment, rating, sync and link facts are not status events."""
PORTAL_TARGET = "dvcqg"
PERSONAL_STORAGE = "personal_storage"
NOT_RECEIVED = "not_received"

CalendarFor = Callable[[str], WorkingCalendar]
"""Gives the working calendar of a unit code."""


@dataclass(slots=True)
class Dossier:
    """What is known of one dossier before a horizon: the ledger row a clerk looks up.

    Read-only by convention (not ``frozen``: a frozen dataclass costs a slow ``__init__``
    on the batch path, which builds one per dossier)."""

    code: str
    unit: str
    """The receiving unit's code as sent (``unit_code``: nơi tiếp nhận)."""
    level: str
    procedure: str
    channel: str
    online_level: str
    full_online_eligible: bool
    fee_required: bool
    paper_result: bool
    received_at: float
    due_at: float
    """Original due instant (ngày hẹn trả ban đầu)."""
    extended_due_at: float | None
    """Latest appointment from an ``extended`` event (hẹn lại), if any."""
    apology_at: float | None
    """Earliest ``extended`` event (thư xin lỗi)."""
    pauses: tuple[tuple[float, float | None], ...]
    supplement_requests: int
    completed_at: float | None
    result_electronic: bool
    ended_at: float | None
    """Rejection / withdrawal before completion."""
    ended_kind: str | None
    paid_online: bool
    paid: bool
    digitized: bool
    ratings: tuple[tuple[float, str], ...]
    handling_unit: str
    """``handling_unit_code`` as sent, else ``unit`` (cơ quan giải quyết)."""
    handling_level: str
    request_times: tuple[float, ...]
    """Instants of the supplement requests counted (those before the dossier stopped)."""
    reused: bool
    """The latest digitization reused at least one component (tái sử dụng dữ liệu)."""
    synced: bool
    """Synced to the national portal (any target)."""
    petitioned: bool = False
    """A petition (PAKN) names this dossier (a ``petitioned`` link fact, :mod:`kpi.links`)."""
    mixed: bool = False
    """The subject also holds facts of another family (a petition, catalog entry or document
    with the same code): :mod:`kpi.subject` then adds their rows too."""
    reuse_eligible: bool = False
    """v1.2: the procedure has components that data the state holds may replace."""
    citizen_data_used: bool = False
    """v1.2: the dossier used the national population database."""
    stored_personal: bool = False
    """v1.2: a ``dossier.synced`` with target ``personal_storage``."""
    status_times: tuple[float, ...] = ()
    """v1.2: instants of the status events (:data:`STATUS_KINDS`), sorted."""
    portal_syncs: tuple[float, ...] = ()
    """v1.2: instants of the ``dossier.synced`` events with target ``dvcqg``, sorted."""

    def unsynced_times(self, window: float) -> list[float]:
        """Status events not followed within ``window`` seconds (the sync window) by a sync
        to the national portal: at or after the status event and at most ``window`` later
        (as known before the horizon: a sync still to come does not count yet)."""
        syncs = self.portal_syncs
        if not syncs:
            return list(self.status_times)
        out = []
        for t in self.status_times:
            i = bisect_left(syncs, t)
            if i == len(syncs) or syncs[i] > t + window:
                out.append(t)
        return out

    def latest_rating(self) -> str | None:
        """The latest rating (ties by value, as :func:`summarize` sorts them), if any."""
        return self.ratings[-1][1] if self.ratings else None

    @property
    def due_effective(self) -> float:
        return self.extended_due_at if self.extended_due_at is not None else self.due_at

    @property
    def closed_at(self) -> float | None:
        """When the dossier left the open set (completion, rejection or withdrawal)."""
        return self.completed_at if self.completed_at is not None else self.ended_at

    def adjusted(self, t: float) -> float:
        """``t`` minus the time spent paused before ``t`` (SLA clock time)."""
        paused = 0.0
        for start, end in self.pauses:
            if start >= t:
                break
            paused += (t if end is None or end > t else end) - start
        return t - paused

    def completion_class(self) -> str | None:
        """early / on_time / late for a completed dossier, else None."""
        if self.completed_at is None:
            return None
        if self.supplement_requests > 1:
            return LATE
        adj = self.adjusted(self.completed_at)
        if local_day(adj) < local_day(self.due_at):
            return EARLY
        if adj <= self.due_at:
            return ON_TIME
        return LATE

    def late_with_apology(self) -> bool:
        return (
            self.completion_class() == LATE
            and self.apology_at is not None
            and self.apology_at < self.due_at
        )

    def is_overdue_at(self, judged: float) -> bool:
        """Open at ``judged`` and past the original due on the SLA clock, or with more than
        one supplement request before ``judged`` (docs/contract.md)."""
        if self.adjusted(judged) > self.due_at:
            return True
        times = self.request_times
        return len(times) > 1 and times[1] < judged

    def due_met(self) -> bool:
        """Completed with adjusted completion ≤ the original due and at most one supplement
        request (``due_met`` of docs/contract.md)."""
        return self.completion_class() in (EARLY, ON_TIME)

    def counts_as_due(self) -> bool:
        """Not rejected, withdrawn or stopped before its original due instant."""
        return self.ended_at is None or self.ended_at >= self.due_at

    def status_at(self, horizon: float) -> str:
        """Classification for the ledger as of ``horizon`` (facts already filtered)."""
        if self.ended_kind is not None:
            return self.ended_kind
        cls = self.completion_class()
        if cls is not None:
            return cls
        return OVERDUE if self.is_overdue_at(horizon) else IN_PROGRESS


def _first(facts: list[Fact]) -> Fact | None:
    """The earliest fact; ties broken by content so every arrival order agrees."""
    if len(facts) < 2:
        return facts[0] if facts else None
    return min(facts, key=lambda f: (f[1], repr(f)))


def _last(facts: list[Fact]) -> Fact | None:
    if len(facts) < 2:
        return facts[0] if facts else None
    return max(facts, key=lambda f: (f[1], repr(f)))


def summarize(state: DossierState, horizon: float, calendar_for: CalendarFor) -> Dossier | None:
    """The dossier as known before ``horizon``; None until its ``received`` fact is visible."""
    received: list[Fact] = []
    requests: list[float] = []
    resumes: list[float] = []
    extensions: list[Fact] = []
    completions: list[float] = []
    result_electronic = False
    ends: list[Fact] = []
    digitized: list[Fact] = []
    paid_online = paid = synced = petitioned = mixed = False
    ratings: list[tuple[float, str]] = []
    transfers: list[float] = []
    portal_syncs: list[float] = []
    stored_personal = False
    for fact in state.facts.values():
        ts = fact[1]
        if ts >= horizon:
            continue
        kind = fact[0]
        # most frequent kinds first: this loop runs for every fact of every dossier
        if kind == "received":
            received.append(fact)
        elif kind == "resolved":
            completions.append(ts)
            result_electronic = result_electronic or bool(fact[2])
        elif kind == "returned":
            completions.append(ts)
        elif kind == "digitized":
            digitized.append(fact)
        elif kind == "transferred":
            transfers.append(ts)
        elif kind == "payment":
            paid = True
            paid_online = paid_online or fact[2] == "online"
        elif kind == "rated":
            ratings.append((ts, fact[2]))
        elif kind == "supplement_requested":
            requests.append(ts)
        elif kind == "supplemented":
            resumes.append(ts)
        elif kind == "extended":
            extensions.append(fact)
        elif kind == "synced":
            synced = True
            target = fact[2]
            if target == PORTAL_TARGET:
                portal_syncs.append(ts)
            elif target == PERSONAL_STORAGE:
                stored_personal = True
        elif kind in TERMINAL_KINDS:
            ends.append(fact)
        elif kind == "petitioned":
            petitioned = True
        else:
            mixed = True
    rec = _first(received)
    if rec is None:
        return None
    (_, received_at, unit, level, procedure, channel, online_level, foe, due_at, days, fee,
     paper) = rec[:12]
    handling_unit = handling_level = None
    if len(rec) > 12:  # a v1.1 fact (older states have 12 fields)
        handling_unit, handling_level = rec[12], rec[13]
    reuse_eligible = citizen_data = False
    if len(rec) > 14:  # v1.2 flags, kept only when one is true
        reuse_eligible, citizen_data = bool(rec[14]), bool(rec[15])
    if due_at is None:
        due_at = calendar_for(unit).due_instant(received_at, days, paper=channel != "online")
    completed_at = min(completions) if completions else None
    end = _first(ends)
    ended_at = ended_kind = None
    if end is not None and (completed_at is None or end[1] < completed_at):
        ended_at, ended_kind = end[1], end[0]
        completed_at = None
    stop = completed_at if completed_at is not None else ended_at
    pauses: list[tuple[float, float | None]] = []
    if requests:
        marks = sorted([(t, 0) for t in requests] + [(t, 1) for t in resumes])
        start: float | None = None
        for t, is_resume in marks:
            if stop is not None and t >= stop:
                break
            if not is_resume and start is None:
                start = t
            elif is_resume and start is not None:
                pauses.append((start, t))
                start = None
        if start is not None:
            pauses.append((start, stop))
    counted = sorted(requests if stop is None else [t for t in requests if t < stop])
    extended_due = apology_at = None
    if extensions:
        latest = _last(extensions)
        assert latest is not None
        extended_due = latest[2]
        apology_at = min(f[1] for f in extensions)
    latest_digitized = _last(digitized)
    is_digitized = reused = False
    if latest_digitized is not None:
        is_digitized = latest_digitized[3] == latest_digitized[2] > 0
        reused = len(latest_digitized) > 4 and latest_digitized[4] > 0
    ratings.sort()
    # positional, in field order: a keyword call costs the batch report too much
    # (docs/decisions/kpi-typed-facts.md); tests/unit/test_sla.py pins the field order
    return Dossier(
        state.code, unit, level, procedure, channel, online_level, bool(foe), bool(fee),
        bool(paper), received_at, due_at, extended_due, apology_at, tuple(pauses),
        len(counted), completed_at, result_electronic, ended_at, ended_kind, paid_online, paid,
        is_digitized, tuple(ratings), handling_unit or unit, handling_level or level,
        tuple(counted), reused, synced, petitioned, mixed, reuse_eligible, citizen_data,
        stored_personal, _status_times(received, transfers, requests, resumes, extensions,
                                       completions, ends),
        tuple(sorted(portal_syncs)),
    )


def _status_times(received: list[Fact], transfers: list[float], requests: list[float],
                  resumes: list[float], extensions: list[Fact], completions: list[float],
                  ends: list[Fact]) -> tuple[float, ...]:
    """The sorted instants of the status events (:data:`STATUS_KINDS`) gathered by
    :func:`summarize` (every one, not only those that count for the SLA)."""
    times = [f[1] for f in received]
    times += transfers
    times += requests
    times += resumes
    times += completions
    if extensions:
        times += [f[1] for f in extensions]
    if ends:
        times += [f[1] for f in ends]
    times.sort()
    return tuple(times)


__all__ = [
    "CalendarFor",
    "Dossier",
    "EARLY",
    "IN_PROGRESS",
    "LATE",
    "ON_TIME",
    "OVERDUE",
    "REJECTED",
    "PERSONAL_STORAGE",
    "PORTAL_TARGET",
    "STATUS_KINDS",
    "STOPPED",
    "TERMINAL_KINDS",
    "WITHDRAWN",
    "summarize",
]
