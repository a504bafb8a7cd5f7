"""The HTTP ingest (``motcua http``): ``POST /v1/events`` per docs/contract.md, "Transport
bindings" (CloudEvents HTTP protocol binding 1.0), on FastAPI.

Checks, in this order, each answered with ``{"reason": "..."}`` (one line):

1. ``Authorization: Bearer <token>`` known to the tokens file, else **401**;
2. ``Content-Type``: ``application/cloudevents+json`` (one structured event),
   ``application/cloudevents-batch+json`` (a JSON array of structured events) or
   ``application/json`` with ``ce-*`` headers (one binary-mode event), else **415**;
3. size: one event at most 64 KiB (:data:`schemas.validate.MAX_EVENT_BYTES`), a batch at
   most :data:`MAX_BATCH_EVENTS` events and :data:`MAX_BATCH_BYTES`, else **413**;
4. validation (the one parse boundary, :func:`schemas.validate.parse_event`, after binary →
   structured by :mod:`schemas.cloudevents`). One rule for every invalid event: it is
   dead-lettered (``source_file`` ``http``, ``line`` = its index, 0 for a single event;
   a binary event's ``ce-*`` headers kept) and the sender is told why — a single event
   with **400** ``{"reason": ...}`` (once its dead letter is acknowledged), an event of a
   batch in ``rejected`` (``index``, ``id`` if it has a string one, ``reason``) while the
   valid ones go on. A request that is not an event at all (401, 413, 415, a batch that is
   not a JSON array) is refused whole and not dead-lettered;
5. every accepted event's ``source`` must be one the token may send, else **403** for the
   whole request (nothing accepted, nothing dead-lettered);
6. the accepted events (structured JSON, key = the dossier code) and the batch's dead
   letters are published with an idempotent producer; **202** ``{"accepted": N,
   "rejected": [...]}`` only after the broker acknowledged all of them, else **503** with
   ``Retry-After``: *not confirmed* — some of the events may have been stored and counted
   already (a timeout cannot tell), so the client re-sends the whole request with the same
   event ids, and an event is counted once however often it arrives
   (:data:`NOT_CONFIRMED`).

``GET /healthz``: the process is up. ``GET /readyz``: 200 if the broker answers, else 503.
The OpenAPI document is served at ``/openapi.json`` (``/docs`` renders it); its request
bodies are the events' own JSON Schema (:mod:`.contract`).

Each request is logged once on ``motcua.http.access`` as one JSON object — method, path,
status, duration, request bytes, the token's id (never the token), accepted and rejected
counts — without headers or bodies.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import orjson
from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse

from consumers.http_ingest.contract import (
    MAX_BATCH_BYTES,
    MAX_BATCH_EVENTS,
    POST_EVENTS,
    RETRY_AFTER_SECONDS,
    event_components,
)
from consumers.http_ingest.publisher import OutRecord, Publisher
from consumers.http_ingest.tokens import Grant, TokenStore
from runtime.dlq import HTTP_ORIGIN, DeadLetter
from runtime.settings import Settings
from schemas.cloudevents import BATCH, HTTP_PREFIX, JSON, STRUCTURED, binary_to_structured
from schemas.cloudevents import media_type as media_type_of
from schemas.errors import DeliveryFailed, InvalidEvent
from schemas.events import Event
from schemas.validate import MAX_EVENT_BYTES, one_line, parse_event, too_large

access_log = logging.getLogger("motcua.http.access")

NOT_CONFIRMED = ("not confirmed: the broker did not acknowledge every record of this "
                 "request ({why}); some events may be stored and counted already. Send the "
                 "whole request again with the same event ids: an event is counted once, "
                 "however often it arrives")
"""The reason of a 503 (``{why}``: the broker's error or the timeout)."""


class Refused(Exception):  # noqa: N818 - a control-flow signal inside this module only
    """An answer other than 202, raised inside the handler."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = one_line(reason)


def _refusal(status: int, reason: str) -> JSONResponse:
    headers = {"Retry-After": str(RETRY_AFTER_SECONDS)} if status == 503 else None
    if status == 401:
        headers = {"WWW-Authenticate": "Bearer"}
    return JSONResponse({"reason": reason}, status_code=status, headers=headers)


async def _body(request: Request, limit: int) -> bytes:
    length = request.headers.get("content-length")
    if length is not None and length.isdigit() and int(length) > limit:
        raise Refused(413, f"request body is {int(length):,} bytes; the limit is {limit:,}")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise Refused(413, f"request body is over the limit of {limit:,} bytes")
    return bytes(body)


def _bearer(request: Request, tokens: TokenStore) -> Grant:
    value = request.headers.get("authorization", "")
    scheme, _, token = value.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Refused(401, "an Authorization: Bearer <token> header is required")
    grant = tokens.lookup(token.strip())
    if grant is None:
        raise Refused(401, "unknown token")
    request.state.token_id = grant.id
    return grant


def _single(raw: bytes, headers: tuple[tuple[str, bytes | None], ...] = ()
            ) -> tuple[list[tuple[Event, bytes]], DeadLetter | None]:
    """One event: ([(event, raw)], None), or ([], its dead letter) when invalid."""
    try:
        return [(parse_event(raw), raw)], None
    except InvalidEvent as exc:
        return [], DeadLetter(exc.reason, raw, source_file=HTTP_ORIGIN, line=0,
                              record_headers=headers)


def _batch(body: bytes) -> tuple[list[tuple[Event, bytes]], list[dict[str, Any]],
                                 list[DeadLetter]]:
    try:
        items = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise Refused(400, f"not JSON: {exc}") from None
    if not isinstance(items, list):
        raise Refused(400, "a batch is a JSON array of structured events")
    if len(items) > MAX_BATCH_EVENTS:
        raise Refused(413, f"batch of {len(items):,} events; the limit is {MAX_BATCH_EVENTS:,}")
    good: list[tuple[Event, bytes]] = []
    rejected: list[dict[str, Any]] = []
    dead: list[DeadLetter] = []
    for index, item in enumerate(items):
        raw = orjson.dumps(item)
        try:
            if len(raw) > MAX_EVENT_BYTES:
                raise InvalidEvent(too_large(len(raw)))
            good.append((parse_event(raw), raw))
        except InvalidEvent as exc:
            entry: dict[str, Any] = {"index": index, "reason": exc.reason}
            if isinstance(item, dict) and isinstance(item.get("id"), str):
                entry["id"] = item["id"]
            rejected.append(entry)
            dead.append(DeadLetter(exc.reason, raw, source_file=HTTP_ORIGIN, line=index))
    return good, rejected, dead


class AccessLog:
    """Pure ASGI middleware writing one access-log line per HTTP request (see the module
    docstring); the handler leaves the token's id and the counts in ``scope["state"]``.
    Not Starlette's ``BaseHTTPMiddleware`` (a task group and a streamed response per
    request): docs/decisions/http-ingest-producer.md."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def sending(message: dict[str, Any]) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            state = scope.get("state") or {}
            length = next((v for k, v in scope["headers"] if k == b"content-length"), b"0")
            access_log.info(orjson.dumps({
                "method": scope["method"], "path": scope["path"], "status": status,
                "ms": round((time.perf_counter() - started) * 1000, 2),
                "bytes": int(length) if length.isdigit() else 0,
                "token": state.get("token_id"), "accepted": state.get("accepted"),
                "rejected": state.get("rejected"),
            }).decode())


