"""Rebooking's flights, bookings, decisions and answers behind functions named for what they load or
store, each returning typed rows: the handlers, the passenger's answers and the ops desk hold no
SQL of their own. (Seats are `inventory.py`'s; the assignment rounds' bulk reads are theirs.)"""

import json
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Self

import asyncpg

from services.rebooking import domain
from shared import db
from shared.events import TIERS, BookingConfirmed, FlightScheduled, Leg, PassengerDisruption


@dataclass(frozen=True)
class Rebooking:
    """A booking's rebooking decision, and the passenger's answer to it."""

    disruption_id: str
    booking_ref: str
    outcome: str
    reason: str
    passenger_ids: list[str]
    to_flights: list[str]  # the flights it holds for the trip now
    cabin: str | None
    downgraded: bool
    arrival_delay_minutes: int | None
    decided: dict[str, Any] | None  # the disruption it settles, as it came
    trip: dict[str, Any] | None  # the trip it replaced (domain.trip_to_json)
    respond_by: datetime | None
    answer: str | None
    traceparent: str | None

    @classmethod
    def of(cls, record: asyncpg.Record) -> Self:
        return db.row_of(cls, record)

    @property
    def disruption(self) -> PassengerDisruption:
        return PassengerDisruption.model_validate(self.decided)

    @property
    def replaced_trip(self) -> domain.Trip | None:
        return domain.trip_from_json(self.trip) if self.trip else None


# --- the reservation side --------------------------------------------------------------------


async def put_flight(conn: asyncpg.Connection, f: FlightScheduled) -> None:
    """The flight, or its new times; and its cabins, counting the seats of bookings that came
    before it."""
    await conn.execute(
        """INSERT INTO flights (flight_id, carrier, number, origin, destination,
                                scheduled_departure, scheduled_arrival)
           VALUES ($1, $2, $3, $4, $5, $6, $7)
           ON CONFLICT (flight_id) DO UPDATE SET
               scheduled_departure = EXCLUDED.scheduled_departure,
               scheduled_arrival = EXCLUDED.scheduled_arrival""",
        f.flight_id, f.carrier, f.number, f.origin, f.destination,
        f.scheduled_departure, f.scheduled_arrival)
    # The flight's lock keeps a booking being recorded at this moment (another replica) from
    # being counted by neither this count nor its own increment.
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


async def add_bookings(conn: asyncpg.Connection, batch: Sequence[BookingConfirmed]) -> list[BookingConfirmed]:
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


async def hold_seats(conn: asyncpg.Connection, bookings: Sequence[BookingConfirmed]) -> None:
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


async def set_flight_status(conn: asyncpg.Connection, flight_id: str, status: str) -> None:
    await conn.execute("UPDATE flights SET status = $2 WHERE flight_id = $1", flight_id, status)


async def await_round(conn: asyncpg.Connection, d: PassengerDisruption, traceparent: str | None, woken: str) -> None:
    """In one round trip: the flight is gone (if the status feed has not said so yet); the
    booking waits for the next assignment round, unless it was decided already (taking seats
    again would hold two for one passenger); and the assigner is woken on its channel."""
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
        [s.flight_id for s in d.segments or [d.flight]], traceparent, woken)


async def legs(conn: asyncpg.Connection, flight_ids: Sequence[str]) -> list[Leg]:
    """The flights, in the order they leave."""
    return [Leg(**dict(r)) for r in await conn.fetch(
        "SELECT flight_id, carrier, number, origin, destination, scheduled_departure, scheduled_arrival"
        " FROM flights WHERE flight_id = ANY($1::text[]) ORDER BY scheduled_departure", list(flight_ids))]


# --- decisions and answers -------------------------------------------------------------------


async def rebooking(conn: asyncpg.Connection, disruption_id: str, booking_ref: str, *, lock: bool = False
                    ) -> Rebooking | None:
    """The booking's decision in this disruption (locked until the transaction ends, to act on it)."""
    row = await conn.fetchrow("SELECT * FROM rebookings WHERE disruption_id = $1 AND booking_ref = $2"
                              + (" FOR UPDATE" if lock else ""), disruption_id, booking_ref)
    return Rebooking.of(row) if row else None


async def disrupted_flight(conn: asyncpg.Connection | asyncpg.Pool, disruption_id: str, booking_ref: str
                           ) -> Leg | None:
    """The flight the booking's disruption was on, once it is decided."""
    decided = await conn.fetchval("SELECT decided FROM rebookings WHERE disruption_id = $1 AND booking_ref = $2",
                                  disruption_id, booking_ref)
    return PassengerDisruption.model_validate(decided).flight if decided is not None else None


async def record_answer(conn: asyncpg.Connection, r: Rebooking, answer: str, to_flights: list[str],
                        arrival_delay_minutes: int | None, client: str) -> None:
    """The answer (the passenger's, or silence by the deadline) on the decision, and in the
    choices' audit with who gave it."""
    await conn.execute(
        """UPDATE rebookings SET answer = $3, answered_at = now(), to_flights = $4,
                                 arrival_delay_minutes = $5
           WHERE disruption_id = $1 AND booking_ref = $2""",
        r.disruption_id, r.booking_ref, answer, to_flights, arrival_delay_minutes)
    await conn.execute(
        "INSERT INTO choices (disruption_id, booking_ref, answer, to_flights, client) VALUES ($1,$2,$3,$4,$5)",
        r.disruption_id, r.booking_ref, answer, to_flights, client[:200])


async def unanswered_past_deadline(conn: asyncpg.Connection, most: int) -> list[Rebooking]:
    """Rebookings nobody answered by their deadline, locked (skipping those another replica has)."""
    return [Rebooking.of(r) for r in await conn.fetch(
        """SELECT * FROM rebookings WHERE outcome = 'rebooked' AND answer IS NULL AND respond_by < now()
           ORDER BY respond_by LIMIT $1 FOR UPDATE SKIP LOCKED""", most)]


async def desk_actions_on(conn: asyncpg.Connection, booking_ref: str) -> int:
    """How many actions the ops desk has taken on the booking."""
    done: int = await conn.fetchval("SELECT count(*) FROM desk_actions WHERE target = $1", booking_ref)
    return done
