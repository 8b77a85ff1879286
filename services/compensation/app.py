"""Wiring for the compensation service."""

from pathlib import Path

from fastapi import FastAPI

from services.compensation import handlers
from shared.runtime import Service
from shared.settings import Settings


class CompensationSettings(Settings):
    http_port: int = 8003


def create_app(settings: CompensationSettings | None = None) -> FastAPI:
    service = Service(name="compensation", settings=settings or CompensationSettings(),
                      migrations=Path(__file__).parent / "migrations", handlers=handlers.HANDLERS)
    return service.app(
        title="Rebound compensation",
        description="Refunds, vouchers and compensation owed, granted exactly once.",
    )
