"""Seat inventory in PostgreSQL: the only place seats are taken or given back.

A seat is taken by a conditional update (`sold + n <= capacity`) inside the caller's transaction,
so replicas racing for the last seats can never sell more than a cabin has; the table's CHECK
constraint is the last line of defence. Each operation takes many bookings at once: an assignment
round costs a few statements, however many bookings it places."""

from collections import Counter
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import NamedTuple

import asyncpg

from services.rebooking import domain, metrics


class Seating(NamedTuple):
    """Seats for some of a booking's passengers, on every flight of an itinerary, in one cabin."""

    booking_ref: str
    passenger_ids: Sequence[str]
    flight_ids: Sequence[str]
    cabin: str


async def take_seats_for(conn: asyncpg.Connection, seatings: Sequence[Seating]) -> set[str]:
    """Seat each booking's passengers on all its flights, or on none; the bookings seated.

    One conditional update takes every cabin's seats for the whole round at once. A cabin another
    sale emptied meanwhile fails whole, and every booking that needed it gets nothing: the seats
    it took elsewhere in this round go back."""
    demand = _seats_needed(seatings)
    if not demand:
        return set()
    keys = sorted(demand)  # one lock order for every replica
    taken = {(r["flight_id"], r["cabin"]) for r in await conn.fetch(
        """UPDATE cabins c SET sold = c.sold + d.n
           FROM unnest($1::text[], $2::text[], $3::int[]) AS d(flight_id, cabin, n), flights f
           WHERE c.flight_id = d.flight_id AND c.cabin = d.cabin AND f.flight_id = c.flight_id
             AND f.status IN ('scheduled', 'delayed') AND c.sold + d.n <= c.capacity
           RETURNING c.flight_id, c.cabin""",
        [k[0] for k in keys], [k[1] for k in keys], [demand[k] for k in keys])}
    short = {s.booking_ref for s in seatings if any((f, s.cabin) not in taken for f in s.flight_ids)}
    # A booking short of a seat anywhere gets none: what it took elsewhere goes back.
    await _unsell(conn, _seats_needed([s for s in seatings if s.booking_ref in short], only=taken))
    await _seat(conn, [s for s in seatings if s.booking_ref not in short])
    return {s.booking_ref for s in seatings} - short


async def _seat(conn: asyncpg.Connection, seatings: Sequence[Seating]) -> None:
    """Each passenger's seat on each of its booking's flights, in its cabin."""
    rows = [(s.booking_ref, p, f, s.cabin) for s in seatings for f in s.flight_ids for p in s.passenger_ids]
    if rows:
        await conn.execute(
            """INSERT INTO seats (booking_ref, passenger_id, flight_id, cabin)
               SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[])
               ON CONFLICT (booking_ref, passenger_id, flight_id) DO UPDATE SET cabin = EXCLUDED.cabin""",
            *[list(col) for col in zip(*rows, strict=True)])
        metrics.SEATS_TAKEN.inc(len(rows))


def _seats_needed(seatings: Iterable[Seating], only: set[tuple[str, str]] | None = None
                  ) -> Counter[tuple[str, str]]:
    """Seats per (flight, cabin); with `only`, in those cabins alone."""
    needed: Counter[tuple[str, str]] = Counter()
    for s in seatings:
        for flight_id in s.flight_ids:
            if only is None or (flight_id, s.cabin) in only:
                needed[(flight_id, s.cabin)] += len(s.passenger_ids)
    return needed


async def take_seats(conn: asyncpg.Connection, booking_ref: str, passenger_ids: Sequence[str],
                     flight_ids: Sequence[str], cabin: str) -> bool:
    """Seat the passengers on every flight, or on none (False: another sale got there first)."""
    return booking_ref in await take_seats_for(conn, [Seating(booking_ref, passenger_ids, flight_ids, cabin)])


async def _unsell(conn: asyncpg.Connection, counts: Counter[tuple[str, str]]) -> None:
    if counts:
        keys = sorted(counts)
        await conn.execute(
            """UPDATE cabins c SET sold = c.sold - d.n
               FROM unnest($1::text[], $2::text[], $3::int[]) AS d(flight_id, cabin, n)
               WHERE c.flight_id = d.flight_id AND c.cabin = d.cabin""",
            [k[0] for k in keys], [k[1] for k in keys], [counts[k] for k in keys])


