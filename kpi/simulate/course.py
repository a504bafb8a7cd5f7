"""The course of one simulated dossier: what it is and what happens to it, drawn.

:class:`DossierCourse` draws, for a dossier received at a given office instant, its code,
its procedure, the ``data`` of its receipt and the other events of its life: transfer,
digitization, supplementation pauses, an extension with an apology, resolution and return
of the result, payment and rating — or a rejection or a withdrawal instead. The due instant
is ``WorkingCalendar.due_instant``; the resolution is placed in *office time* (working days
× 9.5 h, 7:30–17:00 local) relative to that due instant, so a dossier is early, on time or
late by construction; citizen pauses (supplementation) are added on top in calendar days.
The other behaviours (supplements, apologies, rejections, fees, ratings…) are per-dossier
draws with the shares of :class:`SimulationConfig`.

With ``reorganisation`` (:mod:`kpi.simulate.reorg`) a dossier received from the cutover is
received under its unit's successor; and, drawn from a random stream of their own (so the
dossiers' other draws are those of the v1 stream): a share is handled by another unit than
the receiving desk (``handling_unit_code``: before the cutover a commune's dossier by the
district, a district's by the province; from it by another new commune or the province),
a share synced to the national portal (``dossier.synced``), a share stopped before its due
instant (``dossier.stopped``, later events dropped). Digitizations reuse components in
either mode.

When dossiers are received and how their events leave in time order:
:class:`kpi.simulate.core.DossierGenerator`. The event type names are the contract's
(:data:`schemas.events.EVENT_TYPES`).
"""

from __future__ import annotations

import random
from bisect import bisect_right
from collections import Counter
from datetime import timedelta
from itertools import accumulate
from typing import Any

from kpi.calendar import (
    DAY_SECONDS,
    LOCAL_OFFSET_SECONDS,
    WorkingCalendar,
    date_to_day,
    day_to_date,
    local_day,
)
from kpi.simulate.config import SimulationConfig, working_days
from kpi.simulate.procedures import Procedure
from kpi.simulate.profiles import UnitProfile
from kpi.simulate.timefmt import TimeFormatter
from schemas.events import EVENT_TYPES, TYPE_PREFIX

OFFICE_OPEN = 7 * 3600 + 1800  # 7:30 local
OFFICE_CLOSE = 17 * 3600  # 17:00 local
OFFICE_LEN = OFFICE_CLOSE - OFFICE_OPEN  # 34,200 s of office time per working day
_OPEN_UTC = OFFICE_OPEN - LOCAL_OFFSET_SECONDS  # 7:30 local as seconds after 00:00 UTC


def event_type(short: str) -> str:
    """The full type name of a contract event type (``dossier.received`` →
    ``vn.gov.motcua.dossier.received``); a name the contract does not know is refused."""
    name = TYPE_PREFIX + short
    if name not in EVENT_TYPES:
        raise ValueError(f"not a v1 event type: {short!r}")
    return name


_SUPPLEMENT_REASONS = (
    "Thiếu bản sao giấy tờ tùy thân",
    "Thông tin trên tờ khai chưa chính xác",
    "Thiếu chữ ký của người yêu cầu",
    "Cần bổ sung bản vẽ, sơ đồ",
    "Giấy tờ kèm theo hết hiệu lực",
)
_REJECT_REASONS = (
    "Hồ sơ không thuộc thẩm quyền giải quyết",
    "Không đủ điều kiện giải quyết theo quy định",
    "Giấy tờ có dấu hiệu giả mạo",
)
_PAUSE_DAYS = (1, 1, 2, 2, 3, 3, 4, 5, 7, 10)
_LATE_DAYS = (1, 1, 1, 1, 2, 2, 3, 5)
_RETURN_DAYS = (0, 0, 0, 1, 1, 2, 3, 5)

_T_TRANSFERRED = event_type("dossier.transferred")
_T_SUPP_REQ = event_type("dossier.supplement_requested")
_T_SUPP = event_type("dossier.supplemented")
_T_EXTENDED = event_type("dossier.extended")
_T_RESOLVED = event_type("dossier.resolved")
_T_RETURNED = event_type("dossier.returned")
_T_REJECTED = event_type("dossier.rejected")
_T_WITHDRAWN = event_type("dossier.withdrawn")
_T_DIGITIZED = event_type("dossier.digitized")
_T_PAYMENT = event_type("payment.completed")
_T_RATED = event_type("feedback.rated")
_T_SYNCED = event_type("dossier.synced")
_T_STOPPED = event_type("dossier.stopped")
_STOP_REASONS = (
    "Người yêu cầu không bổ sung hồ sơ theo thông báo",
    "Thủ tục đã được bãi bỏ",
    "Có tranh chấp cần giải quyết tại Tòa án",
)


