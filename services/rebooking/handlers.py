"""Rebooking: inventory from the reservation side; a disrupted booking gets a new flight."""

import logging

import asyncpg

from services.rebooking import domain
from shared import topics
from shared.events import (
    BookingConfirmed,
    Envelope,
    FlightScheduled,
    Leg,
    NoticeRequested,
    PassengerDisruption,
    RebookingDecided,
    event_id,
)
from shared.outbox import Outbox

log = logging.getLogger(__name__)


async def record_schedule(conn: asyncpg.Connection, event: Envelope, outbox: Outbox) -> None:
    f: FlightScheduled = event.data
    # Bookings may have arrived before their flight: count them in when the flight appears.
    await conn.execute(
        """INSERT INTO flights (flight_id, carrier, number, origin, destination,
                                scheduled_departure, scheduled_arrival, capacity, seats_sold)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8,
                   (SELECT coalesce(sum(cardinality(passenger_ids)), 0) FROM bookings
                    WHERE flight_ids @> ARRAY[$1::text]))
           ON CONFLICT (flight_id) DO UPDATE SET
               scheduled_departure = EXCLUDED.scheduled_departure,
               scheduled_arrival = EXCLUDED.scheduled_arrival, capacity = EXCLUDED.capacity""",
        f.flight_id, f.carrier, f.number, f.origin, f.destination,
        f.scheduled_departure, f.scheduled_arrival, f.seats,
    )


async def record_booking(conn: asyncpg.Connection, event: Envelope, outbox: Outbox) -> None:
    b: BookingConfirmed = event.data
    inserted = await conn.fetchval(
        """INSERT INTO bookings (booking_ref, passenger_ids, flight_ids) VALUES ($1, $2, $3)
           ON CONFLICT DO NOTHING RETURNING 1""",
        b.booking_ref, [p.passenger_id for p in b.passengers], b.flight_ids,
    )
    if inserted:
        await conn.execute(
            "UPDATE flights SET seats_sold = seats_sold + $2 WHERE flight_id = ANY($1::text[])",
            b.flight_ids, len(b.passengers),
        )


# Disruptions after which the passengers keep their flight, and why.
KEEP_THE_FLIGHT = {
    "delayed": "the flight still operates",
    "retimed": "the flight operates at its new time",
    "diverted": "the flight landed elsewhere: staff at that airport arrange the onward trip",
}


async def rebook(conn: asyncpg.Connection, event: Envelope, outbox: Outbox) -> None:
    d: PassengerDisruption = event.data
    if d.kind in KEEP_THE_FLIGHT:
        # The flight still goes: the passenger keeps it (choosing another is the choice page's job).
        await _decide(conn, outbox, event, d, outcome="kept", reason=KEEP_THE_FLIGHT[d.kind],
                      to=None, arrival_delay=max(d.delay_minutes, 0))
        return

    if await conn.fetchval("SELECT 1 FROM rebookings WHERE disruption_id = $1 AND booking_ref = $2",
                           d.disruption_id, d.booking_ref):
        return  # decided already: taking seats again would hold two for one passenger
    leg = d.flight
    if d.kind == "cancelled":
        await conn.execute("UPDATE flights SET status = 'cancelled' WHERE flight_id = $1", leg.flight_id)
    # A missed connection: any later flight the passengers can still reach will do.
    earliest = d.earliest_departure or leg.scheduled_departure
    disrupted = domain.Flight(leg.flight_id, leg.origin, leg.destination, earliest,
                              leg.scheduled_arrival, 0)
    party = len(d.passenger_ids)
    rows = await conn.fetch(
        """SELECT flight_id, origin, destination, scheduled_departure, scheduled_arrival,
                  capacity - seats_sold AS seats_free
           FROM flights
           WHERE origin = ANY($1::text[]) AND destination = ANY($2::text[])
             AND scheduled_departure BETWEEN $3 AND $4 AND status = 'scheduled'
             AND capacity - seats_sold >= $5""",
        list(domain.city_of(leg.origin)), list(domain.city_of(leg.destination)),
        earliest, earliest + domain.DEFAULT_HORIZON, party,
    )
    candidates = [domain.Flight(**dict(r)) for r in rows]
    for alternative in domain.choose_alternatives(disrupted, candidates, party):
        # Atomic and conditional: a replica that got here first leaves us nothing to oversell.
        taken = await conn.fetchrow(
            """UPDATE flights SET seats_sold = seats_sold + $2
               WHERE flight_id = $1 AND status = 'scheduled' AND seats_sold + $2 <= capacity
               RETURNING flight_id, carrier, number, origin, destination,
                         scheduled_departure, scheduled_arrival""",
            alternative.flight.flight_id, party,
        )
        if taken is None:
            continue
        if d.kind == "connection_at_risk":
            # The seat on the connection they will miss goes back on sale.
            await conn.execute("UPDATE flights SET seats_sold = greatest(seats_sold - $2, 0)"
                               " WHERE flight_id = $1", leg.flight_id, party)
        await conn.execute(
            "UPDATE bookings SET flight_ids = array_replace(flight_ids, $2, $3) WHERE booking_ref = $1",
            d.booking_ref, leg.flight_id, taken["flight_id"],
        )
        delay = round((taken["scheduled_arrival"] - leg.scheduled_arrival).total_seconds() / 60)
        await _decide(conn, outbox, event, d, outcome="rebooked", reason=alternative.reason,
                      to=Leg(**dict(taken)), arrival_delay=delay)
        return
    await _decide(conn, outbox, event, d, outcome="no_alternative",
                  reason="no flight to the same city within 72 hours has seats for the whole party",
                  to=None, arrival_delay=None)


async def _decide(conn: asyncpg.Connection, outbox: Outbox, event: Envelope,
                  d: PassengerDisruption, *, outcome: str, reason: str,
                  to: Leg | None, arrival_delay: int | None) -> None:
    inserted = await conn.fetchval(
        """INSERT INTO rebookings (disruption_id, booking_ref, outcome, from_flight, to_flight,
                                   seats, reason)
           VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING RETURNING 1""",
        d.disruption_id, d.booking_ref, outcome, d.flight.flight_id, to and to.flight_id,
        len(d.passenger_ids), reason,
    )
    if not inserted:
        return
    decided = RebookingDecided(
        disruption_id=d.disruption_id, booking_ref=d.booking_ref, passenger_ids=d.passenger_ids,
        outcome=outcome, reason=reason, segments=[to] if to else [],
        arrival_delay_minutes=arrival_delay,
    )
    outbox.publish(topics.REBOOKINGS, decided, key=d.booking_ref,
                   id=event_id(d.disruption_id, d.booking_ref, "rebooking"))
    if outcome == "kept":
        return  # the first notice already told them everything that changed
    facts = d.flight.notice_facts() | (to.notice_facts("new_") if to else {})
    outbox.publish(topics.NOTICES, NoticeRequested(
        disruption_id=d.disruption_id, booking_ref=d.booking_ref, passenger_ids=d.passenger_ids,
        stage="rebooking", template=outcome, facts=facts, occurred_at=event.time,
    ), key=d.booking_ref, id=event_id(d.disruption_id, d.booking_ref, "rebooking_notice"))


HANDLERS = {
    topics.SCHEDULE: {"flight.scheduled": record_schedule},
    topics.BOOKINGS: {"booking.confirmed": record_booking},
    topics.PASSENGER_DISRUPTIONS: {"passenger.disrupted": rebook},
}
