"""The partner ingest API: flight events in, durably on `flight-events` before the 202."""

import asyncio
from typing import Annotated

from fastapi import APIRouter, Body, Depends, Request
from pydantic import BaseModel

from shared import topics
from shared.events import Envelope, FlightCancelled, FlightDelayed, FlightEvent, event_id
from shared.http import require_api_key

router = APIRouter(prefix="/v1", tags=["partner ingest"])


class Accepted(BaseModel):
    event_ids: list[str]


@router.post("/flight-events", status_code=202, response_model=Accepted,
             operation_id="submit_flight_events", dependencies=[Depends(require_api_key)])
async def submit_flight_events(
    request: Request,
    events: Annotated[FlightEvent | list[FlightEvent], Body()],
) -> Accepted:
    """Accept one flight event or a batch. Answered only once every event is durably in Kafka
    (acks=all). The same partner event id sent again gets the same event id and changes nothing."""
    service = request.app.state.service
    batch: list[FlightCancelled | FlightDelayed] = events if isinstance(events, list) else [events]
    source = "partner/default"
    envelopes = [
        Envelope.wrap(e, source=source, subject=e.flight.flight_id,
                      id=event_id(source, e.partner_event_id))
        for e in batch
    ]
    topic = topics.name(service.settings, topics.FLIGHT_EVENTS)
    sends = [await service.producer.send(topic, env.to_bytes(), key=env.subject.encode())
             for env in envelopes]
    await asyncio.gather(*sends)
    return Accepted(event_ids=[env.id for env in envelopes])
