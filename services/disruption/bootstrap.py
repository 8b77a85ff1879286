"""The disruption service, wired: its settings parsed once, its handlers given what they need and
routed by payload, its HTTP API (partner ingest, ops board) and its background work."""

import asyncio
import functools
import logging
from collections.abc import Awaitable, Callable

from fastapi import FastAPI, Request, Response

from services.disruption import designators, handlers, ingest, metrics, ops, store, what_if
from services.disruption.config import Config, DisruptionSettings, unscoped
from shared import contract, topics
from shared.consumer import Routes
from shared.events import (
    FLIGHT_EVENT_TYPES,
    AgentActed,
    BookingConfirmed,
    EntitlementsGranted,
    FlightScheduled,
    NoticeDelivered,
    PayoutSettled,
    RebookingDecided,
)
from shared.runtime import Service

log = logging.getLogger(__name__)

_REJECTIONS = {401: "unauthenticated", 411: "length_required", 413: "too_large", 415: "unsupported_media_type",
               422: "invalid", 429: "rate_limited"}


def routes(config: Config) -> Routes:
    """What the disruption service reads besides flight events, and which handler takes each event."""
    return (Routes()
            .on(topics.SCHEDULE, FlightScheduled, handlers.record_schedule)
            .on_batch(topics.BOOKINGS, BookingConfirmed, handlers.record_bookings)
            .on(topics.REBOOKINGS, RebookingDecided, handlers.follow_rebooking)
            .on(topics.ENTITLEMENTS, EntitlementsGranted, handlers.record_entitlements)
            .on(topics.ENTITLEMENTS, PayoutSettled, handlers.record_payout)
            .on_batch(topics.NOTICE_DELIVERIES, NoticeDelivered, handlers.record_deliveries)
            .on(topics.AGENT_ACTIONS, AgentActed, handlers.record_desk_action))


def flight_event_routes(config: Config) -> Routes:
    """Flight events, read by a consumer group of their own: the first notices they set off never
    wait behind the storm's rebookings and delivery reports."""
    return Routes().on(topics.FLIGHT_EVENTS, FLIGHT_EVENT_TYPES,
                       functools.partial(handlers.apply_flight_event, connecting=config.connecting))


async def refresh_gauges(service: Service[Config]) -> None:
    """Refresh the gauges read from the database (right across replicas): flights by status, and
    the passengers still waiting for an outcome."""
    while True:
        counts = await store.flights_by_status(service.database)
        for status in ("scheduled", "delayed", "cancelled", "diverted", "departed", "arrived"):
            metrics.FLIGHTS_BY_STATUS.labels(status).set(counts.get(status, 0))
        waiting, longest = await store.awaiting_outcome(service.database)
        metrics.AWAITING_OUTCOME.set(waiting)
        metrics.LONGEST_WAIT.set(longest)
        await asyncio.sleep(5)


def create_app(settings: DisruptionSettings | None = None) -> FastAPI:
    config = Config.of(settings or DisruptionSettings())
    designators.use_pairings(designators.parse_pairings(config.settings.airline_pairings))
    if config.settings.in_production:
        for key_id in unscoped(config.partners.keys):
            log.warning("UNSCOPED PARTNER KEY: it may report on any airline's flights; give it carriers= "
                        "(REBOUND_PARTNER_KEYS), or refuse such keys with REBOUND_PARTNER_KEYS_SCOPED_ONLY",
                        extra={"key_id": key_id})
    console_only = config.settings.serves == "console"
    service = Service(name="disruption", settings=config.settings, config=config, consumes=not console_only,
                      background=[refresh_gauges])
    app = service.app(
        title="Rebound disruption",
        body_limits={"/v1/flight-events": ingest.MAX_BODY_BYTES, "/v1/messages": ingest.MAX_BODY_BYTES},
        description="Partner flight events in (signed JSON, IATA Type B text or AIDX XML); affected "
                    "passengers and first notices out; the ops board at /ops. " + ingest.SIGNING,
    )

    @app.middleware("http")
    async def count_rejections(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        response = await call_next(request)
        if request.url.path.startswith("/v1/") and response.status_code in _REJECTIONS:
            channel = ingest.channel_of(request) if request.url.path == "/v1/messages" else "json"
            metrics.EVENTS_REJECTED.labels(channel, _REJECTIONS[response.status_code]).inc()
        return response

    if config.settings.serves != "console":
        app.include_router(ingest.router)
    if config.settings.serves != "ingest":
        app.include_router(ops.router)
        app.include_router(what_if.router)
    if not config.settings.in_production:
        describe_events(app)
    return app


def describe_events(app: FastAPI) -> None:
    """Beside /docs: the AsyncAPI document of every topic, and the schemas the ingest's request
    bodies name (read by hand, so FastAPI does not list them itself)."""

    @app.get("/asyncapi.json", include_in_schema=False)
    async def asyncapi_document() -> dict[str, object]:
        return contract.asyncapi(app.version)

    described = app.openapi

    def openapi() -> dict[str, object]:
        schema = described()
        known = schema.setdefault("components", {}).setdefault("schemas", {})
        known.update({k: v for k, v in contract.components().items() if k not in known})
        return schema

    app.openapi = openapi  # type: ignore[method-assign]  # FastAPI's documented way to extend its schema
