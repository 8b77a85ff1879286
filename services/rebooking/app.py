"""Wiring for the rebooking service."""

import asyncio
import logging
from pathlib import Path

import asyncpg
from fastapi import FastAPI

from services.rebooking import choice, handlers
from services.rebooking.config import RebookingSettings
from shared import db
from shared.db import TRANSIENT
from shared.runtime import Service

log = logging.getLogger(__name__)


async def assign_disruptions(service: Service) -> None:
    """Wake when a disruption is pending, let the batching window gather its neighbours, assign
    them together, and again: a full round goes straight on; any other waits one window more, so
    a burst is assigned in few large rounds rather than many small ones."""
    settings: RebookingSettings = service.settings  # type: ignore[assignment]
    async with db.notifications(settings.database_url, "rebooking_pending") as woken:
        while True:
            try:
                async with service.pool.acquire() as conn, conn.transaction():
                    settled = await handlers.assign_pending(conn, settings)
            except (*TRANSIENT, asyncpg.PostgresError) as exc:
                # A deadlock with another replica, or the database restarting: the round rolls
                # back whole, and its disruptions stay pending.
                log.warning("assignment round rolled back; retrying", extra={"error": repr(exc)})
                await asyncio.sleep(0.5)
                continue
            if settled < settings.assign_batch:
                if not settled:
                    await woken(1.0)
                await asyncio.sleep(settings.batch_window_ms / 1000)


def create_app(settings: RebookingSettings | None = None) -> FastAPI:
    service = Service(name="rebooking", settings=settings or RebookingSettings(),
                      migrations=Path(__file__).parent / "migrations", handlers=handlers.HANDLERS,
                      background=[assign_disruptions, choice.count_silences])
    app = service.app(
        title="Rebound rebooking",
        description="Seat inventory; disrupted bookings assigned the best flights with seats; the "
                    "passenger's choice (accept, change, refund) through a signed link.",
    )
    app.include_router(choice.router)
    return app
