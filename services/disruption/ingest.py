"""The partner ingest API: flight events in (JSON, or IATA MVT/ASM text), durably on
`flight-events` before the 202."""

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import APIRouter, Body, Query, Request
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException

from services.disruption import iata, metrics
from services.disruption.partners import Partner
from shared import topics
from shared.events import Envelope, FlightEvent, FlightEventData, event_id
from shared.http import problem

router = APIRouter(prefix="/v1", tags=["partner ingest"])

MAX_BATCH = 500
SIGNING = ("Sign every request: `Rebound-Key-Id: <key id>` and `Rebound-Signature: t=<unix seconds>,"
           "v1=<hex HMAC-SHA256(key=sha256hex(secret), msg=\"<t>.\" + body)>`.")


class Accepted(BaseModel):
    event_ids: list[str] = Field(description="One per event, in order; the same partner event id "
                                             "always gets the same event id")


async def publish(request: Request, partner: str, events: list[FlightEventData], channel: str) -> Accepted:
    """Put the events on `flight-events` and wait for every acks=all: only then is the answer 202."""
    service = request.app.state.service
    source = f"partner/{partner}"
    now = datetime.now(UTC)
    envelopes = [Envelope.wrap(e, source=source, subject=e.flight.designator, time=now,
                               id=event_id(source, e.partner_event_id)) for e in events]
    topic = topics.name(service.settings, topics.FLIGHT_EVENTS)
    sends = [await service.producer.send(topic, env.to_bytes(), key=env.subject.encode())
             for env in envelopes]
    await asyncio.gather(*sends)
    metrics.EVENTS_ACCEPTED.labels(channel).inc(len(envelopes))
    return Accepted(event_ids=[env.id for env in envelopes])


@router.post("/flight-events", status_code=202, response_model=Accepted,
             operation_id="submit_flight_events")
async def submit_flight_events(
    request: Request,
    partner: Partner,
    events: Annotated[FlightEvent | list[FlightEvent], Body()],
) -> Accepted:
    """Accept one flight event or a batch (up to 500), answered once every event is durably in
    Kafka. The same partner event id sent again gets the same event id and changes nothing."""
    batch = events if isinstance(events, list) else [events]
    if not batch or len(batch) > MAX_BATCH:
        raise HTTPException(422, f"Send between 1 and {MAX_BATCH} events per request")
    return await publish(request, partner, batch, "json")


@router.post("/messages", status_code=202, response_model=Accepted, operation_id="submit_iata_messages",
             openapi_extra={"requestBody": {"content": {"text/plain": {"schema": {"type": "string"}}},
                                            "required": True}})
async def submit_iata_messages(
    request: Request,
    partner: Partner,
    sent_at: Annotated[datetime | None, Query(
        description="When the messages were sent, for a replay of stored traffic (default: now). "
                    "MVT names only a day of the month; this places it.")] = None,
):
    """IATA MVT and ASM messages as text, separated by blank lines. All or nothing: if any
    message cannot be read, the answer names each one and its line, and nothing is published."""
    now = datetime.now(UTC)
    if sent_at is not None and sent_at.tzinfo is None:
        raise HTTPException(422, "sent_at needs a time zone, e.g. 2013-02-08T12:00:00Z")
    if sent_at is not None and sent_at > now + timedelta(minutes=5):
        raise HTTPException(422, "sent_at is in the future")
    if request.headers.get("content-type", "").split(";")[0].strip() != "text/plain":
        raise HTTPException(415, "Send the messages as text/plain")
    try:
        text = (await request.body()).decode("utf-8")
    except UnicodeDecodeError:
        return problem(422, "Invalid messages", "the body is not UTF-8 text")
    parsed = iata.parse_text(text, sent_at or now)
    errors = [{"message_line": p.line, "line": p.error.line, "message": p.error.reason}
              for p in parsed if p.error]
    if errors or not parsed:
        return problem(422, "Invalid messages", "; ".join(f"line {e['line']}: {e['message']}"
                                                          for e in errors) or "no message in the body",
                       errors=errors)
    return await publish(request, partner, [e for p in parsed for e in p.events], "iata")
