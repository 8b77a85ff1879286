"""The partner ingest API: flight events in (JSON, IATA Type B text or IATA AIDX XML), durably on
`flight-events` before the 202."""

import asyncio
import logging
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException

from services.disruption import aidx, iata, metrics, partner_events, times
from services.disruption.partners import Partner, PartnerKey
from services.disruption.typeb import Parsed
from shared import contract, outbox, topics, tracing
from shared.events import Envelope, FlightEventData, event_id
from shared.http import GatedRoute, problem
from shared.runtime import running

log = logging.getLogger(__name__)

router = APIRouter(prefix="/v1", tags=["partner ingest"], route_class=GatedRoute)

# How far ahead of our clock a partner's may run, and how old its news may be.
CLOCK_SKEW = timedelta(minutes=5)
MAX_AGE = timedelta(days=3)
SIGNING = ("Sign every request (the partner API documentation, \"Signing a request\"): `Rebound-Key-Id: <key id>` and "
           "`Rebound-Signature: t=<unix seconds>,v2=<hex HMAC-SHA256>`, where the HMAC's key is the 64 "
           "lower-case hex characters of SHA-256(UTF-8 secret), taken as ASCII bytes, and its message is "
           "the ASCII timestamp, a full stop, the request target as sent (path, and `?query` if any), a "
           "line feed, then the body's bytes exactly as sent.")


class Accepted(BaseModel):
    event_ids: list[str] = Field(description="One per event, in order; the same partner event id "
                                             "always gets the same event id")


def clock_problems(partner: PartnerKey, events: list[FlightEventData], now: datetime) -> list[dict[str, str]]:
    """A partner's clock orders its own events and nothing more, within bounds: an event from the
    future would make every later one look stale, and its flight deaf to news; one from long ago is
    no news. Only a key that replays a past day (development and test) sends old times."""
    problems = []
    for i, e in enumerate(events):
        place = {"field": f"events[{i}].occurred_at", "pointer": f"/{i}/occurred_at"}
        if e.occurred_at and e.occurred_at > now + CLOCK_SKEW:
            problems.append(place | {"message": "in the future"})
        elif e.occurred_at and e.occurred_at < now - MAX_AGE and not partner.history:
            problems.append(place | {"message": f"more than {MAX_AGE.days} days old"})
    return problems


async def publish(request: Request, partner: PartnerKey, events: list[FlightEventData],
                  channel: str, traces: list[str | None] | None = None) -> Accepted | JSONResponse:
    """Put the events on `flight-events` and wait for every acks=all: only then is the answer 202.
    A key limited to some airlines or airports may report on nothing else: 403, nothing published.
    Each event carries the partner's trace (`traces`, in order), or one of its own."""
    now = datetime.now(UTC)
    if refused := _not_publishable(partner, events, now):
        return refused
    envelopes = _envelopes(request, partner, events, traces, now)
    service = running(request.app)
    topic = topics.name(service.settings, topics.FLIGHT_EVENTS)
    sends = [await service.kafka.send(topic, env.to_bytes(), key=e.flight.designator.encode(), headers=outbox.HEADERS)
             for env, e in zip(envelopes, events, strict=True)]
    await asyncio.gather(*sends)
    metrics.EVENTS_ACCEPTED.labels(channel).inc(len(envelopes))
    for env in envelopes:
        log.info("flight event accepted", extra={"event_id": env.id, "partner": partner.partner,
                                                 "trace_id": tracing.trace_id(env.traceparent)})
    return Accepted(event_ids=[env.id for env in envelopes])


