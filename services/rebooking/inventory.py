"""Seat inventory in PostgreSQL: the only place seats are taken or given back.

A seat is taken by a conditional update (`sold + n <= capacity`) inside the caller's transaction,
so replicas racing for the last seats can never sell more than a cabin has; the table's CHECK
constraint is the last line of defence."""

from collections.abc import Iterable, Sequence
from datetime import datetime

import asyncpg

from services.rebooking import domain, metrics


class _SeatsGone(Exception):
    pass


async def take_seats(conn: asyncpg.Connection, booking_ref: str, passenger_ids: Sequence[str],
                     flight_ids: Sequence[str], cabin: str) -> bool:
    """Seat the passengers on every flight, or on none (False: another sale got there first)."""
    try:
        async with conn.transaction():
            for flight_id in flight_ids:
                taken = await conn.fetchval(
                    """UPDATE cabins c SET sold = c.sold + $3
                       FROM flights f
                       WHERE c.flight_id = $1 AND c.cabin = $2 AND f.flight_id = c.flight_id
                         AND f.status = 'scheduled' AND c.sold + $3 <= c.capacity
                       RETURNING 1""",
                    flight_id, cabin, len(passenger_ids))
                if not taken:
                    raise _SeatsGone
            await conn.executemany(
                """INSERT INTO seats (booking_ref, passenger_id, flight_id, cabin) VALUES ($1, $2, $3, $4)
                   ON CONFLICT (booking_ref, passenger_id, flight_id) DO UPDATE SET cabin = EXCLUDED.cabin""",
                [(booking_ref, p, f, cabin) for f in flight_ids for p in passenger_ids])
    except _SeatsGone:
        return False
    metrics.SEATS_TAKEN.inc(len(passenger_ids) * len(flight_ids))
    return True


async def release_seats(conn: asyncpg.Connection, booking_ref: str, passenger_ids: Iterable[str],
                        flight_ids: Iterable[str]) -> int:
    """Give the passengers' seats on these flights back to inventory; how many were given back."""
    released = await conn.fetchval(
        """WITH gone AS (
               DELETE FROM seats WHERE booking_ref = $1 AND passenger_id = ANY($2::text[])
                                   AND flight_id = ANY($3::text[])
               RETURNING flight_id, cabin),
           counted AS (SELECT flight_id, cabin, count(*)::int AS n FROM gone GROUP BY 1, 2),
           updated AS (UPDATE cabins c SET sold = c.sold - counted.n FROM counted
                       WHERE c.flight_id = counted.flight_id AND c.cabin = counted.cabin)
           SELECT coalesce(sum(n), 0) FROM counted""",
        booking_ref, list(passenger_ids), list(flight_ids))
    metrics.SEATS_RELEASED.inc(released)
    return released


async def booked_legs(conn: asyncpg.Connection, booking_ref: str,
                      passenger_ids: Sequence[str]) -> list[domain.BookedLeg]:
    rows = await conn.fetch(
        """SELECT DISTINCT f.flight_id, f.carrier, f.origin, f.destination,
                  f.scheduled_departure AS departure, f.scheduled_arrival AS arrival
           FROM seats s JOIN flights f USING (flight_id)
           WHERE s.booking_ref = $1 AND s.passenger_id = ANY($2::text[])""",
        booking_ref, list(passenger_ids))
    return [domain.BookedLeg(**dict(r)) for r in rows]


async def flights_around(conn: asyncpg.Connection, origins: Iterable[str], destinations: Iterable[str],
                         start: datetime, end: datetime) -> list[domain.Flight]:
    """Scheduled flights leaving between `start` and `end` from one of `origins` or to one of
    `destinations` (a one-stop's two legs), with their free seats by cabin."""
    rows = await conn.fetch(
        """SELECT f.flight_id, f.carrier, f.number, f.origin, f.destination,
                  f.scheduled_departure AS departure, f.scheduled_arrival AS arrival,
                  jsonb_object_agg(c.cabin, c.capacity - c.sold) AS seats_free
           FROM flights f JOIN cabins c USING (flight_id)
           WHERE f.status = 'scheduled' AND f.scheduled_departure BETWEEN $3 AND $4
             AND (f.origin = ANY($1::text[]) OR f.destination = ANY($2::text[]))
           GROUP BY f.flight_id""",
        sorted(origins), sorted(destinations), start, end)
    return [domain.Flight(**dict(r)) for r in rows]
