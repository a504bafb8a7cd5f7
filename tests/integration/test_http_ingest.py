"""The HTTP ingest (``motcua http``) served by uvicorn against the embedded broker, driven by
real clients: the CloudEvents SDK's HTTP binding (binary and structured) through httpx,
batches, every refusal of docs/contract.md, a stopped broker, and schemathesis against the
served OpenAPI document."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import quote

import httpx
import orjson
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from jsonschema import Draft202012Validator
from schemathesis.specs.openapi.checks import negative_data_rejection, positive_data_acceptance

from consumers.http_ingest.server import BackgroundServer, make_server
from consumers.http_ingest.tokens import add_token, revoke_token
from kpi.decode import decode, decode_record
from runtime.broker import embedded_broker, free_port
from runtime.dlq import DeadLetter
from runtime.kafka import read_topic
from runtime.settings import Settings
from runtime.topics import declared_topics, ensure_topics
from schemas.cloudevents import BATCH
from schemas.events import EVENT_TYPES
from tests.eventkit import http_binary, http_structured, received_dict

pytestmark = pytest.mark.integration

SOURCE = "urn:motcua:dvc:đồng-tháp"
OTHER = "urn:motcua:dvc:an-giang"


class Ingest:
    """A running ingest, its settings and a token allowed :data:`SOURCE`."""

    def __init__(self, settings: Settings, server: BackgroundServer, token: str) -> None:
        self.settings, self.server, self.token = settings, server, token
        self.url = server.url
        self.auth = {"Authorization": f"Bearer {token}"}

    def post(self, body: bytes, content_type: str, **headers: str) -> httpx.Response:
        return httpx.post(f"{self.url}/v1/events", content=body, timeout=30,
                          headers={"Content-Type": content_type, **self.auth, **headers})

    def topic(self, name: str) -> list:
        return read_topic(self.settings, str(self.settings.kafka_bootstrap), name)


@contextlib.contextmanager
def running_ingest(settings: Settings, timeout: float = 10.0) -> Iterator[Ingest]:
    bootstrap = str(settings.kafka_bootstrap)
    ensure_topics(bootstrap, declared_topics(settings), settings)
    token, _ = add_token(settings.tokens_file, [SOURCE])
    server = BackgroundServer(make_server(settings, bootstrap, port=free_port(),
                                          timeout=timeout)).start()
    try:
        yield Ingest(settings, server, token)
    finally:
        server.stop()


@pytest.fixture
def ingest(topic_settings: Callable[..., Settings], tmp_path: Path) -> Iterator[Ingest]:
    with running_ingest(topic_settings(data_dir=tmp_path)) as running:
        yield running


def _event(n: int, source: str = SOURCE) -> dict:
    return received_dict("2025-06-02T08:00:00+07:00", f"HS-{n}", source=source, id_=f"h{n}")


def test_sdk_binary_and_structured_requests_reach_the_events_topic(
        ingest: Ingest, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="motcua.http.access")
    assert httpx.get(f"{ingest.url}/healthz").status_code == 200
    assert httpx.get(f"{ingest.url}/readyz").status_code == 200
    sent = []
    # header values: UTF-8 bytes as the SDK makes them, and percent-encoded as the HTTP
    # binding 1.0.2 asks for non-ASCII text (the SDK does not; the ingest reads both)
    encodings: list[Callable[[str], bytes]] = [
        str.encode, str.encode, lambda v: quote(v, safe="/:+@!$&'()*,;=").encode()]
    for n, make in enumerate((http_binary, http_structured, http_binary)):
        doc = _event(n)
        headers, body = make(doc)
        wire = {k: encodings[n](v) for k, v in headers.items()}
        response = httpx.post(f"{ingest.url}/v1/events", content=body,
                              headers={**wire, **ingest.auth})
        assert response.status_code == 202, response.text
        assert response.json() == {"accepted": 1, "rejected": []}
        sent.append(decode(orjson.dumps(doc)))
    records = ingest.topic(ingest.settings.topics.events)
    assert sorted(decode_record(r.value, r.headers) for r in records) == sorted(sent)
    assert {r.key for r in records} == {b"HS-0", b"HS-1", b"HS-2"}
    logged = "\n".join(r.getMessage() for r in caplog.records)
    assert logged.count('"status":202') == 3
    assert ingest.token not in logged and "Bearer" not in logged and "HS-1" not in logged


def test_a_batch_accepts_the_valid_and_dead_letters_the_invalid(ingest: Ingest) -> None:
    bad = {**_event(2), "data": {"channel": "pigeon"}}
    batch = [_event(1), bad, _event(3)]
    response = ingest.post(orjson.dumps(batch), "application/cloudevents-batch+json")
    assert response.status_code == 202
    answer = response.json()
    assert answer["accepted"] == 2
    assert [(r["index"], r["id"]) for r in answer["rejected"]] == [(1, "h2")]
    assert "\n" not in answer["rejected"][0]["reason"]
    assert len(ingest.topic(ingest.settings.topics.events)) == 2
    (letter,) = [DeadLetter.decode(r.value) for r in ingest.topic(ingest.settings.topics.dlq)]
    assert (letter.source_file, letter.line) == ("http", 1)
    assert letter.reason == answer["rejected"][0]["reason"]
    assert orjson.loads(letter.raw) == bad


def test_refusals(ingest: Ingest) -> None:
    one = orjson.dumps(_event(1))
    ce = "application/cloudevents+json"
    events = ingest.settings.topics.events
    no_token = httpx.post(f"{ingest.url}/v1/events", content=one, headers={"Content-Type": ce})
    assert no_token.status_code == 401 and "reason" in no_token.json()
    assert ingest.post(one, ce, Authorization="Bearer mct_wrong").status_code == 401
    assert ingest.post(orjson.dumps(_event(2, OTHER)), ce).status_code == 403
    mixed = orjson.dumps([_event(3), _event(4, OTHER)])
    assert ingest.post(mixed, "application/cloudevents-batch+json").status_code == 403
    big = orjson.dumps({**_event(5), "data": {**_event(5)["data"], "pad": "x" * 70_000}})
    assert ingest.post(big, ce).status_code == 413
    many = orjson.dumps([_event(n) for n in range(1001)])
    assert ingest.post(many, "application/cloudevents-batch+json").status_code == 413
    assert ingest.post(one, "text/csv").status_code == 415
    bad = ingest.post(b'{"specversion": "1.0"}', ce)
    assert bad.status_code == 400 and "field required" in bad.json()["reason"]
    assert ingest.post(b"{}", "application/json").status_code == 400  # no ce-* headers
    no_type = httpx.post(f"{ingest.url}/v1/events", content=one, headers=ingest.auth)
    assert no_type.status_code == 415
    assert no_type.json()["reason"].startswith("a Content-Type header is required: ")
    assert not ingest.topic(events)  # nothing of the refused requests was accepted
    # the invalid single event is dead-lettered, as an invalid event of a batch is (the
    # request without ce-* headers is no event: not dead-lettered)
    (letter,) = [DeadLetter.decode(r.value) for r in ingest.topic(ingest.settings.topics.dlq)]
    assert (letter.source_file, letter.line, letter.raw) == ("http", 0, b'{"specversion": "1.0"}')
    assert letter.reason == bad.json()["reason"]

    # a revoked token is refused from the next request on (the file is re-read)
    assert ingest.post(one, ce).status_code == 202
    (token_id,) = {line.split(b'"')[3].decode()
                   for line in ingest.settings.tokens_file.read_bytes().splitlines()}
    assert revoke_token(ingest.settings.tokens_file, token_id)
    assert ingest.post(one, ce).status_code == 401
    assert ingest.token.encode() not in ingest.settings.tokens_file.read_bytes()


def test_broker_stopped_gives_503_and_accepts_nothing(
        topic_settings: Callable[..., Settings], tmp_path: Path) -> None:
    broker = contextlib.ExitStack()
    bootstrap = broker.enter_context(embedded_broker())
    settings = topic_settings(data_dir=tmp_path, kafka_bootstrap=bootstrap)
    try:
        with running_ingest(settings, timeout=3.0) as ingest:
            ce = "application/cloudevents+json"
            assert ingest.post(orjson.dumps(_event(1)), ce).status_code == 202
            broker.close()  # the broker stops under the running ingest
            response = ingest.post(orjson.dumps([_event(2), _event(3)]),
                                   "application/cloudevents-batch+json")
            assert response.status_code == 503
            assert response.headers["Retry-After"].isdigit()
            assert response.json()["reason"].startswith("not confirmed: ")
            assert "same event ids" in response.json()["reason"]
            assert httpx.get(f"{ingest.url}/readyz", timeout=30).status_code == 503
            assert httpx.get(f"{ingest.url}/healthz").status_code == 200
    finally:
        broker.close()


def test_the_openapi_document_carries_the_event_schema(ingest: Ingest) -> None:
    document = httpx.get(f"{ingest.url}/openapi.json").json()
    body = document["paths"]["/v1/events"]["post"]["requestBody"]["content"]
    event = {"$ref": "#/components/schemas/Event"}
    assert body["application/cloudevents+json"]["schema"] == event
    batch = body["application/cloudevents-batch+json"]["schema"]
    assert (batch["type"], batch["items"], batch["maxItems"]) == ("array", event, 1000)
    schemas = document["components"]["schemas"]
    assert set(schemas["Event"]["discriminator"]["mapping"]) == set(EVENT_TYPES)
    # the served schema takes the contract's events and refuses what the contract refuses
    validator = Draft202012Validator({**event, "components": document["components"]})
    assert validator.is_valid(_event(1))
    assert not validator.is_valid({**_event(2), "data": {"channel": "pigeon"}})
    assert not validator.is_valid({k: v for k, v in _event(3).items() if k != "subject"})


AUTH: dict[str, str] = {}
"""The running ingest's Authorization header, for the schemathesis cases."""


