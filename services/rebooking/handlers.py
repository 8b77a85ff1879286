"""Rebooking's consumer: inventory from the reservation side, and each disrupted booking either
kept on its flight or put in `pending` for the next assignment round (services/rebooking/assignment.py)."""

import asyncpg

from services.rebooking import store
from services.rebooking.decisions import Decisions
from shared import system, tracing
from shared.consumer import Event
from shared.events import (
    BookingConfirmed,
    FlightScheduled,
    FlightStatusChanged,
    PassengerDisruption,
)
from shared.outbox import Outbox


async def record_schedule(conn: asyncpg.Connection, event: Event[FlightScheduled], outbox: Outbox) -> None:
    await store.put_flight(conn, event.payload)


async def record_bookings(conn: asyncpg.Connection, events: list[Event[BookingConfirmed]], outbox: Outbox) -> None:
    """A batch of new bookings: their seats held and counted, a booking already known left as it
    is (its seats are this service's to move now). Three statements for the whole batch: a
    reservation system's initial load is hundreds of thousands."""
    first: dict[str, BookingConfirmed] = {}
    for e in events:
        first.setdefault(e.payload.booking_ref, e.payload)
    new = await store.add_bookings(conn, list(first.values()))
    if new:
        await store.hold_seats(conn, new)


async def record_status(conn: asyncpg.Connection, event: Event[FlightStatusChanged], outbox: Outbox) -> None:
    await store.set_flight_status(conn, event.payload.flight_id, event.payload.status)


# Disruptions after which the passengers keep their flight, and why.
KEEP_THE_FLIGHT = {
    "delayed": "the flight still operates",
    "retimed": "the flight operates at its new time",
    "diverted": "the flight landed elsewhere: staff at that airport arrange the onward trip",
}


async def rebook(conn: asyncpg.Connection, event: Event[PassengerDisruption], outbox: Outbox) -> None:
    d = event.payload
    if d.kind in KEEP_THE_FLIGHT:
        # The flight still goes: the passengers keep it (the choice page is for rebookings).
        decisions = Decisions()
        decisions.add(outbox, d, "kept", KEEP_THE_FLIGHT[d.kind], arrival_delay=max(d.delay_minutes, 0))
        await decisions.flush(conn)
        return
    # The booking waits for the next assignment round, and the assigner is woken.
    await store.await_round(conn, d, tracing.current.get(), system.channel("rebooking", "pending"))