class DossierCourse:
    """The draws of one run's dossiers: one :meth:`draw` per dossier, in receipt order."""

    def __init__(self, config: SimulationConfig) -> None:
        self.c = config
        self.rng = random.Random(config.seed)
        self.cal = WorkingCalendar(config.calendar_rules)
        self.fmt = TimeFormatter()
        # working-day table, far enough past the end for due dates, lateness and returns
        last = config.end + timedelta(days=400)
        self.wdays = working_days(self.cal, config.start, last)
        self.widx = {d: k for k, d in enumerate(self.wdays)}
        self.seq_by_year: Counter[int] = Counter()
        self.reorg = config.reorganisation_plan()
        self.rng11 = random.Random(f"v11:{config.seed}")
        """The draws of the v1.1 behaviours (only with ``reorganisation``)."""
        self.cutover_ts = (date_to_day(config.cutover) * DAY_SECONDS - LOCAL_OFFSET_SECONDS
                           if self.reorg is not None else None)
        self.proc_tables: dict[str, tuple[tuple[Procedure, ...], list[float], float]] = {}
        for level, procs in config.procedures:
            cum = list(accumulate(p.weight for p in procs))
            self.proc_tables[level] = (procs, cum, cum[-1])

    # -- helpers on (working-day index k, office second s) ---------------------------

    def ts_of(self, k: int, s: int) -> int:
        return self.wdays[k] * DAY_SECONDS + _OPEN_UTC + s

    def ks_of(self, ts: int) -> tuple[int, int]:
        """Working-day index and office second of an instant on a working day, in hours."""
        lt = ts + LOCAL_OFFSET_SECONDS
        day = lt // DAY_SECONDS
        return self.widx[day], lt - day * DAY_SECONDS - OFFICE_OPEN

    # -- one dossier --------------------------------------------------------------

    def draw(self, k_r: int, s_r: int, ts_r: int, unit: UnitProfile, channel: str
             ) -> tuple[str, dict[str, Any], list[tuple[int, str, dict[str, Any]]]]:
        """The dossier received on working day ``k_r`` at office second ``s_r`` (instant
        ``ts_r``) by ``unit`` through ``channel``: its code, its receipt's ``data`` and
        the ``(instant, type, data)`` of its other events (unsorted; the end of the range
        not applied)."""
        c = self.c
        rng = self.rng
        rand = rng.random
        L = OFFICE_LEN
        # ---- identity and procedure
        year = day_to_date(self.wdays[k_r]).year
        self.seq_by_year[year] += 1
        subject = f"{c.code_prefix}-{year}-{self.seq_by_year[year]:06d}"
        procs, cum, total = self.proc_tables[unit.level]
        proc = procs[bisect_right(cum, rand() * total)]
        days = proc.days
        due_ts = int(self.cal.due_instant(float(ts_r), days))
        due_k = self.widx[local_day(due_ts)]
        w_r = k_r * L + s_r
        due_start = due_k * L  # office-time start of the due day
        online = channel == "online"
        eligible = proc.full_online
        if online:
            level = "full" if eligible and rand() < c.full_online_share else "partial"
        else:
            level = "none"
        fee = proc.fee_vnd > 0 and rand() >= c.fee_exempt_share
        paper = not (level == "full" and rand() < 0.2)
        data: dict[str, Any] = {
            "unit_code": unit.code,
            "unit_level": unit.level,
            "procedure_code": proc.code,
            "channel": channel,
            "online_level": level,
            "full_online_eligible": eligible,
        }
        if rand() < c.due_at_share:
            data["due_at"] = self.fmt(due_ts)
        else:
            data["processing_days"] = days
        data["fee_required"] = fee
        data["paper_result"] = paper
        events: list[tuple[int, str, dict[str, Any]]] = []
        ev = events.append

        # ---- side events at receipt
        if proc.office is not None and rand() < c.transfer_share:
            ev((ts_r + 300 + int(rand() * 7200), _T_TRANSFERRED,
                {"from_unit": unit.code, "to_unit": f"{unit.code}.{proc.office}"}))
        u = rand()
        if u < c.digitized_event_share:
            n_comp = max(1, proc.components + (rng.randrange(3) - 1))
            t_dig = ts_r + 60 + int(rand() * 1800)
            reused = rng.randrange(n_comp + 1) if rand() < 0.2 else 0
            if u < c.digitized_complete_share:
                if rand() < 0.1 and n_comp > 1:  # scanned in two passes
                    ev((t_dig, _T_DIGITIZED, {"components_total": n_comp,
                                              "components_digitized": n_comp - 1,
                                              "components_reused": 0}))
                    t_dig += DAY_SECONDS + int(rand() * 3600)
                ev((t_dig, _T_DIGITIZED, {"components_total": n_comp,
                                          "components_digitized": n_comp,
                                          "components_reused": reused}))
            else:
                done = rng.randrange(n_comp)
                ev((t_dig, _T_DIGITIZED, {"components_total": n_comp,
                                          "components_digitized": done,
                                          "components_reused": min(reused, done)}))

        fate = rand()
        if fate < c.rejection_share:
            span = max(600, min(2 * L, due_start + L - w_r - 600))
            t = self._office_ts(w_r + 300 + int(rand() * span))
            ev((t, _T_REJECTED, {"reason": _REJECT_REASONS[rng.randrange(3)]}))
            events[:] = [e for e in events if e[0] <= t]
        elif fate < c.rejection_share + c.withdrawal_share:
            span = max(600, due_start + L - w_r - 900)
            w = w_r + 300 + int(rand() * span)
            if rand() < 0.3:  # gave up during a supplementation request
                t_req = self._office_ts(w)
                ev((t_req, _T_SUPP_REQ,
                    {"reason": _SUPPLEMENT_REASONS[rng.randrange(5)]}))
                ev((t_req + DAY_SECONDS * _PAUSE_DAYS[rng.randrange(10)] + int(rand() * 3600),
                    _T_WITHDRAWN, {}))
            else:
                ev((self._office_ts(w), _T_WITHDRAWN, {}))
            self._payment(events, fee, online, ts_r, proc, before=None)
            t_end = max(t for t, typ, _ in events if typ in (_T_WITHDRAWN, _T_REJECTED))
            events[:] = [e for e in events if e[0] <= t_end]
        else:
            self._resolution(events, unit, proc, subject, online, fee, paper, level,
                             ts_r, w_r, due_ts, due_start)
        if self.reorg is not None:
            self._v11(data, events, unit, ts_r, due_ts)
        return subject, data, events

    def _v11(self, data: dict[str, Any], events: list[tuple[int, str, dict[str, Any]]],
             unit: UnitProfile, ts_r: int, due_ts: int) -> None:
        """The reorganisation's codes and the v1.1 behaviours of one dossier (in place)."""
        reorg, c, rand = self.reorg, self.c, self.rng11.random
        assert reorg is not None and self.cutover_ts is not None
        after = ts_r >= self.cutover_ts
        if after:
            data["unit_code"], data["unit_level"] = reorg.after(unit)
        if rand() < c.other_desk_share:
            if after:
                others = [d for d in reorg.desks_after() if d[0] != data["unit_code"]]
                desk = others[self.rng11.randrange(len(others))] if others else None
            elif unit.level == "commune":
                desk = (unit.parent, "district")
            else:
                desk = (unit.parent, "province") if unit.parent else None
            if desk is not None:
                data["handling_unit_code"], data["handling_unit_level"] = desk
        if rand() < c.synced_share:
            events.append((ts_r + 120 + int(rand() * 3600), _T_SYNCED, {"target": "dvcqg"}))
        stop = rand() < c.stopped_share
        t_stop = ts_r + 600 + int(rand() * max(600, due_ts - ts_r - 1200))
        if stop and not any(typ in (_T_REJECTED, _T_WITHDRAWN) for _, typ, _ in events):
            events[:] = [e for e in events if e[0] < t_stop]
            events.append((t_stop, _T_STOPPED,
                           {"reason": _STOP_REASONS[self.rng11.randrange(3)]}))

    def _office_ts(self, w: int) -> int:
        k, s = divmod(w, OFFICE_LEN)
        return self.ts_of(k, s)

    def _payment(self, events: list[tuple[int, str, dict[str, Any]]], fee: bool, online: bool,
                 ts_r: int, proc: Procedure, before: int | None) -> None:
        if not fee:
            return
        rand = self.rng.random
        amount = proc.fee_vnd * (1 + self.rng.randrange(5) if proc.per_page else 1)
        if online and rand() < self.c.online_payment_share:
            data: dict[str, Any] = {"amount_vnd": amount, "method": "online",
                                    "gateway": "dvcqg" if rand() < 0.7 else "provincial"}
            t = ts_r + 60 + int(rand() * 3600)
        else:
            data = {"amount_vnd": amount, "method": "cash" if rand() < 0.75 else "transfer"}
            if before is not None and rand() < 0.3:  # paid when collecting the result
                t = before - 60 - int(rand() * 600)
            else:
                t = ts_r + 60 + int(rand() * 900)
        events.append((max(t, ts_r + 1), _T_PAYMENT, data))

    def _resolution(self, events: list[tuple[int, str, dict[str, Any]]], unit: UnitProfile,
                    proc: Procedure, subject: str, online: bool, fee: bool, paper: bool,
                    level: str, ts_r: int, w_r: int, due_ts: int, due_start: int) -> None:
        c = self.c
        rng = self.rng
        rand = rng.random
        L = OFFICE_LEN
        ev = events.append
        late = rand() >= unit.on_time_share
        # adjusted completion (office time): early, on the due day, or late
        if late:
            w_adj = due_start + L + int(rand() * L * _LATE_DAYS[rng.randrange(8)])
        elif rand() < 0.35 or due_start - w_r < 1800:
            lo = max(0, w_r - due_start + 60)
            w_adj = due_start + lo + int(rand() * (L - 60 - lo))
        else:
            w_adj = w_r + 600 + int((due_start - w_r - 660) * rand() ** 1.3)
        # supplementation pauses (citizen time, whole calendar days)
        if late and rand() < c.double_supplement_late_share:
            n_pause = 2
        else:
            n_pause = 1 if rand() < c.supplement_share else 0
        if w_adj - w_r < 1200:
            n_pause = 0
        pause_total = 0
        if n_pause:
            points = sorted(w_r + 300 + int(rand() * (w_adj - w_r - 600)) for _ in range(n_pause))
            for i, w in enumerate(points):
                d = _PAUSE_DAYS[rng.randrange(10)]
                t_req = self._office_ts(w) + pause_total
                if i == n_pause - 1:  # the completion must land on a working day
                    base = self._office_ts(w_adj) + pause_total
                    while local_day(base + d * DAY_SECONDS) + 0 not in self.widx:
                        d += 1
                ev((t_req, _T_SUPP_REQ, {"reason": _SUPPLEMENT_REASONS[rng.randrange(5)]}))
                ev((t_req + d * DAY_SECONDS, _T_SUPP, {}))
                pause_total += d * DAY_SECONDS
        res_ts = self._office_ts(w_adj) + pause_total
        k_res, s_res = self.ks_of(res_ts)
        # apology and a new appointment for late dossiers
        if late:
            a = rand()
            if a < c.apology_before_due_share:
                lo = max(w_r + 300, due_start - 2 * L)
                t_ext = self._office_ts(lo + int(rand() * (due_start + L - 300 - lo)))
            elif a < c.apology_before_due_share + c.apology_after_due_share:
                t_ext = due_ts + 60 + int(rand() * max(0, res_ts - due_ts - 120))
            else:
                t_ext = 0
            if t_ext:
                new_due = self.ts_of(k_res + _RETURN_DAYS[rng.randrange(8)] // 2, L)
                ev((t_ext, _T_EXTENDED, {"new_due_at": self.fmt(new_due),
                                         "apology_ref": f"{subject}/TB-XL"}))
        electronic = (not paper) or rand() < c.e_result_share
        returned_only = not electronic and rand() < c.returned_only_share
        if not returned_only:
            ev((res_ts, _T_RESOLVED, {"result_electronic": electronic}))
        # return of the result (for a system that only reports returns, that is completion)
        if returned_only:
            ret_ts = res_ts
            ret_channel = "counter"
        elif online and electronic:
            ret_ts = res_ts + 60 + int(rand() * 1800)
            ret_channel = "online"
        else:
            j = _RETURN_DAYS[rng.randrange(8)]
            if j == 0 and s_res > L - 120:
                j = 1
            if j == 0:
                s = s_res + 60 + int(rand() * (L - s_res - 60))
            else:
                s = int(rand() * L)
            ret_ts = self.ts_of(k_res + j, s)
            ret_channel = "postal" if not online and rand() < 0.05 else "counter"
        ev((ret_ts, _T_RETURNED, {"return_channel": ret_channel}))
        self._payment(events, fee, online, ts_r, proc, before=ret_ts)
        if rand() < c.rated_share:
            r = rand()
            if late:
                rating = "satisfied" if r < 0.6 else "neutral" if r < 0.85 else "dissatisfied"
            else:
                sat = c.satisfied_share
                rating = ("satisfied" if r < sat else
                          "neutral" if r < sat + (1 - sat) * 0.75 else "dissatisfied")
            ev((ret_ts + 60 + int(rand() * 3 * DAY_SECONDS), _T_RATED, {"rating": rating}))


__all__ = ["OFFICE_LEN", "OFFICE_OPEN", "DossierCourse", "event_type"]
