"""The v1.2 facts a run with the families adds (``SimulationConfig(families=True)``): what the
national portal's 2026 scoring of Decision 766 reads (docs/contract.md, "v1.2 additions"),
so that the demo scores every metric of catalog ``portal-766-2026``.

Every rate is **[M]**: chosen so that a simulated province looks like the one the portal
published (Phú Thọ, August 2026, docs/domain.md), not calibrated on any one unit.

Per dossier (its own random stream ``v12:<seed>``, so the other draws of a dossier and of
the run stay those of the run without these facts):

* ``citizen_data_used`` with ``citizen_data_share`` (46%: Phú Thọ's 46.4%);
* digitization: the core run digitizes most dossiers completely (its ``digitization``
  ratio); the portal sees far fewer (11.6% of handled dossiers): a complete digitization
  is kept with ``portal_digitized_keep_share`` (14%), else its latest event leaves one
  component undigitized (``digitized`` then counts it as incomplete);
* reuse: ``components_reused`` is kept on ``portal_reuse_keep_share`` (15%) of the
  dossiers whose digitization reused something (≈ 2% of handled, Phú Thọ's 1.7%), else set
  to 0; ``reuse_eligible`` on those kept and on ``reuse_eligible_share`` (10%) of the rest;
* e-results: a ``dossier.resolved`` without ``result_electronic`` gains it with
  ``e_result_extra_share`` (54%), so that ≈ 72% of resolved dossiers have one (the core's
  ``e_result_share`` is 40%);
* personal storage: ``personal_storage_share`` (2%) of resolved dossiers are pushed to the
  citizen's store (``dossier.synced``, target ``personal_storage``) within hours — small,
  non-zero so that the metric is exercised (Phú Thọ showed 0);
* portal sync: with ``portal_sync_share`` (90%) every status event is followed by a sync to
  ``dvcqg`` 1–20 hours later (one sync covers every status event since the last one within
  the window); the rest sync 30–72 hours late (late for the default 24-hour window);
  replaces the v1.1 families' single sync at receipt.

Per catalog entry (the catalog's random stream): ``fee_required`` when the procedure has a
fee; ``content_complete`` with ``content_complete_share`` (98%: Phú Thọ's units 87/89);
``citizen_data_connected`` with ``citizen_data_connected_share`` (23%: 297 / 1,301); a
commune's entry of the certified copy from the original (2.000815) is the electronic
service (``e_certified_copy``) with ``e_certified_copy_share`` (70%: some communes only).
An update (a publication after the first) has a deadline ``due_at`` 1–10 working days
after the decision that asked for it; ``catalog_update_late_share`` (20%) are published
after it.
"""

from __future__ import annotations

import random
from typing import Any

from kpi.simulate.course import event_type

T_SYNCED = event_type("dossier.synced")
T_RESOLVED = event_type("dossier.resolved")
T_DIGITIZED = event_type("dossier.digitized")
STATUS_TYPES = frozenset(event_type(t) for t in (
    "dossier.transferred", "dossier.supplement_requested", "dossier.supplemented",
    "dossier.extended", "dossier.resolved", "dossier.returned", "dossier.rejected",
    "dossier.withdrawn", "dossier.stopped"))
"""Status events after the receipt (kpi.sla.STATUS_KINDS, as event types)."""

E_CERTIFIED_COPY_PROCEDURE = "2.000815"
"""Chứng thực bản sao từ bản chính (the commune's procedure of the simulator)."""

HOUR = 3600

# the rates [M] (module constants: the config keeps the v1/v1.1 knobs)
CITIZEN_DATA_SHARE = 0.46
PORTAL_DIGITIZED_KEEP_SHARE = 0.14
PORTAL_REUSE_KEEP_SHARE = 0.15
REUSE_ELIGIBLE_SHARE = 0.10
E_RESULT_EXTRA_SHARE = 0.54
PERSONAL_STORAGE_SHARE = 0.02
CONTENT_COMPLETE_SHARE = 0.98
CITIZEN_DATA_CONNECTED_SHARE = 0.23
E_CERTIFIED_COPY_SHARE = 0.70
CATALOG_UPDATE_LATE_SHARE = 0.20
SYNC_WINDOW = 24 * HOUR
"""The default sync window the schedule aims at (setting ``sync_window_hours``)."""


