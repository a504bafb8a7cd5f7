"""CloudEvents content modes: binary and structured records of the same event give the same
fact (the official SDK's Kafka and HTTP bindings make the records), and what binary mode
refuses is refused with one line."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from kpi.decode import decode, decode_record
from schemas.cloudevents import HTTP_PREFIX, binary_to_structured, event_bytes
from schemas.errors import InvalidEvent
from schemas.validate import parse_event
from tests.eventkit import event_dict, http_binary, kafka_binary, kafka_structured

_code = st.text(st.characters(codec="utf-8", categories=("L", "N", "P", "S", "Zs")),
                min_size=1, max_size=40).filter(str.isprintable)
_time = st.builds(
    lambda d, h, m, s, frac, off: (f"2025-{d // 28 + 1:02d}-{d % 28 + 1:02d}T{h:02d}:{m:02d}:"
                                   f"{s:02d}{frac}{off}"),
    st.integers(0, 11 * 28), st.integers(0, 23), st.integers(0, 59), st.integers(0, 59),
    st.sampled_from(["", ".5", ".123456"]), st.sampled_from(["+07:00", "Z", "-03:30"]))

_DATA: dict[str, st.SearchStrategy[dict[str, Any]]] = {
    "dossier.received": st.fixed_dictionaries(
        {"unit_code": _code, "unit_level": st.sampled_from(["commune", "district", "province"]),
         "procedure_code": _code, "channel": st.sampled_from(["direct", "online", "postal"]),
         "processing_days": st.integers(0, 60)},
        optional={"fee_required": st.booleans(), "paper_result": st.booleans(),
                  "online_level": st.sampled_from(["none", "partial", "full"])}),
    "dossier.supplement_requested": st.fixed_dictionaries({}, optional={"reason": st.text()}),
    "dossier.supplemented": st.just({}),
    "dossier.resolved": st.fixed_dictionaries({"result_electronic": st.booleans()}),
    "dossier.rejected": st.just({}),
    "dossier.digitized": st.integers(0, 5).flatmap(lambda n: st.fixed_dictionaries(
        {"components_total": st.just(n), "components_digitized": st.integers(0, n),
         "components_reused": st.integers(0, n)})),
    "payment.completed": st.fixed_dictionaries(
        {"amount_vnd": st.integers(0, 10**9), "method": st.sampled_from(["online", "cash"])}),
    "feedback.rated": st.fixed_dictionaries(
        {"rating": st.sampled_from(["satisfied", "neutral", "dissatisfied"])}),
}


@st.composite
def valid_events(draw: st.DrawFn) -> dict[str, Any]:
    type_ = draw(st.sampled_from(sorted(_DATA)))
    doc = event_dict(type_, draw(_time), draw(_code), draw(_code), draw(_code),
                     **draw(_DATA[type_]))
    parse_event(orjson.dumps(doc))  # the strategy only makes valid events
    return doc


@settings(max_examples=150, deadline=None)
@given(valid_events())
def test_binary_and_structured_records_give_identical_facts(doc: dict[str, Any]) -> None:
    plain = decode(orjson.dumps(doc))
    _, headers, value = kafka_structured(doc)
    assert decode_record(value, headers) == plain
    _, headers, value = kafka_binary(doc)
    assert any(name == "ce_specversion" for name, _ in headers)
    assert decode_record(value, headers) == plain
    http_headers, body = http_binary(doc)
    wire = [(k, v.encode()) for k, v in http_headers.items()]
    assert decode(event_bytes(body, wire, prefix=HTTP_PREFIX) or b"") == plain


def test_binary_mode_is_told_by_the_specversion_header() -> None:
    doc = event_dict("dossier.rejected", "2025-04-29T08:00:00+07:00")
    _, headers, value = kafka_binary(doc)
    without = [(k, v) for k, v in headers if k != "ce_specversion"]
    with pytest.raises(InvalidEvent, match="content-type"):
        decode_record(value, without)  # application/json data without the envelope
    upper = [(k.upper(), v) for k, v in headers]
    assert decode_record(value, upper) == decode(orjson.dumps(doc))


@pytest.mark.parametrize(("change", "reason"), [
    (lambda h: [*h, ("ce_id", b"again")], "ce_id.*more than once"),
    (lambda h: [(k, b"\xff") if k == "ce_source" else (k, v) for k, v in h], "not UTF-8"),
    (lambda h: [(k, b"text/plain") if k == "content-type" else (k, v) for k, v in h],
     "must be application/json"),
    (lambda h: [*h, ("ce_data", b"{}")], "not a CloudEvents attribute"),
    (lambda h: [(k, v) for k, v in h if k != "ce_type"], "type: field required"),
])
def test_bad_binary_records_are_refused_with_one_line(change, reason) -> None:
    doc = event_dict("dossier.rejected", "2025-04-29T08:00:00+07:00")
    _, headers, value = kafka_binary(doc)
    with pytest.raises(InvalidEvent, match=reason) as err:
        decode_record(value, change(headers))
    assert "\n" not in err.value.reason


def test_binary_data_must_be_json_and_within_the_limit() -> None:
    doc = event_dict("dossier.rejected", "2025-04-29T08:00:00+07:00")
    _, headers, _ = kafka_binary(doc)
    with pytest.raises(InvalidEvent, match="data: not JSON"):
        decode_record(b"{oops", headers)
    with pytest.raises(InvalidEvent, match="limit is 65,536"):
        decode_record(b" " * 70_000 + b"{}", headers)
    assert b'"data"' not in binary_to_structured(headers, b"")  # empty value: no data


def test_structured_records_keep_their_bytes_and_check_the_content_type() -> None:
    raw = orjson.dumps(event_dict("dossier.rejected", "2025-04-29T08:00:00+07:00"))
    assert event_bytes(raw, None) is raw
    ok = [("content-type", b"application/cloudevents+json; charset=utf-8")]
    assert event_bytes(raw, ok) is raw
    # the official Python SDK's Kafka to_structured writes the datacontenttype instead
    sdk = [("content-type", b"application/json")]
    assert event_bytes(raw, sdk) is raw
    assert decode_record(raw, sdk) == decode_record(raw, None)
    with pytest.raises(InvalidEvent, match="structured event is application/cloudevents"):
        decode_record(raw, [("content-type", b"text/csv")])
    with pytest.raises(InvalidEvent, match="no value"):
        decode_record(None, [])
