"""Hostile input at the event boundary (issue #8).

Properties, over random bytes, random JSON, mutated valid events and valid events spread
over the whole accepted range:

* ``parse_event`` returns an event or raises :class:`InvalidEvent` with a non-empty,
  one-line reason of at most ``MAX_REASON_CHARS`` characters — never another exception;
* ``fast_fact`` never raises, and accepts nothing ``parse_event`` refuses (when it accepts,
  it gives the same fact);
* for every accepted event the fold → summarize → contribution → next-change chain, the
  ledger row and the JSON round trip of the state never raise, at any horizon;
* a dead letter of any input encodes, fits in a Kafka message and decodes back.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import HealthCheck, currently_in_test_context, event, example, given, settings
from hypothesis import strategies as st

from consumers.store import ledger_row
from kpi.calendar import CalendarRules, WorkingCalendar
from kpi.contribution import contribution_rows, dossier_contribution, next_change
from kpi.dossier import DossierState, fact_key, fact_of
from kpi.fastparse import fast_fact, fast_time
from kpi.ledger import ledger_entry
from kpi.sla import summarize
from runtime.dlq import MAX_DLQ_RAW_BYTES, DeadLetter, recover_subject
from schemas.events import Event
from schemas.fields import (
    MAX_CODE_CHARS,
    MAX_COUNT,
    MAX_PROCESSING_DAYS,
    MAX_TS,
    MAX_UNIT_CHARS,
    MIN_TS,
)
from schemas.validate import MAX_EVENT_BYTES, MAX_REASON_CHARS, InvalidEvent, parse_event
from tests.eventkit import event_dict
from tests.unit.test_fastparse import VALID

# --------------------------------------------------------------------------- the checks

CALENDARS = (WorkingCalendar(),
             WorkingCalendar(CalendarRules(saturday_is_working=True, afternoon_cutoff_hour=15)))
NOW = time.time()
YEAR = 365.25 * 86400


def checked_parse(raw: Any) -> Event | None:
    """``parse_event(raw)``, checking that a refusal is an InvalidEvent with a good reason."""
    try:
        return parse_event(raw)
    except InvalidEvent as exc:
        reason = exc.reason
        assert isinstance(reason, str) and reason.strip(), repr(reason)
        assert "\n" not in reason and "\r" not in reason, repr(reason)
        assert len(reason) <= MAX_REASON_CHARS
        reason.encode("utf-8")  # goes into a DLQ header as UTF-8
        return None


def checked_fast(raw: bytes, event: Event | None) -> None:
    """``fast_fact`` does not raise and only ever agrees with pydantic."""
    quick = fast_fact(raw)
    if quick is not None:
        assert event is not None, f"fast path accepted what parse_event refused: {raw[:200]!r}"
        assert quick == (event.subject, fact_key(event.source, event.id), fact_of(event))


COMPANIONS = [  # facts of the same dossier, so every kind meets a received fact
    ("received", 1745888400.0, "U1", "commune", "P1", "direct", "none", False, None, 3,
     True, True),
    ("supplement_requested", 1745900000.0),
    ("supplemented", 1745990000.0),
    ("extended", 1746000000.0, 1746600000.0),
    ("resolved", 1746100000.0, True),
]


def checked_chain(event: Event) -> None:
    """Everything downstream of an accepted event runs without raising."""
    fact = fact_of(event)
    key = fact_key(event.source, event.id)
    alone = DossierState.empty(event.subject).with_fact(key, fact)
    together = alone
    for i, companion in enumerate(COMPANIONS):
        together = together.with_fact(f"companion\x1f{i}", companion)
    ts = fact[1]
    horizons = (ts - 1.0, ts + 0.001, ts + 40 * 86400, MIN_TS, MAX_TS, MAX_TS + 5 * YEAR, NOW)
    for state in (alone, together):
        assert DossierState.from_json(orjson.loads(orjson.dumps(state.to_json()))) == state
        for calendar in CALENDARS:
            for horizon in horizons:
                d = summarize(state, horizon, lambda _unit, c=calendar: c)
                if d is not None:
                    contribution_rows(d, horizon)
                    dossier_contribution(d, horizon)
                    d.status_at(horizon)
                    ledger_row(ledger_entry(d, horizon), datetime.now(UTC))
                next_change(state, horizon, lambda _unit, c=calendar: c, d)


def check_all(raw: bytes) -> Event | None:
    parsed = checked_parse(raw)
    checked_fast(raw, parsed)
    if currently_in_test_context():  # statistics: pytest --hypothesis-show-statistics
        event("accepted" if parsed is not None else "refused")
    if parsed is not None:
        checked_chain(parsed)
    letter = DeadLetter("r", raw)
    encoded = letter.encode()
    assert len(encoded) < 1_000_000  # Kafka's default message size limit
    assert DeadLetter.decode(encoded).raw == raw[:MAX_DLQ_RAW_BYTES]
    subject = recover_subject(raw)
    assert subject is None or (len(subject) <= MAX_CODE_CHARS and subject.isprintable())
    return parsed


# --------------------------------------------------------------------------- strategies

HOSTILE_TEXT = [
    "", " ", "\x00", "a\x00b", "\x01", "\x1f", "\x7f", "\x85", "\x9f", "\t", "\n", "\r\n",
    "\u200f", "\u202e", "\u200b", "\u2028", "\ufeff", "\u00a0", "\u3000", "\ue000",
    "\ud800", "a\udfffb", "\ud83d\ude00", "😀", "👩‍👩‍👧", "e\u0301", "a" + "\u0301" * 300,
    "ا\u200fب", "Hồ sơ", "=1+1", "@SUM(A1)", "'; DROP TABLE dossiers; --", "%s%n", "{}",
    "x" * (MAX_UNIT_CHARS - 1), "x" * MAX_UNIT_CHARS, "x" * (MAX_UNIT_CHARS + 1),
    "x" * MAX_CODE_CHARS, "x" * (MAX_CODE_CHARS + 1), "x" * 70_000,
]
HOSTILE_TIMES = [
    "0001-01-01T00:00:00Z", "0001-01-01T00:00:00+23:59", "9999-12-31T23:59:59-23:59",
    "9999-12-31T23:59:59.999999Z", "1969-12-31T23:59:59Z", "1970-01-01T00:00:00Z",
    "1999-12-31T16:59:59.999999Z", "1999-12-31T17:00:00Z", "2000-01-01T00:00:00+07:00",
    "2099-12-31T23:59:59.999999+07:00", "2100-01-01T00:00:00+07:00", "2099-12-31T17:00:00Z",
    "1745888400", "1745888400.5", "-62135596800", "99999999999999999999", "2025-04-29",
    "2025-02-29T08:00:00+07:00", "2025-04-29T08:00:00+24:00", "2025-04-29T25:00:00Z",
    "2025-04-29T08:00:00.1234567890123+07:00", "2025-04-29T08:00:00+07:00\x00",
    "２０２５-04-29T08:00:00+07:00", "2025-04-29T08:00:00−07:00",
]
OFFSETS = [timezone(timedelta(minutes=m)) for m in (-1439, -720, -1, 0, 1, 420, 840, 1439)]

json_scalars = st.one_of(
    st.none(), st.booleans(),
    st.integers(-(2**70), 2**70),
    st.sampled_from([0, -1, 1, MAX_COUNT, MAX_COUNT + 1, MAX_PROCESSING_DAYS,
                     MAX_PROCESSING_DAYS + 1, 2**63, 10**400]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=20),
    st.sampled_from(HOSTILE_TEXT),
    st.sampled_from(HOSTILE_TIMES),
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4),
                            st.dictionaries(st.text(max_size=8), inner, max_size=4)),
    max_leaves=12,
)


def nested(depth: int, kind: str) -> bytes:
    """JSON nested ``depth`` levels deep (built as text: ``json.dumps`` would recurse)."""
    if kind == "list":
        return b"[" * depth + b"1" + b"]" * depth
    return b'{"a":' * depth + b"1" + b"}" * depth


DEEP = "@@deep:"
"""A string replaced by :func:`nested` JSON after encoding (see :func:`encode`)."""

hostile_values = st.one_of(
    json_values,
    st.sampled_from(HOSTILE_TEXT),
    st.sampled_from(HOSTILE_TIMES),
    st.datetimes(min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30),
                 timezones=st.sampled_from(OFFSETS)).map(lambda d: d.isoformat()),
    st.builds(lambda depth, kind: f"{DEEP}{depth}:{kind}",
              st.sampled_from([50, 199, 200, 201, 1023, 1025, 3000]),
              st.sampled_from(["list", "dict"])),
)


def encode(obj: Any, ascii_only: bool) -> bytes:
    """JSON the way a careless producer might write it: big integers, NaN, lone surrogates
    either escaped (``"\\ud800"``) or written raw (invalid UTF-8); :data:`DEEP` markers
    become deeply nested values."""
    raw = json.dumps(obj, ensure_ascii=ascii_only).encode("utf-8", "surrogatepass")
    while DEEP.encode() in raw:
        start = raw.index(b'"' + DEEP.encode())
        end = raw.index(b'"', start + 1)
        depth, kind = raw[start + 1 + len(DEEP):end].decode().split(":")
        raw = raw[:start] + nested(int(depth), kind) + raw[end + 1:]
    return raw


@st.composite
def mutated_events(draw: st.DrawFn) -> bytes:
    obj = json.loads(json.dumps(draw(st.sampled_from(VALID))))
    for _ in range(draw(st.integers(1, 3))):
        target = obj if draw(st.booleans()) or not isinstance(obj.get("data"), dict) \
            else obj["data"]
        keys = sorted(target) + ["extra"]
        key = draw(st.sampled_from(keys))
        if draw(st.integers(0, 5)) == 0:
            target.pop(key, None)
        else:
            target[key] = draw(hostile_values)
    return encode(obj, draw(st.booleans()))


_printable = st.characters(  # what str.isprintable() accepts (space aside)
    codec="utf-8", exclude_categories=["Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp", "Zs"])


def _texts(max_size: int) -> st.SearchStrategy[str]:
    """Mostly printable identifiers (so most events are valid), sometimes any characters."""
    printable = st.text(_printable | st.just(" "), min_size=1, max_size=max_size)
    anything = st.text(st.characters(codec="utf-8"), min_size=1, max_size=max_size)
    return st.integers(0, 19).flatmap(lambda i: printable if i else anything)


codes = _texts(MAX_CODE_CHARS)
unit_codes = _texts(MAX_UNIT_CHARS)
in_range_times = st.datetimes(
    min_value=datetime(2000, 1, 2), max_value=datetime(2099, 12, 30),
    timezones=st.sampled_from(OFFSETS),
).map(lambda d: d.isoformat())


@st.composite
def in_range_events(draw: st.DrawFn) -> bytes:
    """Events spread over everything the contract accepts (printability aside)."""
    type_ = draw(st.sampled_from([o["type"][len("vn.gov.motcua."):] for o in VALID]))
    data: dict[str, Any] = {}
    if type_ == "dossier.received":
        data = {"unit_code": draw(unit_codes), "procedure_code": draw(unit_codes),
                "unit_level": draw(st.sampled_from(["province", "district", "commune"])),
                "channel": draw(st.sampled_from(["direct", "online", "postal"])),
                "online_level": draw(st.sampled_from(["none", "partial", "full"])),
                "fee_required": draw(st.booleans()), "paper_result": draw(st.booleans())}
        if draw(st.booleans()):
            data["due_at"] = draw(in_range_times)
        else:
            data["processing_days"] = draw(st.integers(0, MAX_PROCESSING_DAYS))
    elif type_ == "dossier.extended":
        data = {"new_due_at": draw(in_range_times)}
    elif type_ == "dossier.digitized":
        total = draw(st.integers(0, MAX_COUNT))
        data = {"components_total": total, "components_digitized": draw(st.integers(0, total))}
    elif type_ == "payment.completed":
        data = {"amount_vnd": draw(st.integers(0, MAX_COUNT)),
                "method": draw(st.sampled_from(["online", "cash", "transfer"]))}
    elif type_ == "feedback.rated":
        data = {"rating": draw(st.sampled_from(["satisfied", "neutral", "dissatisfied"]))}
    elif type_ == "dossier.transferred":
        data = {"from_unit": draw(unit_codes), "to_unit": draw(unit_codes)}
    obj = event_dict(type_, draw(in_range_times), subject=draw(codes), source=draw(codes),
                     id_=draw(codes), **data)
    return encode(obj, draw(st.booleans()))


FUZZ = settings(max_examples=300, deadline=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


# --------------------------------------------------------------------------- properties


@FUZZ
@given(st.binary(max_size=3000))
@example(b"\xef\xbb\xbf{}")
@example(b"\x00" * 10)
@example(b"[" * 100_000)
def test_random_bytes(raw: bytes) -> None:
    check_all(raw)


@FUZZ
@given(json_values, st.booleans())
def test_random_json(obj: Any, ascii_only: bool) -> None:
    check_all(encode(obj, ascii_only))


@settings(max_examples=1500, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(mutated_events())
def test_mutated_valid_events(raw: bytes) -> None:
    check_all(raw)


@FUZZ
@given(in_range_events())
def test_events_over_the_whole_accepted_range_run_downstream(raw: bytes) -> None:
    event = check_all(raw)
    obj = orjson.loads(raw)
    identifiers = [obj["subject"], obj["source"], obj["id"]]
    identifiers += [v for k, v in obj["data"].items()
                    if k in ("unit_code", "procedure_code", "from_unit", "to_unit")]
    if all(s.isprintable() for s in identifiers):
        assert event is not None, raw[:300]


@FUZZ
@given(st.text(st.characters(exclude_categories=()), max_size=300), st.sampled_from(VALID))
def test_text_input_with_any_code_points(junk: str, obj: dict[str, Any]) -> None:
    """``parse_event`` also takes ``str``: lone surrogates there are refused, not raised."""
    checked_parse(junk)
    checked_parse(json.dumps({**obj, "subject": junk}, ensure_ascii=False))


# --------------------------------------------------------------------------- examples


def _padded(size: int) -> bytes:
    """A valid event of exactly ``size`` bytes (padding in an ignored extra field)."""
    base = orjson.dumps({**VALID[0], "pad": ""})
    return base.replace(b'"pad":""', b'"pad":"' + b"x" * (size - len(base)) + b'"')


def test_size_limit_is_exact_and_checked_before_parsing() -> None:
    at_limit = _padded(MAX_EVENT_BYTES)
    assert len(at_limit) == MAX_EVENT_BYTES
    assert parse_event(at_limit).subject == VALID[0]["subject"]
    assert fast_fact(at_limit) is not None
    over = _padded(MAX_EVENT_BYTES + 1)
    with pytest.raises(InvalidEvent) as info:
        parse_event(over)
    assert info.value.reason == "event is 65,537 bytes; the limit is 65,536"
    assert fast_fact(over) is None
    with pytest.raises(InvalidEvent) as info:  # not JSON at all: still the size first
        parse_event(b"\xff" * 70_000)
    assert info.value.reason == "event is 70,000 bytes; the limit is 65,536"
    with pytest.raises(InvalidEvent) as info:  # text is measured in UTF-8 bytes
        parse_event(over.decode().replace("x" * 10, "ồ" * 10, 1).replace("x", "", 10))
    assert info.value.reason.startswith("event is 65,5")


@pytest.mark.parametrize(("kind", "depth"), [("list", 5000), ("dict", 5000), ("list", 1025)])
def test_deep_nesting_is_a_reason(kind: str, depth: int) -> None:
    for raw in (nested(depth, kind),
                encode({**VALID[0], "extra": f"{DEEP}{depth}:{kind}"}, True)):
        with pytest.raises(InvalidEvent) as info:
            parse_event(raw)
        assert info.value.reason.startswith("not JSON: recursion limit exceeded")
        assert fast_fact(raw) is None


@pytest.mark.parametrize(("subject", "accepted"), [
    ("H29.01-250429-0001", True), ("Hồ sơ 1", True), ("e\u0301", True), ("😀", True),
    ("x" * MAX_CODE_CHARS, True), ("x" * (MAX_CODE_CHARS + 1), False),
    ("a\x00b", False), ("a\tb", False), ("a\nb", False), ("a\x7f", False), ("a\x85", False),
    ("a\u200fb", False), ("\u202eevil", False), ("a\u200bb", False), ("a\u2028b", False),
    ("\ufeffH1", False), ("a\u00a0b", False),
])
def test_identifier_rule(subject: str, accepted: bool) -> None:
    raw = orjson.dumps({**VALID[0], "subject": subject})
    event = checked_parse(raw)
    assert (event is not None) == accepted, subject
    assert (fast_fact(raw) is not None) == accepted
    assert (recover_subject(raw) is not None) == accepted
    if not accepted and len(subject) <= MAX_CODE_CHARS:
        with pytest.raises(InvalidEvent, match=r"^subject: .*U\+[0-9A-F]{4} at position"):
            parse_event(raw)


def test_escaped_lone_surrogate_is_not_json() -> None:
    raw = encode({**VALID[0], "subject": "a\ud800"}, True)
    assert b"\\ud800" in raw
    with pytest.raises(InvalidEvent, match="^not JSON: "):
        parse_event(raw)
    assert fast_fact(raw) is None
    raw = encode({**VALID[0], "subject": "a\ud800"}, False)  # CESU bytes: not UTF-8
    with pytest.raises(InvalidEvent, match="^not JSON: "):
        parse_event(raw)


REFUSED_TIMES = [
    "0001-01-01T00:00:00Z", "0001-01-01T00:00:00+23:59", "9999-12-31T23:59:59-23:59",
    "9999-12-31T23:59:59.999999Z", "1969-12-31T23:59:59Z", "1970-01-01T00:00:00Z",
    "1999-12-31T16:59:59.999999Z", "2100-01-01T00:00:00+07:00", "2099-12-31T17:00:00Z",
    "1745888400", "1745888400.5", "-62135596800", "99999999999999999999", "2025-04-29",
]


@pytest.mark.parametrize("time_", HOSTILE_TIMES)
def test_timestamps_outside_the_range_or_not_rfc3339(time_: str) -> None:
    for field, obj in (("time", {**VALID[0], "time": time_}),
                       ("data.due_at", {**VALID[1], "data": {**VALID[1]["data"],
                                                             "due_at": time_}}),
                       ("data.new_due_at", {**VALID[5], "data": {"new_due_at": time_}})):
        raw = orjson.dumps(obj)
        event = check_all(raw)
        if time_ in REFUSED_TIMES:
            assert event is None
            with pytest.raises(InvalidEvent, match=f"^{field}: "):
                parse_event(raw)
        if event is not None:
            assert MIN_TS <= event.time.timestamp() < MAX_TS


def test_range_boundaries() -> None:
    assert fast_time("2000-01-01T00:00:00+07:00") == MIN_TS
    assert fast_time("1999-12-31T23:59:59.999999+07:00") is None
    assert fast_time("2099-12-31T23:59:59.999999+07:00") is not None
    assert fast_time("2100-01-01T00:00:00+07:00") is None
    assert fast_time("2099-12-31T17:00:00Z") is None  # 00:00 on 1 January 2100 local
    with pytest.raises(InvalidEvent, match="between 2000-01-01 and 2099-12-31"):
        parse_event(orjson.dumps({**VALID[0], "time": "9999-12-31T23:59:59-23:59"}))


def test_processing_days_and_counts_are_bounded() -> None:
    def received(days: int) -> bytes:
        return orjson.dumps({**VALID[0], "data": {**VALID[0]["data"], "processing_days": days}})

    event = parse_event(received(MAX_PROCESSING_DAYS))
    checked_chain(event)
    assert fast_fact(received(MAX_PROCESSING_DAYS)) is not None
    with pytest.raises(InvalidEvent, match="processing_days: Input should be less than or "
                                           "equal to 1000"):
        parse_event(received(MAX_PROCESSING_DAYS + 1))
    assert fast_fact(received(MAX_PROCESSING_DAYS + 1)) is None
    big = orjson.dumps(VALID[10]).replace(b'"components_total":3', b'"components_total":'
                                          + str(10**30).encode())
    with pytest.raises(InvalidEvent, match="components_total: Input should be less than"):
        parse_event(big)


def test_tag_and_reason_are_cut_to_one_short_line() -> None:
    raw = orjson.dumps({**VALID[9], "type": "x\n" * 50_000})
    with pytest.raises(InvalidEvent) as info:
        parse_event(raw, max_bytes=1 << 20)
    assert len(info.value.reason) < 200 and "\n" not in info.value.reason


@pytest.mark.parametrize("raw", [None, 17, memoryview(b"{}"), b"", b" ", b"null", b"[]"])
def test_odd_values_are_refused(raw: Any) -> None:
    with pytest.raises(InvalidEvent) as info:
        parse_event(raw)
    assert info.value.reason


def test_dead_letter_of_any_record_fits_in_a_kafka_message() -> None:
    empty = DeadLetter("no value", None, topic="t", partition=0, offset=1)  # type: ignore[arg-type]
    assert empty.raw == b"" and empty.key is None
    assert DeadLetter.decode(empty.encode()) == empty
    huge = b'{"subject":"H1","x":"' + b"x" * 3_000_000 + b'"}'
    letter = DeadLetter("r\nr" * 1000, huge, source_file="f\udcff.jsonl", line=1)
    wire = letter.encode()
    assert len(wire) < 400_000
    back = DeadLetter.decode(wire)
    assert back.raw == huge[:MAX_DLQ_RAW_BYTES] and back.raw_size == len(huge)
    assert "\n" not in back.reason and len(back.reason) <= MAX_REASON_CHARS
    assert back.source_file == "f?.jsonl"
    assert letter.key is None  # the cut JSON no longer parses: no key, no crash
    for name, value in letter.headers():
        assert len(value) <= 4 * MAX_REASON_CHARS, name


def test_ingest_refuses_a_huge_line_without_holding_it(tmp_path: Path) -> None:
    """A 5 MB line: refused for its size, its head (256 KiB) kept in the DLQ record with
    the original length; the lines around it are read as usual."""
    from runtime.ingest import ingest_file, iter_lines
    from runtime.settings import load_settings
    from tests.unit.test_dlq_ingest import GOOD, FakeProducer

    huge = b'{"subject":"H1","pad":"' + b"x" * 5_000_000 + b'"}'
    path = tmp_path / "huge.jsonl"
    path.write_bytes(GOOD + b"\n" + huge + b"\r\n" + _padded(MAX_EVENT_BYTES + 1) + b"\n" + GOOD)
    lines = list(iter_lines(path))
    assert [(n, len(line), length) for n, line, _, length in lines] == [
        (1, len(GOOD), len(GOOD)), (2, MAX_DLQ_RAW_BYTES + 2, len(huge)),
        (3, MAX_EVENT_BYTES + 1, MAX_EVENT_BYTES + 1), (4, len(GOOD), len(GOOD))]
    assert sum(size for _, _, size, _ in lines) == path.stat().st_size

    prod = FakeProducer()
    summary = ingest_file(path, prod, load_settings(topics={"events": "ev", "dlq": "dl"}))
    assert (summary.read, summary.valid, summary.rejected, summary.dead_lettered) == (4, 2, 2, 2)
    letters = [DeadLetter.decode(v) for t, _, v, _ in prod.sent if t == "dl"]
    assert [x.line for x in letters] == [2, 3]
    assert letters[0].reason == f"event is {len(huge):,} bytes; the limit is 65,536"
    assert letters[0].raw == huge[:MAX_DLQ_RAW_BYTES] and letters[0].raw_size == len(huge)
    assert letters[1].reason == "event is 65,537 bytes; the limit is 65,536"
    assert letters[1].raw_size is None and len(letters[1].raw) == MAX_EVENT_BYTES + 1
    assert all(len(v) < 400_000 for _, _, v, _ in prod.sent)