@pytest.fixture
def api_schema(ingest: Ingest) -> object:
    schema = schemathesis.openapi.from_url(f"{ingest.url}/openapi.json")
    schema.config.update(base_url=ingest.url)
    # a body the schema refuses must be refused; over the batch's maxItems, the contract's
    # refusal is 413 (docs/contract.md: "413 over the size limits")
    rejection = schema.config.checks.negative_data_rejection
    rejection.expected_statuses = [*rejection.expected_statuses, "413"]
    AUTH.clear()
    AUTH.update(ingest.auth)
    return schema


schema = schemathesis.pytest.from_fixture("api_schema")


def batch_items_rejected(ctx: object, response: schemathesis.Response,
                         case: schemathesis.Case) -> bool | None:
    """schemathesis's negative-data check, with the batch's own rule: a schema-violating
    array of events within the limits is answered 202, every invalid item in ``rejected``
    (docs/contract.md) — so at least one is rejected and none is lost."""
    negative = case.meta is not None and case.meta.generation.mode.is_negative
    if (negative and case.media_type == BATCH and response.status_code == 202
            and isinstance(case.body, list)):
        answer = orjson.loads(response.content)
        assert answer["rejected"], "a schema-violating batch was accepted whole"
        assert answer["accepted"] + len(answer["rejected"]) == len(case.body), answer
        return True
    return negative_data_rejection(ctx, response, case)  # type: ignore[arg-type]


