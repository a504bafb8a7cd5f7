"""The per-dossier generator: valid v1 events of every dossier of a run, in time order.

Receipts fall on working days of :class:`kpi.calendar.WorkingCalendar` in office hours
(7:30–17:00 local), spread over weekdays and months with fixed weights; what happens to each
dossier is drawn by :class:`kpi.simulate.course.DossierCourse`. Events after the end of the
range (local midnight after ``end``) are not emitted, so dossiers received in the last days
are still in progress.

With ``families`` (:mod:`kpi.simulate.families`, every rate [M]) the run also emits
petitions, each desk's procedure catalog and the documents it sends, and syncs dossiers to
the national portal, from random streams of their own.

The hot loop works on integer epoch seconds and formats timestamps with a per-day cache.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterator
from itertools import accumulate
from typing import Any, Protocol

from kpi.calendar import date_to_day, day_to_date
from kpi.simulate.config import SimulationConfig, SimulationStats, UnitStats, planned_counts
from kpi.simulate.course import DossierCourse, event_type
from kpi.simulate.profiles import UnitProfile

_WEEKDAY_WEIGHT = (1.18, 1.06, 1.0, 0.98, 0.9, 0.75, 0.5)
_MONTH_WEIGHT = (1.1, 0.85, 1.05, 1.0, 0.95, 1.0, 1.0, 1.0, 0.95, 1.0, 1.0, 1.1)

_T_RECEIVED = event_type("dossier.received")


class DossierHook(Protocol):
    """What a run may add to the dossiers (:mod:`kpi.simulate.families`)."""

    def start(self) -> None:
        """Before the first dossier: push events of the run's own onto the heap."""

    def dossier(self, subject: str, data: dict[str, Any],
                events: list[tuple[int, str, dict[str, Any]]], unit: UnitProfile,
                k_r: int, ts_r: int) -> None:
        """After a dossier's events are drawn (``events`` may be extended in place)."""


class DossierGenerator(DossierCourse):
    """The valid-event generator of one run: :meth:`run` yields every valid event once."""

    def __init__(self, config: SimulationConfig, stats: SimulationStats) -> None:
        super().__init__(config)
        self.stats = stats
        self.end_ts = config.end_instant
        self.units = config.resolved_units()
        self.plan = planned_counts(config)
        self.heap: list[tuple[int, int, dict[str, Any]]] = []
        self.push_seq = 0
        self.families: DossierHook | None = None
        """Petitions, procedure catalogs, documents (with ``families``: set by
        :func:`kpi.simulate.stream.generate_events` to a
        :class:`kpi.simulate.families.FamilyGenerator` of this generator)."""

    # -- receipts -------------------------------------------------------------------

    def _receipt_days(self) -> list[list[tuple[int, int]]]:
        """Per working day in range: the (receipt second, unit index) of its dossiers."""
        rng = self.rng
        last_day = date_to_day(self.c.end)
        in_range = [d for d in self.wdays if d <= last_day]
        weights = []
        for d in in_range:
            dt = day_to_date(d)
            weights.append(_WEEKDAY_WEIGHT[dt.weekday()] * _MONTH_WEIGHT[dt.month - 1])
        cum = list(accumulate(weights))
        per_day: list[list[tuple[int, int]]] = [[] for _ in in_range]
        if not in_range:
            return per_day
        for ui, u in enumerate(self.units):
            n = self.plan[u.code][0]
            for k in rng.choices(range(len(in_range)), cum_weights=cum, k=n):
                per_day[k].append((self._receipt_second(), ui))
        for lst in per_day:
            lst.sort()
        return per_day

    def _receipt_second(self) -> int:
        u = self.rng.random()
        if u < 0.55:  # morning 7:30-11:30
            return int(self.rng.random() * 14400)
        if u < 0.95:  # afternoon 13:30-17:00
            return 21600 + int(self.rng.random() * 12599)
        return 14400 + int(self.rng.random() * 7200)  # lunch desk

    def _channels(self, u: UnitProfile) -> list[str]:
        n, on = self.plan[u.code]
        postal = round((n - on) * u.postal_share)
        chans = ["online"] * on + ["postal"] * postal + ["direct"] * (n - on - postal)
        self.rng.shuffle(chans)
        return chans

    # -- the stream -----------------------------------------------------------------

    def run(self) -> Iterator[dict[str, Any]]:
        if self.families is not None:
            self.families.start()
        per_day = self._receipt_days()
        channels = [self._channels(u) for u in self.units]
        heap = self.heap
        heappop = heapq.heappop
        stats = self.stats
        for k, receipts in enumerate(per_day):
            for s, ui in receipts:
                ts = self.ts_of(k, s)
                while heap and heap[0][0] <= ts:
                    yield heappop(heap)[2]
                received = self._dossier(k, s, ts, self.units[ui], channels[ui].pop())
                stats.dossiers += 1
                yield received
        while heap:
            yield heappop(heap)[2]

    def _dossier(self, k_r: int, s_r: int, ts_r: int, unit: UnitProfile, channel: str
                 ) -> dict[str, Any]:
        c = self.c
        online = channel == "online"
        subject, data, events = self.draw(k_r, s_r, ts_r, unit, channel)
        if self.families is not None:
            self.families.dossier(subject, data, events, unit, k_r, ts_r)

        # ---- emit
        end_ts = self.end_ts
        received = {
            "specversion": "1.0",
            "id": subject + ".e1",
            "source": c.source,
            "type": _T_RECEIVED,
            "time": self.fmt(ts_r),
            "subject": subject,
            "datacontenttype": "application/json",
            "data": data,
        }
        events.sort(key=_first)
        code = data["unit_code"]
        ustats = self.stats.by_unit.get(code)
        if ustats is None:
            ustats = self.stats.by_unit[code] = UnitStats()
        ustats.dossiers += 1
        ustats.online += online
        by_type = self.stats.by_type
        by_type[_T_RECEIVED] += 1
        n = 1
        heap = self.heap
        source = c.source
        fmt = self.fmt
        for t, typ, d in events:
            if t >= end_ts:
                continue
            n += 1
            self.push_seq += 1
            heapq.heappush(heap, (t, self.push_seq, {
                "specversion": "1.0",
                "id": f"{subject}.e{n}",
                "source": source,
                "type": typ,
                "time": fmt(t),
                "subject": subject,
                "datacontenttype": "application/json",
                "data": d,
            }))
            by_type[typ] += 1
        ustats.events += n
        self.stats.events += n
        return received


def _first(item: tuple[int, str, dict[str, Any]]) -> int:
    return item[0]


__all__ = ["DossierGenerator", "DossierHook"]
