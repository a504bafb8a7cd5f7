"""The ledger rules (:mod:`kpi.ledger`): a dossier's entry as of a horizon, from its events
in any order, and its SQL row (:func:`consumers.store.ledger_row`)."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime

from consumers.store import ledger_row
from consumers.tables import dossiers
from kpi.ledger import CLASSIFICATIONS, RULE_SET_VERSION, fold_events, judge, paused_seconds
from kpi.sla import summarize
from kpi.units import CalendarBook
from tests.eventkit import event_dict, json_line, received_dict

CAL = CalendarBook()


def _ts(text: str) -> float:
    return datetime.fromisoformat(text).timestamp()


EVENTS = [
    json_line(received_dict("2025-03-03T08:00:00+07:00", "H1", level="commune",
                            due="2025-03-07T17:00:00+07:00", id_="r")),
    json_line(event_dict("dossier.supplement_requested", "2025-03-04T09:00:00+07:00", "H1",
                         id_="s1")),
    json_line(event_dict("dossier.supplemented", "2025-03-04T11:00:00+07:00", "H1",
                         id_="s2")),
    json_line(event_dict("dossier.resolved", "2025-03-06T10:00:00+07:00", "H1", id_="c",
                         result_electronic=True)),
]


def test_entry_of_a_resolved_dossier() -> None:
    horizon = _ts("2025-04-01T00:00:00+07:00")
    entry = judge("H1", EVENTS, horizon, CAL)
    assert entry is not None
    assert entry.code == "H1" and entry.unit == "U1" and entry.level == "commune"
    assert entry.received_at == _ts("2025-03-03T08:00:00+07:00")
    assert entry.due_at == _ts("2025-03-07T17:00:00+07:00")
    assert entry.completed_at == _ts("2025-03-06T10:00:00+07:00")
    assert entry.ended_at is None and entry.extended_due_at is None
    assert entry.classification == "early"
    assert entry.supplement_requests == 1
    assert entry.paused_seconds == 2 * 3600
    assert entry.apology is False
    assert entry.rule_set_version == RULE_SET_VERSION


def test_entry_is_the_same_in_every_arrival_order_and_with_duplicates() -> None:
    horizon = _ts("2025-04-01T00:00:00+07:00")
    want = judge("H1", EVENTS, horizon, CAL)
    for order in itertools.permutations(EVENTS):
        assert judge("H1", [*order, order[0]], horizon, CAL) == want


def test_entry_as_of_earlier_horizons() -> None:
    # before the received event: no entry
    assert judge("H1", EVENTS, _ts("2025-03-03T07:00:00+07:00"), CAL) is None
    # inside the open pause: paused up to the horizon, still in progress
    inside = judge("H1", EVENTS, _ts("2025-03-04T10:00:00+07:00"), CAL)
    assert inside is not None
    assert inside.classification == "in_progress" and inside.paused_seconds == 3600
    assert inside.completed_at is None
    # past due with no completion: overdue
    late = judge("H1", EVENTS[:1], _ts("2025-03-10T09:00:00+07:00"), CAL)
    assert late is not None and late.classification == "overdue"


def test_paused_seconds_counts_an_open_pause_up_to_the_horizon() -> None:
    state = fold_events("H1", EVENTS[:2])  # requested, never supplemented
    horizon = _ts("2025-03-04T12:00:00+07:00")
    d = summarize(state, horizon, CAL)
    assert d is not None
    assert paused_seconds(d, horizon) == 3 * 3600


def test_sql_row_holds_utc_datetimes() -> None:
    entry = judge("H1", EVENTS, _ts("2025-04-01T00:00:00+07:00"), CAL)
    assert entry is not None
    now = datetime(2025, 4, 1, tzinfo=UTC)
    row = ledger_row(entry, now)
    assert row["received_at"] == datetime(2025, 3, 3, 1, 0, tzinfo=UTC)
    assert row["completed_at"] == datetime(2025, 3, 6, 3, 0, tzinfo=UTC)
    assert row["ended_at"] is None and row["extended_due_at"] is None
    assert row["classification"] == "early" and row["updated_at"] == now
    assert set(row) == {c.name for c in dossiers.columns}


def test_handling_unit_and_stopped() -> None:
    """A dossier filed at one desk and handled by another unit (docs/contract.md
    ``handling_unit_code``), then stopped (``dossier.stopped``, Circular 03/2025): the entry
    names both units and is ``stopped``, ended at the notice; its SQL row too."""
    events = [
        json_line(received_dict("2025-07-03T08:00:00+07:00", "H2", unit="C1",
                                level="commune", due="2025-07-10T17:00:00+07:00",
                                handling_unit_code="P1", handling_unit_level="province")),
        json_line(event_dict("dossier.stopped", "2025-07-05T09:00:00+07:00", "H2",
                             reason="hồ sơ không thuộc thẩm quyền")),
    ]
    entry = judge("H2", events, _ts("2025-08-01T00:00:00+07:00"), CAL)
    assert entry is not None
    assert (entry.unit, entry.level, entry.handling_unit) == ("C1", "commune", "P1")
    assert entry.classification == "stopped" and entry.classification in CLASSIFICATIONS
    assert entry.ended_at == _ts("2025-07-05T09:00:00+07:00") and entry.completed_at is None
    row = ledger_row(entry, datetime(2025, 8, 1, tzinfo=UTC))
    assert (row["unit"], row["handling_unit"], row["classification"]) == \
        ("C1", "P1", "stopped")
    # without handling_unit_code the receiving unit handles it
    plain = judge("H1", EVENTS, _ts("2025-04-01T00:00:00+07:00"), CAL)
    assert plain is not None and plain.handling_unit == plain.unit == "U1"
