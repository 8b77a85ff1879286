"""Rebooking's consumer: inventory from the reservation side, and each disrupted booking either
kept on its flight or put in `pending` for the next assignment round (services/rebooking/assignment.py)."""

import json
from collections import Counter

import asyncpg

from services.rebooking.decisions import Decisions
from shared import db, system, tracing
from shared.consumer import Event
from shared.events import (
    TIERS,
    BookingConfirmed,
    FlightScheduled,
    FlightStatusChanged,
    PassengerDisruption,
)
from shared.outbox import Outbox


async def record_schedule(conn: asyncpg.Connection, event: Event[FlightScheduled], outbox: Outbox) -> None:
    f = event.payload
    await conn.execute(
        """INSERT INTO flights (flight_id, carrier, number, origin, destination,
                                scheduled_departure, scheduled_arrival)
           VALUES ($1, $2, $3, $4, $5, $6, $7)
           ON CONFLICT (flight_id) DO UPDATE SET
               scheduled_departure = EXCLUDED.scheduled_departure,
               scheduled_arrival = EXCLUDED.scheduled_arrival""",
        f.flight_id, f.carrier, f.number, f.origin, f.destination,
        f.scheduled_departure, f.scheduled_arrival)
    # Bookings may have arrived before their flight: count their seats in when it appears. The
    # flight's lock keeps a booking being recorded at this moment (another replica) from being
    # counted by neither this count nor its own increment.
    await lock_flights(conn, [f.flight_id])
    await conn.executemany(
        """INSERT INTO cabins (flight_id, cabin, capacity, sold)
           VALUES ($1, $2, $3, (SELECT count(*) FROM seats WHERE flight_id = $1 AND cabin = $2))
           ON CONFLICT (flight_id, cabin) DO UPDATE SET capacity = EXCLUDED.capacity""",
        [(f.flight_id, cabin, seats) for cabin, seats in f.seats_by_cabin.items()])


async def lock_flights(conn: asyncpg.Connection, flight_ids: list[str]) -> None:
    """Serialise the counting of these flights' seats sold, until the transaction ends (in one
    order for everyone, so two batches never wait on each other)."""
    await db.lock(conn, [f"cabins:{f}" for f in flight_ids])
    if db.beside_previous_release:  # whose replicas count seats under this advisory lock alone
        await conn.execute(
            """SELECT pg_advisory_xact_lock(hashtext('rebooking.cabins'), k)
               FROM (SELECT DISTINCT hashtext(f) AS k FROM unnest($1::text[]) AS f ORDER BY 1) AS keys""",
            flight_ids)


async def record_bookings(conn: asyncpg.Connection, events: list[Event[BookingConfirmed]], outbox: Outbox) -> None:
    """A batch of new bookings: their seats held and counted, a booking already known left as it
    is (its seats are this service's to move now). Three statements for the whole batch: a
    reservation system's initial load is hundreds of thousands."""
    first: dict[str, BookingConfirmed] = {}
    for e in events:
        first.setdefault(e.payload.booking_ref, e.payload)
    new = await _store_new_bookings(conn, list(first.values()))
    if new:
        await _hold_seats(conn, new)


async def _store_new_bookings(conn: asyncpg.Connection, batch: list[BookingConfirmed]) -> list[BookingConfirmed]:
    """The bookings not known before, stored; those."""
    # Inserted through the primary key's conflict check, which never depends on the planner's idea
    # of the table's size (a load grows it from nothing faster than statistics follow).
    inserted = {r["booking_ref"] for r in await conn.fetch(
        """INSERT INTO bookings (booking_ref, passenger_ids, cabin, tier, special_services, booked_at, may_split)
           SELECT r.ref, ARRAY(SELECT jsonb_array_elements_text(r.passengers::jsonb)), r.cabin, r.tier,
                  ARRAY(SELECT jsonb_array_elements_text(r.services::jsonb)), r.booked_at, r.may_split
           FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::timestamptz[], $7::bool[])
                AS r(ref, passengers, cabin, tier, services, booked_at, may_split)
           ON CONFLICT DO NOTHING RETURNING booking_ref""",
        [b.booking_ref for b in batch], [json.dumps([p.passenger_id for p in b.passengers]) for b in batch],
        [b.cabin for b in batch], [max((p.tier for p in b.passengers), key=TIERS.index) for b in batch],
        [json.dumps(sorted({s for p in b.passengers for s in p.special_services})) for b in batch],
        [b.booked_at for b in batch], [b.may_split for b in batch])}
    return [b for b in batch if b.booking_ref in inserted]


async def _hold_seats(conn: asyncpg.Connection, bookings: list[BookingConfirmed]) -> None:
    """The seats the bookings hold, and their cabins' counts sold."""
    seats = [(b.booking_ref, p.passenger_id, f, b.cabin) for b in bookings for f in b.flight_ids for p in b.passengers]
    await lock_flights(conn, [f for _, _, f, _ in seats])
    await conn.execute(
        """INSERT INTO seats (booking_ref, passenger_id, flight_id, cabin)
           SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[])""",
        *(list(column) for column in zip(*seats, strict=True)))
    sold = Counter((f, b.cabin) for b in bookings for f in b.flight_ids for _ in b.passengers)
    await conn.execute(
        """UPDATE cabins c SET sold = c.sold + t.n
           FROM unnest($1::text[], $2::text[], $3::int[]) AS t(flight_id, cabin, n)
           WHERE c.flight_id = t.flight_id AND c.cabin = t.cabin""",
        [f for f, _ in sold], [c for _, c in sold], list(sold.values()))


async def record_status(conn: asyncpg.Connection, event: Event[FlightStatusChanged], outbox: Outbox) -> None:
    s = event.payload
    await conn.execute("UPDATE flights SET status = $2 WHERE flight_id = $1", s.flight_id, s.status)


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
    # One round trip: the flight is gone (if the status feed has not said so yet); the booking
    # waits for the next assignment round, unless it was decided already (taking seats again
    # would hold two for one passenger); and the assigner is woken.
    await conn.execute(
        """WITH cancelled AS (
               UPDATE flights SET status = 'cancelled'
               WHERE $4 AND flight_id = ANY($5::text[]) AND status <> 'cancelled'),
           woken AS (SELECT pg_notify($7, ''))
           INSERT INTO pending (disruption_id, booking_ref, disruption, traceparent)
           SELECT $1, $2, $3, $6 FROM woken
           WHERE NOT EXISTS (SELECT 1 FROM rebookings WHERE disruption_id = $1 AND booking_ref = $2)
           ON CONFLICT DO NOTHING""",
        d.disruption_id, d.booking_ref, d.model_dump(mode="json"), d.kind == "cancelled",
        [s.flight_id for s in d.segments or [d.flight]], tracing.current.get(), system.channel("rebooking", "pending"))
