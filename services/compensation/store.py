"""What the compensation service keeps of the world: the schedule, the bookings and their fares,
and each disruption's two halves (what happened; what was decided), as `cases`."""

import json
from collections.abc import Sequence
from datetime import datetime

import asyncpg

from services.compensation.case import to_minor
from shared.events import BookingConfirmed, FlightScheduled, Leg, PassengerDisruption, RebookingDecided


async def store_schedule(conn: asyncpg.Connection, f: FlightScheduled) -> None:
    await conn.execute(
        """INSERT INTO flights (flight_id, carrier, number, origin, destination, scheduled_departure,
                                scheduled_arrival)
           VALUES ($1, $2, $3, $4, $5, $6, $7)
           ON CONFLICT (flight_id) DO UPDATE SET scheduled_departure = EXCLUDED.scheduled_departure,
               scheduled_arrival = EXCLUDED.scheduled_arrival""",
        f.flight_id, f.carrier, f.number, f.origin, f.destination, f.scheduled_departure, f.scheduled_arrival)


async def store_bookings(conn: asyncpg.Connection, bookings: Sequence[BookingConfirmed]) -> None:
    """Bookings and their passengers' fares, two statements for any number."""
    await conn.execute(
        """INSERT INTO bookings (booking_ref, flight_ids, payment)
           SELECT b.ref, ARRAY(SELECT jsonb_array_elements_text(b.flights::jsonb)), b.payment
           FROM unnest($1::text[], $2::text[], $3::text[]) AS b(ref, flights, payment)
           ON CONFLICT (booking_ref) DO UPDATE SET flight_ids = EXCLUDED.flight_ids, payment = EXCLUDED.payment""",
        [b.booking_ref for b in bookings], [json.dumps(b.flight_ids) for b in bookings], [b.payment for b in bookings])
    passengers = [(b.booking_ref, p) for b in bookings for p in b.passengers]
    await conn.execute(
        """INSERT INTO passengers (booking_ref, passenger_id, fare, currency, special_services, paid_minor)
           SELECT p.ref, p.id, p.fare, p.currency, ARRAY(SELECT jsonb_array_elements_text(p.services::jsonb)), p.paid
           FROM unnest($1::text[], $2::text[], $3::numeric[], $4::text[], $5::text[], $6::bigint[])
                AS p(ref, id, fare, currency, services, paid)
           ON CONFLICT (booking_ref, passenger_id) DO UPDATE
           SET fare = EXCLUDED.fare, currency = EXCLUDED.currency, special_services = EXCLUDED.special_services,
               paid_minor = EXCLUDED.paid_minor""",
        [r for r, _ in passengers], [p.passenger_id for _, p in passengers], [p.fare for _, p in passengers],
        [p.currency for _, p in passengers], [json.dumps(list(p.special_services)) for _, p in passengers],
        [to_minor(p.fare, p.currency) for _, p in passengers])


async def store_what_happened(conn: asyncpg.Connection, d: PassengerDisruption, announced_at: datetime) -> None:
    """The disruption's half of its case; notice periods run from `announced_at`."""
    legs = [leg.model_dump(mode="json") for leg in (d.segments or [d.flight])]
    await conn.execute(
        """INSERT INTO cases (disruption_id, booking_ref, passenger_ids, kind, cause, delay_minutes, flight_id, legs,
                              announced_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
           ON CONFLICT (disruption_id, booking_ref) DO UPDATE SET
               kind = EXCLUDED.kind, cause = EXCLUDED.cause, delay_minutes = EXCLUDED.delay_minutes,
               flight_id = EXCLUDED.flight_id, legs = EXCLUDED.legs, announced_at = EXCLUDED.announced_at""",
        d.disruption_id, d.booking_ref, d.passenger_ids, d.kind, d.cause, d.delay_minutes, d.flight.flight_id, legs,
        announced_at)


async def store_what_was_decided(conn: asyncpg.Connection, r: RebookingDecided, decided_at: datetime) -> None:
    """The rebooking's half of its case (a later answer keeps what it does not say)."""
    await conn.execute(
        """INSERT INTO cases (disruption_id, booking_ref, passenger_ids, outcome, arrival_delay_minutes, refund_due,
                              segments, downgraded, decided_at, whole_trip)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10)
           ON CONFLICT (disruption_id, booking_ref) DO UPDATE SET
               outcome = EXCLUDED.outcome,
               arrival_delay_minutes = COALESCE(EXCLUDED.arrival_delay_minutes, cases.arrival_delay_minutes),
               refund_due = cases.refund_due OR EXCLUDED.refund_due,
               whole_trip = cases.whole_trip OR EXCLUDED.whole_trip,
               segments = COALESCE(NULLIF(EXCLUDED.segments, '[]'::jsonb), cases.segments),
               downgraded = EXCLUDED.downgraded, decided_at = EXCLUDED.decided_at""",
        r.disruption_id, r.booking_ref, r.passenger_ids, r.outcome, r.arrival_delay_minutes, r.refund_due,
        [s.model_dump(mode="json") for s in r.segments], r.downgraded, decided_at, r.whole_trip)


async def lock_booking(conn: asyncpg.Connection, booking_ref: str) -> None:
    """One booking's evaluations take turns, so two replicas never write one journey at once."""
    await conn.execute("SELECT pg_advisory_xact_lock(hashtext('compensation:' || $1))", booking_ref)


async def complete_cases(conn: asyncpg.Connection, booking_ref: str) -> list[asyncpg.Record]:
    """The booking's cases with both halves."""
    rows: list[asyncpg.Record] = await conn.fetch(
        "SELECT * FROM cases WHERE booking_ref = $1 AND kind IS NOT NULL AND outcome IS NOT NULL", booking_ref)
    return rows


async def booking(conn: asyncpg.Connection, booking_ref: str) -> asyncpg.Record | None:
    row: asyncpg.Record | None = await conn.fetchrow("SELECT * FROM bookings WHERE booking_ref = $1", booking_ref)
    return row


async def legs(conn: asyncpg.Connection, flight_ids: Sequence[str]) -> list[Leg]:
    return [leg_of(r) for r in await conn.fetch("SELECT * FROM flights WHERE flight_id = ANY($1::text[])",
                                                list(flight_ids))]


def leg_of(row: dict[str, object] | asyncpg.Record) -> Leg:
    return Leg.model_validate(dict(row))


async def passengers(conn: asyncpg.Connection, booking_ref: str, passenger_ids: Sequence[str]) -> list[asyncpg.Record]:
    rows: list[asyncpg.Record] = await conn.fetch(
        "SELECT * FROM passengers WHERE booking_ref = $1 AND passenger_id = ANY($2::text[])",
        booking_ref, list(passenger_ids))
    return rows


async def announcements_so_far(conn: asyncpg.Connection, booking_ref: str, disruption: str) -> int:
    """How many times this journey's grants were raised: each is a revision of its notice."""
    count: int = await conn.fetchval(
        "SELECT count(DISTINCT c.changed_at) FROM grant_changes c JOIN grants g USING (grant_id)"
        " WHERE g.booking_ref = $1 AND g.disruption = $2 AND c.delta_minor > 0", booking_ref, disruption)
    return count