def create_app(settings: Settings, publisher: Publisher, tokens: TokenStore) -> FastAPI:
    """The ASGI application; ``publisher`` is started and stopped with it."""

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        await publisher.start()
        try:
            yield
        finally:
            await publisher.stop()

    app = FastAPI(title="motcua-kpi HTTP ingest", version="1.1", lifespan=lifespan,
                  description="CloudEvents HTTP binding 1.0 for one-stop software "
                              "(docs/contract.md, Transport bindings).")
    events_topic, dlq_topic = settings.topics.events, settings.topics.dlq

    app.add_middleware(AccessLog)
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        """FastAPI's document with the event schemas of :mod:`.contract` added."""
        document = generate()
        document.setdefault("components", {}).setdefault("schemas", {}).update(components)
        return document

    components = event_components()
    app.openapi = openapi  # type: ignore[method-assign]

    @app.post("/v1/events", status_code=202, openapi_extra=POST_EVENTS,
              summary="Send one event (structured or binary) or a batch")
    async def post_events(request: Request) -> Response:
        try:
            return await _post_events(request)
        except Refused as refused:
            return _refusal(refused.status, refused.reason)

    async def _post_events(request: Request) -> Response:
        grant = _bearer(request, tokens)
        content_type = request.headers.get("content-type")
        kind = media_type_of(content_type)
        rejected: list[dict[str, Any]] = []
        dead: list[DeadLetter] = []
        invalid: DeadLetter | None = None  # a single event's
        if kind == STRUCTURED:
            body = await _body(request, MAX_EVENT_BYTES)
            good, invalid = _single(body)
        elif kind == JSON:
            body = await _body(request, MAX_EVENT_BYTES)
            ce = tuple((k.decode("latin-1"), v) for k, v in request.headers.raw
                       if k.decode("latin-1").lower().startswith(HTTP_PREFIX))
            if not any(k.lower() == HTTP_PREFIX + "specversion" for k, _ in ce):
                raise Refused(400, "application/json is binary mode: the ce-specversion, "
                                   "ce-id, ce-source, ce-type, ce-time and ce-subject headers "
                                   f"are required (or send {STRUCTURED})")
            try:
                good, invalid = _single(binary_to_structured(list(ce), body,
                                                             prefix=HTTP_PREFIX))
            except InvalidEvent as exc:
                good, invalid = [], DeadLetter(exc.reason, body, source_file=HTTP_ORIGIN,
                                               line=0, record_headers=ce)
        elif kind == BATCH:
            good, rejected, dead = _batch(await _body(request, MAX_BATCH_BYTES))
        elif content_type is None:
            raise Refused(415, f"a Content-Type header is required: {STRUCTURED} (one "
                               f"event), {BATCH} (a JSON array of events) or {JSON} with "
                               "ce-* headers (binary mode)")
        else:
            raise Refused(415, f"Content-Type {content_type[:100]!r} is not accepted: "
                               f"send {STRUCTURED}, {BATCH} or {JSON} (binary mode)")
        if invalid is not None:
            dead = [invalid]
        refused = sorted({event.source for event, _ in good} - grant.sources)
        if refused:
            raise Refused(403, f"this token may not send events of source {refused[0]!r}")
        out: list[OutRecord] = [(events_topic, event.subject.encode(), raw, None)
                                for event, raw in good]
        out += [(dlq_topic, d.key, d.encode(), d.headers()) for d in dead]
        try:
            await publisher.publish(out)
        except DeliveryFailed as exc:
            raise Refused(503, NOT_CONFIRMED.format(why=exc)) from None
        if invalid is not None:
            raise Refused(400, invalid.reason)
        request.state.accepted, request.state.rejected = len(good), len(rejected)
        return JSONResponse({"accepted": len(good), "rejected": rejected}, status_code=202)

    @app.get("/healthz", summary="The process is up")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", summary="The broker answers",
             responses={503: {"description": "the broker does not answer"}})
    async def readyz() -> Response:
        if await publisher.ready():
            return JSONResponse({"status": "ready"})
        return JSONResponse({"status": "broker unreachable"}, status_code=503,
                            headers={"Retry-After": str(RETRY_AFTER_SECONDS)})

    return app


__all__ = ["MAX_BATCH_BYTES", "MAX_BATCH_EVENTS", "create_app"]