class PortalFacts:
    """The v1.2 facts of one run's dossiers (in place, from their own random stream)."""

    def __init__(self, seed: int, portal_sync_share: float) -> None:
        self.rng = random.Random(f"v12:{seed}")
        self.portal_sync_share = portal_sync_share

    def dossier(self, data: dict[str, Any], events: list[tuple[int, str, dict[str, Any]]],
                ts_r: int) -> None:
        """Add the v1.2 fields to a dossier's ``data`` and its events (``events``: the
        dossier's own, each ``(time, type, data)``; changed in place)."""
        rand = self.rng.random
        if rand() < CITIZEN_DATA_SHARE:
            data["citizen_data_used"] = True
        digitized = [i for i, e in enumerate(events) if e[1] == T_DIGITIZED]
        reused = False
        if digitized:
            last = max(digitized, key=lambda i: events[i][0])
            t, typ, d = events[last]
            d = dict(d)
            if d["components_digitized"] == d["components_total"] > 0 and \
                    rand() >= PORTAL_DIGITIZED_KEEP_SHARE:
                d["components_digitized"] = d["components_total"] - 1
            if d.get("components_reused", 0) > 0 and rand() >= PORTAL_REUSE_KEEP_SHARE:
                d["components_reused"] = 0
            d["components_reused"] = min(d.get("components_reused", 0),
                                         d["components_digitized"])
            reused = d["components_reused"] > 0
            events[last] = (t, typ, d)
            for i in digitized:  # an earlier pass never reuses more than the latest
                if i != last:
                    t0, typ0, d0 = events[i]
                    events[i] = (t0, typ0, {**d0, "components_reused": 0})
        if reused or rand() < REUSE_ELIGIBLE_SHARE:
            data["reuse_eligible"] = True
        resolved_at = None
        for i, (t, typ, d) in enumerate(events):
            if typ == T_RESOLVED:
                resolved_at = t
                if not d.get("result_electronic") and rand() < E_RESULT_EXTRA_SHARE:
                    events[i] = (t, typ, {**d, "result_electronic": True})
        if resolved_at is not None and rand() < PERSONAL_STORAGE_SHARE:
            events.append((resolved_at + HOUR + int(rand() * 6 * HOUR), T_SYNCED,
                           {"target": "personal_storage"}))
        self._syncs(events, ts_r)

    def _syncs(self, events: list[tuple[int, str, dict[str, Any]]], ts_r: int) -> None:
        """Replace the dossier's syncs to ``dvcqg`` by a schedule after its status events."""
        rand = self.rng.random
        events[:] = [e for e in events if not (e[1] == T_SYNCED
                                               and e[2].get("target") == "dvcqg")]
        timely = rand() < self.portal_sync_share
        statuses = sorted([ts_r] + [t for t, typ, _ in events if typ in STATUS_TYPES])
        synced_to: int | None = None  # the latest sync scheduled
        for t in statuses:
            if synced_to is not None and t <= synced_to <= t + SYNC_WINDOW:
                continue
            if timely:
                synced_to = t + HOUR + int(rand() * 19 * HOUR)
            else:
                synced_to = t + 30 * HOUR + int(rand() * 42 * HOUR)
            events.append((synced_to, T_SYNCED, {"target": "dvcqg"}))

    def entry(self, rng: random.Random, procedure: str, level: str, fee: bool
              ) -> dict[str, Any]:
        """The v1.2 fields of one catalog entry (drawn from the catalog's stream ``rng``)."""
        out: dict[str, Any] = {"fee_required": fee}
        if rng.random() >= CONTENT_COMPLETE_SHARE:
            out["content_complete"] = False
        if rng.random() < CITIZEN_DATA_CONNECTED_SHARE:
            out["citizen_data_connected"] = True
        if level == "commune" and procedure == E_CERTIFIED_COPY_PROCEDURE and \
                rng.random() < E_CERTIFIED_COPY_SHARE:
            out["e_certified_copy"] = True
        return out

    @staticmethod
    def update_due(rng: random.Random, published: int, working_day: int) -> int:
        """The deadline of an update published at ``published``: 1–10 working days
        (``working_day`` seconds each, roughly) after the decision that asked for it —
        before the publication for the late ones."""
        days = (1 + rng.randrange(10)) * working_day
        if rng.random() < CATALOG_UPDATE_LATE_SHARE:
            return published - days
        return published + days


__all__ = ["PortalFacts", "STATUS_TYPES"]
