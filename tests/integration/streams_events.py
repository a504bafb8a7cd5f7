"""Event lines for the streaming tests: ``kpi.simulate`` when it exists, else a small
deterministic generator of the same kind (shuffled, with duplicates and invalid lines);
the simulator across the 2025 reorganisation with its unit registry, and that registry
after a later merger decision."""

from __future__ import annotations

import random
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import orjson

from tests.eventkit import event_dict

P = "vn.gov.motcua."
"""The event type prefix (for the invalid line with an unknown type)."""
SOURCE = "urn:motcua:test"


def _ts(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).isoformat()


def _event(n: int, kind: str, code: str, t: float,
           data: dict[str, Any] | None = None) -> dict[str, Any]:
    return event_dict(kind, _ts(t), code, source=SOURCE, id_=f"e{n}", **(data or {}))


def fallback_lines(
    n_events: int, *, seed: int = 7, units: int = 6, now: float | None = None
) -> list[bytes]:
    """About ``n_events`` lines: dossiers over the last ~5 months, shuffled, ~3% duplicates
    and ~1% invalid lines."""
    rng = random.Random(seed)
    now = now if now is not None else datetime.now(UTC).timestamp()
    out: list[dict] = []
    n = 0
    d = 0
    while len(out) < n_events:
        d += 1
        code = f"HS-{seed}-{d:06d}"
        unit = f"U{rng.randrange(units)}"
        received = now - rng.uniform(3600, 150 * 86400)
        data = {"unit_code": unit, "unit_level": "district", "procedure_code": "P1",
                "channel": rng.choice(["direct", "online", "postal"]),
                "online_level": rng.choice(["none", "partial", "full"]),
                "full_online_eligible": rng.random() < 0.5,
                "fee_required": rng.random() < 0.3}
        if rng.random() < 0.5:
            data["due_at"] = _ts(received + rng.uniform(1, 20) * 86400)
        else:
            data["processing_days"] = rng.randrange(1, 15)
        evs = [] if rng.random() < 0.02 else [_event(n := n + 1, "dossier.received", code,
                                                     received, data)]
        t = received
        if rng.random() < 0.2:
            t += rng.uniform(0, 5) * 86400
            evs.append(_event(n := n + 1, "dossier.supplement_requested", code, t, {}))
            if rng.random() < 0.8:
                t += rng.uniform(0, 5) * 86400
                evs.append(_event(n := n + 1, "dossier.supplemented", code, t))
        if rng.random() < 0.1:
            evs.append(_event(n := n + 1, "dossier.extended", code, t + 3600,
                              {"new_due_at": _ts(t + 30 * 86400)}))
        if data["fee_required"]:
            evs.append(_event(n := n + 1, "payment.completed", code, received + 60,
                              {"amount_vnd": 50000, "method": rng.choice(["online", "cash"])}))
        if rng.random() < 0.3:
            evs.append(_event(n := n + 1, "dossier.digitized", code, received + 120,
                              {"components_total": 3,
                               "components_digitized": rng.choice([2, 3])}))
        r = rng.random()
        if r < 0.6:
            done = t + rng.uniform(0.1, 25) * 86400
            if done < now:
                evs.append(_event(n := n + 1, "dossier.resolved", code, done,
                                  {"result_electronic": rng.random() < 0.5}))
                if rng.random() < 0.5:
                    evs.append(_event(n := n + 1, "feedback.rated", code, done + 3600,
                                      {"rating": rng.choice(
                                          ["satisfied", "neutral", "dissatisfied"])}))
        elif r < 0.65:
            evs.append(_event(n := n + 1, "dossier.rejected", code, t + 7200, {}))
        out.extend(evs)
    lines = [orjson.dumps(e) for e in out]
    dups = [rng.choice(lines) for _ in range(len(lines) // 30)]
    bad = [b'{"specversion": "1.0", "id": "x"}', b"not json at all",
           orjson.dumps({**out[0], "type": P + "dossier.exploded"})]
    invalid = [rng.choice(bad) for _ in range(len(lines) // 100)]
    lines = lines + dups + invalid
    rng.shuffle(lines)
    return lines


def event_lines(n_events: int, *, seed: int = 7) -> list[bytes]:
    """At least ``n_events`` lines from the project's simulator (a 2025 year of one province,
    shuffled, 3% duplicates, 1% invalid); :func:`fallback_lines` if it is missing."""
    try:
        from kpi.simulate import SimulationConfig, generate_lines
    except ImportError:
        return fallback_lines(n_events, seed=seed)
    scale = n_events / 130_000
    while True:
        config = SimulationConfig(seed=seed, scale=scale, shuffle=True, duplicates=0.03,
                                  invalid=0.01)
        lines = list(generate_lines(config))
        if len(lines) >= n_events:
            return lines
        scale *= 1.2 * n_events / max(len(lines), 1)


def reorganisation_lines(n_events: int, *, seed: int = 7
                         ) -> tuple[list[bytes], list[tuple[str, ...]]]:
    """At least ``n_events`` lines of the simulator across the 1/7/2025 reorganisation
    (``SimulationConfig(reorganisation=True)``: shuffled, 3% duplicates, 1% invalid) and
    the rows of the unit registry it used (:func:`kpi.simulate.reorg.write_registry`)."""
    from kpi.simulate import SimulationConfig, generate_lines

    scale = n_events / 130_000
    while True:
        config = SimulationConfig(seed=seed, scale=scale, shuffle=True, duplicates=0.03,
                                  invalid=0.01, reorganisation=True)
        lines = list(generate_lines(config))
        if len(lines) >= n_events:
            return lines, config.registry_rows()
        scale *= 1.2 * n_events / max(len(lines), 1)


def later_merger(rows: list[tuple[str, ...]], code: str = "DT.M03", into: str = "DT.M02",
                 last_day: str = "2025-09-30") -> list[tuple[str, ...]]:
    """The registry ``rows`` after a new decision: unit ``code`` ceases after ``last_day``
    and ``into`` takes it over (its successor). Dossiers received under ``code`` later
    then count for ``into``."""
    out = []
    for row in rows:
        if row[0] == code and not row[5]:  # its version in force: it ends, with a successor
            row = (*row[:5], last_day, into)
        out.append(row)
    assert out != rows, f"no version of {code} in force in the registry"
    return out


def iter_keys(lines: list[bytes]) -> Iterator[tuple[bytes | None, bytes]]:
    """(key = subject, value) per line; unparseable lines get no key."""
    for line in lines:
        try:
            key = orjson.loads(line).get("subject")
        except (orjson.JSONDecodeError, AttributeError):
            key = None
        yield (key.encode() if isinstance(key, str) else None), line




def family_lines(n_events: int, *, seed: int = 7, units: int = 6,
                 now: float | None = None) -> list[bytes]:
    """:func:`fallback_lines` (dossiers of procedure P1 at units U0…U5) plus the v1.1
    families at about a tenth of the volume each: petitions (PAKN) — a third naming one of
    those dossiers, some outside competence, answered early, late or never, some rated —, a
    procedure catalog per unit (P1 and P2: published with deadlines, some late, some
    updated or withdrawn later) and documents. Shuffled, with duplicates: every join
    crosses subjects and partitions."""
    rng = random.Random(seed + 1000)
    now = now if now is not None else datetime.now(UTC).timestamp()
    dossier_lines = fallback_lines(n_events, seed=seed, units=units, now=now)
    codes = sorted({obj["subject"] for line in dossier_lines
                    if (obj := _json(line)) is not None and "subject" in obj})
    out: list[dict[str, Any]] = []
    n = 10_000_000  # ids apart from the dossiers' (same source)
    for u in range(units):
        unit = f"U{u}"
        for procedure in ("P1", "P2"):
            subject = f"{unit}/{procedure}"
            t = now - rng.uniform(160, 200) * 86400
            data = {"unit_code": unit, "unit_level": "district", "procedure_code": procedure,
                    "online_level": rng.choice(["none", "partial", "full"]),
                    "online_payment": rng.random() < 0.5,
                    "due_at": _ts(t + rng.uniform(-5, 5) * 86400)}
            out.append(_event(n := n + 1, "procedure.published", subject, t, data))
            if rng.random() < 0.5:
                later = now - rng.uniform(10, 120) * 86400
                if rng.random() < 0.5:
                    out.append(_event(n := n + 1, "procedure.withdrawn", subject, later))
                else:
                    out.append(_event(n := n + 1, "procedure.published", subject, later,
                                      {**data, "online_level": "full",
                                       "online_payment": True}))
    for p in range(n_events // 10):
        code = f"PAKN-{seed}-{p:05d}"
        received = now - rng.uniform(3600, 150 * 86400)
        data = {"unit_code": f"U{rng.randrange(units)}", "unit_level": "district",
                "channel": rng.choice(["direct", "online", "postal", "hotline"]),
                "within_competence": rng.random() < 0.9}
        if rng.random() < 0.5:
            data["due_at"] = _ts(received + rng.uniform(1, 20) * 86400)
        else:
            data["processing_days"] = rng.randrange(1, 15)
        if rng.random() < 0.35:
            data["dossier_code"] = rng.choice(codes)
        out.append(_event(n := n + 1, "petition.received", code, received, data))
        if rng.random() < 0.7:
            answered = received + rng.uniform(0.1, 25) * 86400
            if answered < now:
                out.append(_event(n := n + 1, "petition.answered", code, answered))
                if rng.random() < 0.5:
                    out.append(_event(n := n + 1, "petition.rated", code, answered + 600,
                                      {"rating": rng.choice(["satisfied", "neutral",
                                                             "dissatisfied"])}))
    for d in range(n_events // 10):
        electronic = rng.random() < 0.8
        out.append(_event(n := n + 1, "document.issued", f"VB-{seed}-{d:05d}",
                          now - rng.uniform(3600, 150 * 86400),
                          {"unit_code": f"U{rng.randrange(units)}", "unit_level": "district",
                           "electronic": electronic,
                           "digitally_signed": electronic and rng.random() < 0.7}))
    lines = [orjson.dumps(e) for e in out]
    lines += [rng.choice(lines) for _ in range(len(lines) // 30)]
    lines += dossier_lines
    rng.shuffle(lines)
    return lines


def _json(line: bytes) -> dict[str, Any] | None:
    try:
        obj = orjson.loads(line)
    except orjson.JSONDecodeError:
        return None
    return obj if isinstance(obj, dict) else None


PORTAL_UNITS = """code,name,level,parent,valid_from,valid_to,successor
PV,Tỉnh Thử,province,,2020-01-01,,
U0,Xã Không,commune,PV,2020-01-01,,
U1,Xã Một,commune,PV,2020-01-01,,
U2,Xã Hai,commune,PV,2020-01-01,,
U3,Sở Ba,province,PV,2020-01-01,,
U4,Xã Bốn,commune,U3,2020-01-01,,
U5,Xã Năm,commune,U3,2020-01-01,,
"""
"""The units of :func:`portal_lines`: a province, three communes, a department with two
communes below it (levels from the registry; the events say ``district``)."""


def portal_lines(n_events: int, *, seed: int = 7, now: float | None = None) -> list[bytes]:
    """:func:`family_lines` with the v1.2 facts mixed in (drawn per event from its id, so
    duplicates stay duplicates): dossiers with ``citizen_data_used`` / ``reuse_eligible``,
    online payments through the portal's gateway, syncs to ``dvcqg`` some within and some
    outside a day of a status event and to ``personal_storage``, catalog entries (P1 and P2
    at every unit: the same codes at several units) with ``fee_required``,
    ``content_complete``, ``citizen_data_connected``, ``e_certified_copy`` and updates with
    deadlines."""
    now = now if now is not None else datetime.now(UTC).timestamp()
    out: list[bytes] = []
    n = 20_000_000  # ids apart from the families'
    for line in family_lines(n_events, seed=seed, now=now):
        obj = _json(line)
        if obj is None or not isinstance(obj.get("data"), dict) or "id" not in obj:
            out.append(line)
            continue
        rng = random.Random(f"{seed}:{obj['id']}")
        kind, data = obj.get("type", "")[len(P):], obj["data"]
        if kind == "dossier.received":
            data["citizen_data_used"] = rng.random() < 0.5
            if rng.random() < 0.3:
                data["reuse_eligible"] = True
            t = datetime.fromisoformat(obj["time"]).timestamp()
            for _ in range(rng.randrange(3)):
                t += rng.uniform(0.5, 40) * 3600
                if t < now:
                    target = "personal_storage" if rng.random() < 0.1 else "dvcqg"
                    out.append(orjson.dumps(_event(n := n + 1, "dossier.synced",
                                                   obj["subject"], t, {"target": target})))
        elif kind == "payment.completed" and data.get("method") == "online":
            data["gateway"] = "dvcqg" if rng.random() < 0.6 else "provincial"
        elif kind == "procedure.published":
            data["fee_required"] = rng.random() < 0.5
            data["content_complete"] = rng.random() < 0.9
            data["citizen_data_connected"] = rng.random() < 0.3
            data["e_certified_copy"] = rng.random() < 0.3
        out.append(orjson.dumps(obj))
    return out
