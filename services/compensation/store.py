"""What the compensation service keeps of the world: the schedule, the bookings and their fares,
and each disruption's two halves (what happened; what was decided), as `cases`."""

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from services.compensation.case import to_minor
from shared import db
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


async def store_what_happened(conn: asyncpg.Connection, happened: Sequence[tuple[PassengerDisruption, datetime]]
                              ) -> None:
    """The disruptions' halves of their cases, one statement for a batch (each case once in it);
    notice periods run from each one's announcement."""
    await conn.execute(
        """INSERT INTO cases (disruption_id, booking_ref, passenger_ids, kind, cause, delay_minutes, flight_id, legs,
                              announced_at)
           SELECT d.id, d.ref, ARRAY(SELECT jsonb_array_elements_text(d.passengers::jsonb)), d.kind, d.cause,
                  d.delay, d.flight, d.legs::jsonb, d.announced
           FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::int[], $7::text[], $8::text[],
                       $9::timestamptz[]) AS d(id, ref, passengers, kind, cause, delay, flight, legs, announced)
           ON CONFLICT (disruption_id, booking_ref) DO UPDATE SET
               kind = EXCLUDED.kind, cause = EXCLUDED.cause, delay_minutes = EXCLUDED.delay_minutes,
               flight_id = EXCLUDED.flight_id, legs = EXCLUDED.legs, announced_at = EXCLUDED.announced_at""",
        [d.disruption_id for d, _ in happened], [d.booking_ref for d, _ in happened],
        [json.dumps(d.passenger_ids) for d, _ in happened], [d.kind for d, _ in happened],
        [d.cause for d, _ in happened], [d.delay_minutes for d, _ in happened],
        [d.flight.flight_id for d, _ in happened],
        [json.dumps([leg.model_dump(mode="json") for leg in (d.segments or [d.flight])]) for d, _ in happened],
        [at for _, at in happened])


async def store_what_was_decided(conn: asyncpg.Connection, decided: Sequence[tuple[RebookingDecided, datetime]]
                                 ) -> None:
    """The rebookings' halves of their cases, one statement for a batch (each case once in it); a
    later answer keeps what it does not say."""
    await conn.execute(
        """INSERT INTO cases (disruption_id, booking_ref, passenger_ids, outcome, arrival_delay_minutes, refund_due,
                              segments, downgraded, decided_at, whole_trip)
           SELECT r.id, r.ref, ARRAY(SELECT jsonb_array_elements_text(r.passengers::jsonb)), r.outcome, r.late,
                  r.refund_due, r.segments::jsonb, r.downgraded, r.decided, r.whole_trip
           FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::int[], $6::bool[], $7::text[], $8::bool[],
                       $9::timestamptz[], $10::bool[])
                AS r(id, ref, passengers, outcome, late, refund_due, segments, downgraded, decided, whole_trip)
           ON CONFLICT (disruption_id, booking_ref) DO UPDATE SET
               outcome = EXCLUDED.outcome,
               arrival_delay_minutes = COALESCE(EXCLUDED.arrival_delay_minutes, cases.arrival_delay_minutes),
               refund_due = cases.refund_due OR EXCLUDED.refund_due,
               whole_trip = cases.whole_trip OR EXCLUDED.whole_trip,
               segments = COALESCE(NULLIF(EXCLUDED.segments, '[]'::jsonb), cases.segments),
               downgraded = EXCLUDED.downgraded, decided_at = EXCLUDED.decided_at""",
        [r.disruption_id for r, _ in decided], [r.booking_ref for r, _ in decided],
        [json.dumps(r.passenger_ids) for r, _ in decided], [r.outcome for r, _ in decided],
        [r.arrival_delay_minutes for r, _ in decided], [r.refund_due for r, _ in decided],
        [json.dumps([s.model_dump(mode="json") for s in r.segments]) for r, _ in decided],
        [r.downgraded for r, _ in decided], [at for _, at in decided], [r.whole_trip for r, _ in decided])


async def lock_bookings(conn: asyncpg.Connection, booking_refs: Sequence[str]) -> None:
    """Each booking's evaluations take turns, so two replicas never write one journey at once; taken
    in order, so two batches never wait for each other's locks."""
    await db.lock(conn, [f"booking:{b}" for b in booking_refs])
    if db.beside_previous_release:  # whose replicas write journeys under this advisory lock alone
        await conn.execute("SELECT pg_advisory_xact_lock(hashtext('compensation:' || b))"
                           " FROM (SELECT DISTINCT b FROM unnest($1::text[]) AS b ORDER BY b) AS locked",
                           list(booking_refs))


@dataclass(frozen=True)
class Known:
    """What compensation holds of some bookings: their cases with both halves, the bookings
    themselves, their flights, and their passengers' fares."""

    cases: dict[str, list[asyncpg.Record]]
    bookings: dict[str, asyncpg.Record]
    legs: dict[str, Leg]
    passengers: dict[str, list[asyncpg.Record]]


async def known(conn: asyncpg.Connection, booking_refs: Sequence[str]) -> Known:
    """Everything an evaluation of these bookings reads, in four statements for any number."""
    refs = sorted(set(booking_refs))
    cases: dict[str, list[asyncpg.Record]] = {}
    for r in await conn.fetch("SELECT * FROM cases WHERE booking_ref = ANY($1::text[])"
                              " AND kind IS NOT NULL AND outcome IS NOT NULL", refs):
        cases.setdefault(r["booking_ref"], []).append(r)
    bookings = {r["booking_ref"]: r for r in await conn.fetch(
        "SELECT * FROM bookings WHERE booking_ref = ANY($1::text[])", refs)}
    flight_ids = sorted({f for b in bookings.values() for f in b["flight_ids"]})
    passengers: dict[str, list[asyncpg.Record]] = {}
    for r in await conn.fetch("SELECT * FROM passengers WHERE booking_ref = ANY($1::text[])", refs):
        passengers.setdefault(r["booking_ref"], []).append(r)
    return Known(cases, bookings, {leg.flight_id: leg for leg in await legs(conn, flight_ids)}, passengers)


async def legs(conn: asyncpg.Connection, flight_ids: Sequence[str]) -> list[Leg]:
    return [leg_of(r) for r in await conn.fetch("SELECT * FROM flights WHERE flight_id = ANY($1::text[])",
                                                list(flight_ids))]


def leg_of(row: dict[str, object] | asyncpg.Record) -> Leg:
    return Leg.model_validate(dict(row))


async def announcements_so_far(conn: asyncpg.Connection, journeys: Sequence[tuple[str, str]]
                               ) -> dict[tuple[str, str], int]:
    """How many times each (booking, journey)'s grants were raised: each is a revision of its notice."""
    return {(r["booking_ref"], r["disruption"]): r["n"] for r in await conn.fetch(
        """SELECT g.booking_ref, g.disruption, count(DISTINCT c.changed_at) AS n
           FROM grant_changes c JOIN grants g USING (grant_id)
                JOIN unnest($1::text[], $2::text[]) AS j(booking_ref, disruption)
                  ON g.booking_ref = j.booking_ref AND g.disruption = j.disruption
           WHERE c.delta_minor > 0 GROUP BY g.booking_ref, g.disruption""",
        [b for b, _ in journeys], [d for _, d in journeys])}