def _not_publishable(partner: PartnerKey, events: list[FlightEventData], now: datetime) -> JSONResponse | None:
    """Why none of the events may go, if one may not: a flight the key may not report on (403), a
    clock out of bounds or times that contradict each other (422)."""
    if refusals := [(i, why) for i, e in enumerate(events) if (why := partner.refusal(e.flight))]:
        raise HTTPException(403, f"Event {refusals[0][0]}: {refusals[0][1]}")
    if wrong := clock_problems(partner, events, now):
        return problem(422, "Invalid request", f"occurred_at is {wrong[0]['message']} (at most "
                       f"{CLOCK_SKEW.seconds // 60} minutes ahead, {MAX_AGE.days} days behind) for "
                       f"{wrong[0]['field'].split('.')[0]}", errors=wrong)
    if contradictions := [(i, why) for i, e in enumerate(events) if (why := times.contradiction(e))]:
        return problem(422, "Invalid request", f"event {contradictions[0][0]}: {contradictions[0][1]}",
                       errors=[{"field": f"events[{i}]", "pointer": f"/{i}", "message": why}
                               for i, why in contradictions])
    return None


def _envelopes(request: Request, partner: PartnerKey, events: list[FlightEventData],
               traces: list[str | None] | None, now: datetime) -> list[Envelope]:
    """Each event in its CloudEvents envelope, with the partner's trace or one of its own."""
    # A replayed day's times are taken as they were sent (see handlers.announced_at). Its events'
    # ids are the partner's all the same: the same event is one event whichever key signed it.
    source = f"{'replay' if partner.history else 'partner'}/{partner.partner}"
    header = request.headers.get("traceparent")
    traces = traces or [header if header and tracing.valid(header) else None] * len(events)
    ids = [event_id(f"partner/{partner.partner}", e.partner_event_id) for e in events]
    return [Envelope.wrap(e, source=source, subject=e.flight.designator, time=now, id=id,
                          traceparent=trace or tracing.derived(id))
            for e, id, trace in zip(events, ids, traces, strict=True)]


@router.post("/flight-events", status_code=202, response_model=Accepted, operation_id="submit_flight_events",
             openapi_extra={"requestBody": {"required": True, "content": contract.flight_event_bodies()},
                            "parameters": contract.binary_mode_headers()})
async def submit_flight_events(request: Request, partner: Partner) -> Accepted | JSONResponse:
    """Accept one flight event or a batch (up to 500), answered once every event is durably in
    Kafka. The same partner event id sent again gets the same event id and changes nothing.
    Rebound's own JSON, or CloudEvents 1.0 in binary, structured or batched mode."""
    try:
        received = partner_events.read(request.headers, await request.body())
    except partner_events.Unreadable as exc:
        errors: dict[str, Any] = {"errors": exc.errors} if exc.errors else {}
        return problem(exc.status, "Invalid request" if exc.status == 422 else "Unsupported media type",
                       exc.detail, **errors)
    return await publish(request, partner, [r.event for r in received], received[0].form,
                         [r.traceparent for r in received])


# A batch of 500 JSON events, or a megabyte of messages; other routes keep the shared 64 KiB.
MAX_BODY_BYTES = 1024 * 1024
# One request's messages become at most this many events (an SSM season can become many).
MAX_MESSAGE_EVENTS = 5000
TEXT_TYPES = ("text/plain",)
XML_TYPES = ("application/xml", "text/xml")


def _media_type(request: Request) -> str:
    return request.headers.get("content-type", "").split(";")[0].strip().lower()


def channel_of(request: Request) -> str:
    """How messages came in, for the metrics: IATA Type B text or AIDX XML."""
    return "aidx" if _media_type(request) in XML_TYPES else "iata"


class Unreadable(BaseModel):
    line: int = Field(description="The line at fault (AIDX: the FlightLeg's position)")
    message: str


class MessageResult(BaseModel):
    line: int = Field(description="Type B: the message's first line in the body; AIDX: the FlightLeg's position")
    kind: str | None = Field(default=None, description="MVT, MVA, DIV, ASM, SSM, OOOI (an ACARS report) or AIDX")
    event_ids: list[str] = Field(default=[], description="The events this message became, in order")
    error: Unreadable | None = Field(default=None, description="Why it could not be read")
    notes: list[str] = Field(default=[], description="What was read but needs no event, e.g. an equipment change")


class MessagesAccepted(Accepted):
    messages: list[MessageResult] = Field(description="One per message (or AIDX flight leg), in order")


@router.post("/messages", status_code=202, response_model=MessagesAccepted, operation_id="submit_iata_messages",
             openapi_extra={"requestBody": {"content": {"text/plain": {"schema": {"type": "string"}},
                                                        "application/xml": {"schema": {"type": "string"}}},
                                            "required": True}})
