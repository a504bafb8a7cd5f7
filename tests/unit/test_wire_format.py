"""The pipeline's records carry their format (streams.wire, "Format"): what is written
today is format 1 without a mark, and a record of another format stops the reader with
:class:`FormatError` instead of being misread."""

from __future__ import annotations

from collections.abc import Callable

import orjson
import pytest

from kpi.dossier import DossierState
from kpi.units import CalendarBook
from schemas.errors import FormatError, PipelineError
from streams.aggregator import Aggregator
from streams.tracker import Tracked, Tracker
from streams.wire import WIRE_FORMAT, decode_entries, decode_link, encode_entries, encode_link

ROWS = [[["2025-04", "2025-Q2", "2025"], ["received"]]]


def test_todays_records_are_format_1_without_a_mark() -> None:
    assert WIRE_FORMAT == 1
    message = encode_entries([["HS-1", 1, "commune", ROWS]])
    assert "w" not in orjson.loads(message)
    assert decode_entries(message) == [["HS-1", 1, "commune", ROWS]]
    assert decode_entries(b'{"w":1,"d":[]}') == []  # the mark, when present, is read
    fact = ("rated", 1.0, "satisfied")
    assert decode_link(encode_link("k", fact)) == ("k", fact)
    applied = Aggregator().apply("U", ["HS-1", 7, "commune", ROWS], 0)
    assert applied is not None and "w" not in orjson.loads(applied[1])
    row = Tracker(CalendarBook()).row(Tracked(DossierState.empty("HS-1"), 0), 0.0)
    assert "w" not in orjson.loads(row)


@pytest.mark.parametrize(("read", "record"), [
    (decode_entries, b'{"w":2,"d":[]}'),
    (decode_link, b'["k",["rated",1.0,"satisfied"],2]'),
    (decode_link, b'{"w":2,"k":"k"}'),
])
def test_a_message_of_another_format_stops_the_reader(read: Callable[[bytes], object],
                                                     record: bytes) -> None:
    with pytest.raises(FormatError, match="this worker reads format 1 only") as caught:
        read(record)
    assert isinstance(caught.value, PipelineError)


def test_table_rows_of_another_format_stop_the_rebuild() -> None:
    dossier = orjson.dumps({"f": {}, "v": 1, "u": None, "h": 0.0, "p": 0, "w": 2})
    with pytest.raises(FormatError, match="a dossier table row in format 2"):
        Tracker(CalendarBook()).restore("HS-1", dossier, {0})
    applied = orjson.dumps({"v": 1, "l": "commune", "r": ROWS, "p": 0, "w": 2})
    with pytest.raises(FormatError, match="an applied table row in format 2"):
        Aggregator().restore("U\x1fHS-1", applied, {0})
