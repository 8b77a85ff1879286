"""Wiring for the disruption service."""

from pathlib import Path

from fastapi import FastAPI

from services.disruption import handlers, ingest
from shared.runtime import Service
from shared.settings import Settings


class DisruptionSettings(Settings):
    http_port: int = 8001


def create_app(settings: DisruptionSettings | None = None) -> FastAPI:
    settings = settings or DisruptionSettings()
    service = Service(name="disruption", settings=settings,
                      migrations=Path(__file__).parent / "migrations", handlers=handlers.HANDLERS)
    app = service.app(
        title="Rebound disruption",
        description="Partner flight events in; affected passengers and first notices out.",
    )
    app.include_router(ingest.router)
    return app