@schema.parametrize()
@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow,
                                 HealthCheck.filter_too_much])
def test_the_served_openapi_holds(case: schemathesis.Case) -> None:
    # every answer documented, no 5xx other than 503, bodies as declared, schema-violating
    # bodies refused (a batch's invalid items: listed in rejected); a schema-valid body may
    # still be refused (400): the contract's rules (printable codes, time range, binary
    # mode's ce-* headers) are more than a JSON Schema says
    case.call_and_validate(headers={**(case.headers or {}), **AUTH},
                           excluded_checks=[positive_data_acceptance, negative_data_rejection],
                           additional_checks=[batch_items_rejected])


def test_a_paused_broker_gives_503_not_confirmed_and_a_resend_counts_once(
        topic_settings: Callable[..., Settings], tmp_path: Path) -> None:
    """SIGSTOP the broker: the request times out with 503 "not confirmed" (the record may
    be on the topic already: a timeout cannot tell). SIGCONT, re-send the same event: 202,
    and the fold of the topic counts it once."""
    import os
    import signal
    import time

    from kpi.batch import aggregate, fold_lines
    from kpi.units import CalendarBook
    from runtime.children import Child

    broker = contextlib.ExitStack()
    started: list[Child] = []
    bootstrap = broker.enter_context(embedded_broker(on_start=started.append))
    settings = topic_settings(data_dir=tmp_path, kafka_bootstrap=bootstrap)
    (child,) = started
    event = orjson.dumps(received_dict("2025-06-02T08:00:00+07:00", "HS-PAUSE",
                                       unit="DT.PAUSE", source=SOURCE, id_="pause-1"))
    ce = "application/cloudevents+json"
    try:
        with running_ingest(settings, timeout=3.0) as ingest:
            os.kill(child.proc.pid, signal.SIGSTOP)
            try:
                response = ingest.post(event, ce)
            finally:
                os.kill(child.proc.pid, signal.SIGCONT)
            assert response.status_code == 503, response.text
            assert response.headers["Retry-After"].isdigit()
            reason = response.json()["reason"]
            assert reason.startswith("not confirmed: ") and "same event ids" in reason
            assert "counted once" in reason
            deadline = time.monotonic() + 60
            while (again := ingest.post(event, ce)).status_code != 202:
                assert time.monotonic() < deadline, again.text
                time.sleep(1)
            records = ingest.topic(settings.topics.events)
            assert 1 <= len(records) <= 2  # the first copy may have landed
            folded = aggregate(fold_lines(r.value for r in records).states(), time.time(),
                               CalendarBook())
            assert folded.counters[("DT.PAUSE", "2025")]["received"] == 1
    finally:
        broker.close()