async def release_seats_for(conn: asyncpg.Connection,
                            releases: Sequence[tuple[str, Sequence[str], Sequence[str]]]) -> int:
    """Give each booking's passengers' seats on these flights back to inventory; how many."""
    rows = [(ref, p, f) for ref, passengers, flights in releases for p in passengers for f in flights]
    if not rows:
        return 0
    gone = await conn.fetch(
        """DELETE FROM seats s
           USING unnest($1::text[], $2::text[], $3::text[]) AS r(booking_ref, passenger_id, flight_id)
           WHERE s.booking_ref = r.booking_ref AND s.passenger_id = r.passenger_id
             AND s.flight_id = r.flight_id
           RETURNING s.flight_id, s.cabin""",
        *[list(col) for col in zip(*rows, strict=True)])
    await _unsell(conn, Counter((r["flight_id"], r["cabin"]) for r in gone))
    metrics.SEATS_RELEASED.inc(len(gone))
    return len(gone)


async def release_seats(conn: asyncpg.Connection, booking_ref: str, passenger_ids: Iterable[str],
                        flight_ids: Iterable[str]) -> int:
    return await release_seats_for(conn, [(booking_ref, list(passenger_ids), list(flight_ids))])


async def booked_legs_for(conn: asyncpg.Connection, bookings: Sequence[tuple[str, Sequence[str]]]
                          ) -> dict[str, list[domain.BookedLeg]]:
    """The flights each booking's passengers hold seats on."""
    pairs = [(ref, p) for ref, passengers in bookings for p in passengers]
    # Two statements, not one join: the planner, unable to count what `unnest` brings, scanned
    # every flight for each seat (3.8 s for 10,000 passengers on the storm day, against 0.05).
    held = await conn.fetch(
        """SELECT DISTINCT s.booking_ref, s.flight_id
           FROM unnest($1::text[], $2::text[]) AS b(booking_ref, passenger_id)
           JOIN seats s ON s.booking_ref = b.booking_ref AND s.passenger_id = b.passenger_id""",
        [p[0] for p in pairs], [p[1] for p in pairs])
    flights = {r["flight_id"]: r for r in await conn.fetch(
        """SELECT flight_id, carrier, origin, destination, scheduled_departure AS departure,
                  scheduled_arrival AS arrival FROM flights WHERE flight_id = ANY($1::text[])""",
        sorted({h["flight_id"] for h in held}))}
    legs: dict[str, list[domain.BookedLeg]] = {}
    for h in held:
        if (f := flights.get(h["flight_id"])) is not None:
            legs.setdefault(h["booking_ref"], []).append(domain.BookedLeg(**dict(f)))
    return legs


async def booked_legs(conn: asyncpg.Connection, booking_ref: str,
                      passenger_ids: Sequence[str]) -> list[domain.BookedLeg]:
    return (await booked_legs_for(conn, [(booking_ref, passenger_ids)])).get(booking_ref, [])


async def flights_around(conn: asyncpg.Connection, origins: Iterable[str], destinations: Iterable[str],
                         start: datetime, end: datetime, *, anywhere: bool = False) -> list[domain.Flight]:
    """Scheduled flights leaving between `start` and `end` from one of `origins` or to one of
    `destinations` (a one-stop's two legs), or between any airports (`anywhere`: the middle legs
    of an itinerary with more stops), with their free seats by cabin."""
    rows = await conn.fetch(
        """SELECT f.flight_id, f.carrier, f.number, f.origin, f.destination,
                  f.scheduled_departure AS departure, f.scheduled_arrival AS arrival,
                  jsonb_object_agg(c.cabin, c.capacity - c.sold) AS seats_free
           FROM flights f JOIN cabins c USING (flight_id)
           WHERE f.status IN ('scheduled', 'delayed') AND f.scheduled_departure BETWEEN $3 AND $4
             AND ($5 OR f.origin = ANY($1::text[]) OR f.destination = ANY($2::text[]))
           GROUP BY f.flight_id""",
        sorted(origins), sorted(destinations), start, end, anywhere)
    return [domain.Flight(**dict(r)) for r in rows]


async def flights_for(conn: asyncpg.Connection, trips: Iterable[domain.Trip], rules: domain.Rules
                      ) -> list[domain.Flight]:
    """The flights that could make up the trips' alternatives: leaving within the horizon (and the
    connections after it) from their cities or into them; from anywhere to anywhere when an
    alternative may have more than one stop."""
    trips = list(trips)
    return await flights_around(
        conn, {a for t in trips for a in rules.city_of(t.origin)},
        {a for t in trips for a in rules.city_of(t.destination)},
        min(t.earliest_departure for t in trips),
        max(t.earliest_departure for t in trips) + rules.horizon + rules.max_connection * (rules.max_legs - 1),
        anywhere=rules.max_legs > 2)
