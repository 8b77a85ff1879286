"""Wiring for the rebooking service."""

from pathlib import Path

from fastapi import FastAPI

from services.rebooking import handlers
from shared.runtime import Service
from shared.settings import Settings


class RebookingSettings(Settings):
    http_port: int = 8002


def create_app(settings: RebookingSettings | None = None) -> FastAPI:
    service = Service(name="rebooking", settings=settings or RebookingSettings(),
                      migrations=Path(__file__).parent / "migrations", handlers=handlers.HANDLERS)
    return service.app(
        title="Rebound rebooking",
        description="Seat inventory; disrupted bookings moved to the best flight with seats.",
    )