async def submit_iata_messages(
    request: Request,
    partner: Partner,
    sent_at: Annotated[datetime | None, Query(
        description="When the messages were sent, for a replay of stored traffic (default: now). "
                    "MVT names only a day of the month; this places it.")] = None,
    atomic: Annotated[bool, Query(
        description="true (default): all or nothing — one unreadable message refuses the request and nothing "
                    "is published. false: every readable message is published; each unreadable one is named "
                    "in `messages` with its error.")] = True,
):
    """IATA Type B messages as text (MVT, MVA, DIV, ASM, SSM, ACARS OOOI reports; raw SITA traffic
    with its envelopes is fine), or an IATA AIDX `IATA_AIDX_FlightLegNotifRQ` as XML. The answer
    names what became of each message."""
    now = datetime.now(UTC)
    _check_sent_at(sent_at, now, partner)
    if _media_type(request) not in TEXT_TYPES + XML_TYPES:
        raise HTTPException(415, "Send Type B messages as text/plain, or AIDX as application/xml")
    channel = channel_of(request)
    parsed = _parse(channel, await request.body(), sent_at or now)
    if isinstance(parsed, JSONResponse):
        return parsed
    if (refused := _refusal(parsed, atomic)) is not None:
        return refused
    events = [e for p in parsed if not p.error for e in p.events]
    if unreadable := sum(1 for p in parsed if p.error):
        metrics.EVENTS_REJECTED.labels(channel, "invalid").inc(unreadable)
    accepted = await publish(request, partner, events, channel)
    return _per_message(parsed, accepted) if isinstance(accepted, Accepted) else accepted


def _per_message(parsed: list[Parsed], accepted: Accepted) -> MessagesAccepted:
    """The answer: each message's events' ids, in order, or its error."""
    ids = iter(accepted.event_ids)
    return MessagesAccepted(event_ids=accepted.event_ids, messages=[
        MessageResult(line=p.line, kind=p.kind, notes=p.notes,
                      error=Unreadable(line=p.error.line, message=p.error.reason) if p.error else None,
                      event_ids=[] if p.error else [next(ids) for _ in p.events])
        for p in parsed])


def _refusal(parsed: list[Parsed], atomic: bool) -> JSONResponse | None:
    """Why the messages are refused whole, if they are: none readable (or, atomic, one not), or
    more events than one request may bring."""
    errors = [{"message_line": p.line, "line": p.error.line, "message": p.error.reason}
              for p in parsed if p.error]
    readable = [p for p in parsed if not p.error]
    if not parsed or (errors and (atomic or not readable)):
        return problem(422, "Invalid messages", "; ".join(f"line {e['line']}: {e['message']}"
                                                          for e in errors) or "no message in the body",
                       errors=errors)
    events = sum(len(p.events) for p in readable)
    if events > MAX_MESSAGE_EVENTS:
        return problem(422, "Too many events", f"The messages come to {events} events; send them in requests "
                                               f"of at most {MAX_MESSAGE_EVENTS}")
    return None


def _check_sent_at(sent_at: datetime | None, now: datetime, partner: PartnerKey) -> None:
    if sent_at is None:
        return
    if sent_at.tzinfo is None:
        raise HTTPException(422, "sent_at needs a time zone, e.g. 2013-02-08T12:00:00Z")
    if sent_at > now + CLOCK_SKEW:
        raise HTTPException(422, "sent_at is in the future")
    if sent_at < now - MAX_AGE and not partner.history:
        raise HTTPException(422, f"sent_at is more than {MAX_AGE.days} days old: only a replay key sends old traffic")


def _parse(channel: str, body: bytes, sent_at: datetime) -> list[Parsed] | JSONResponse:
    """Each message (or AIDX flight leg) of the body, read or with its error."""
    if channel == "aidx":
        return aidx.parse_xml(body, sent_at)
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return problem(422, "Invalid messages", "the body is not UTF-8 text")
    return iata.parse_text(text, sent_at)
