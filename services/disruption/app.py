"""Wiring for the disruption service."""

import asyncio
from pathlib import Path

from fastapi import FastAPI, Request
from pydantic import model_validator

from services.disruption import handlers, ingest, metrics, ops
from services.disruption.partners import (
    DEVELOPMENT_PARTNER_DIGEST,
    DEVELOPMENT_PARTNER_KEYS,
    RateLimiter,
    parse_partner_keys,
)
from shared import contract
from shared.runtime import Service
from shared.settings import Settings

_REJECTIONS = {401: "unauthenticated", 411: "length_required", 413: "too_large", 415: "unsupported_media_type",
               422: "invalid", 429: "rate_limited"}


class DisruptionSettings(Settings):
    http_port: int = 8001
    # Partner signing keys as `partner:key_id:<sha256 hex of the secret>[:carriers=B6+AA]
    # [:airports=JFK+LGA][:history]`, comma-separated; a partner may hold two at once while it rotates.
    partner_keys: str = DEVELOPMENT_PARTNER_KEYS
    signature_tolerance_seconds: int = 300
    partner_rate_per_second: float = 50.0
    partner_burst: int = 200

    @model_validator(mode="after")
    def _refuse_development_partner_keys(self) -> "DisruptionSettings":
        keys = parse_partner_keys(self.partner_keys)
        if self.in_production and any(k.digest == DEVELOPMENT_PARTNER_DIGEST for k in keys.values()):
            raise ValueError("REBOUND_PARTNER_KEYS must not hold the development key in production")
        if self.in_production and any(k.history for k in keys.values()):
            raise ValueError("REBOUND_PARTNER_KEYS: a history (replay) key is for development and test, "
                             "not production")
        return self


async def count_flights_by_status(service: Service) -> None:
    """Refresh the flights-by-status gauge from the database (right across replicas)."""
    while True:
        rows = await service.pool.fetch("SELECT status, count(*) AS n FROM flights GROUP BY status")
        counts = {r["status"]: r["n"] for r in rows}
        for status in ("scheduled", "delayed", "cancelled", "diverted", "departed", "arrived"):
            metrics.FLIGHTS_BY_STATUS.labels(status).set(counts.get(status, 0))
        await asyncio.sleep(5)


def create_app(settings: DisruptionSettings | None = None) -> FastAPI:
    settings = settings or DisruptionSettings()
    handlers.MINIMUM_CONNECTING.update(settings.minimum_connecting)
    handlers.CO_TERMINALS[:] = settings.co_terminal_groups
    service = Service(name="disruption", settings=settings,
                      migrations=Path(__file__).parent / "migrations", handlers=handlers.HANDLERS,
                      background=[count_flights_by_status])
    app = service.app(
        title="Rebound disruption",
        body_limits={"/v1/flight-events": ingest.MAX_BODY_BYTES, "/v1/messages": ingest.MAX_BODY_BYTES},
        description="Partner flight events in (signed JSON, IATA Type B text or AIDX XML); affected "
                    "passengers and first notices out; the ops board at /ops. " + ingest.SIGNING,
    )
    app.state.partner_keys = parse_partner_keys(settings.partner_keys)
    app.state.rate_limiter = RateLimiter(settings.partner_rate_per_second, settings.partner_burst)

    @app.middleware("http")
    async def count_rejections(request: Request, call_next):
        response = await call_next(request)
        if request.url.path.startswith("/v1/") and response.status_code in _REJECTIONS:
            channel = ingest.channel_of(request) if request.url.path == "/v1/messages" else "json"
            metrics.EVENTS_REJECTED.labels(channel, _REJECTIONS[response.status_code]).inc()
        return response

    app.include_router(ingest.router)
    app.include_router(ops.router)
    if not settings.in_production:
        describe_events(app)
    return app


def describe_events(app: FastAPI) -> None:
    """Beside /docs: the AsyncAPI document of every topic, and the schemas the ingest's request
    bodies name (read by hand, so FastAPI does not list them itself)."""

    @app.get("/asyncapi.json", include_in_schema=False)
    async def asyncapi_document() -> dict:
        return contract.asyncapi(app.version)

    described = app.openapi

    def openapi() -> dict:
        schema = described()
        known = schema.setdefault("components", {}).setdefault("schemas", {})
        known.update({k: v for k, v in contract.components().items() if k not in known})
        return schema

    app.openapi = openapi
