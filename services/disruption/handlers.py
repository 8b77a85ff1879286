"""Disruption: schedule and bookings build the manifest; a flight event finds who it hurts."""

import logging

import asyncpg

from services.disruption import domain
from shared import topics
from shared.events import (
    BookingConfirmed,
    Envelope,
    FlightCancelled,
    FlightDelayed,
    FlightScheduled,
    Leg,
    NoticeRequested,
    PassengerDisruption,
    event_id,
)
from shared.outbox import Outbox

log = logging.getLogger(__name__)


async def record_schedule(conn: asyncpg.Connection, event: Envelope, outbox: Outbox) -> None:
    f: FlightScheduled = event.data
    await conn.execute(
        """INSERT INTO flights (flight_id, carrier, number, origin, destination,
                                scheduled_departure, scheduled_arrival)
           VALUES ($1, $2, $3, $4, $5, $6, $7)
           ON CONFLICT (flight_id) DO UPDATE SET
               scheduled_departure = EXCLUDED.scheduled_departure,
               scheduled_arrival = EXCLUDED.scheduled_arrival, updated_at = now()""",
        f.flight_id, f.carrier, f.number, f.origin, f.destination,
        f.scheduled_departure, f.scheduled_arrival,
    )


async def record_booking(conn: asyncpg.Connection, event: Envelope, outbox: Outbox) -> None:
    b: BookingConfirmed = event.data
    passenger_ids = [p.passenger_id for p in b.passengers]
    await conn.executemany(
        """INSERT INTO manifest (flight_id, booking_ref, passenger_ids) VALUES ($1, $2, $3)
           ON CONFLICT (flight_id, booking_ref) DO UPDATE SET passenger_ids = EXCLUDED.passenger_ids""",
        [(fid, b.booking_ref, passenger_ids) for fid in b.flight_ids],
    )


async def disrupt_passengers(conn: asyncpg.Connection, event: Envelope, outbox: Outbox) -> None:
    """Update the flight's status; if its passengers' plans changed, emit one disruption per
    booking and, in the same transaction, the first notice — before any rebooking is done."""
    e: FlightCancelled | FlightDelayed = event.data
    fid = e.flight.flight_id
    flight = await conn.fetchrow("SELECT * FROM flights WHERE flight_id = $1 FOR UPDATE", fid)
    if flight is None:
        await _record_event(conn, event, fid, "unmatched: flight not in the schedule")
        log.warning("flight event for an unknown flight", extra={"flight_id": fid,
                                                                  "event_id": event.id})
        return
    delay = 0
    if isinstance(e, FlightDelayed):
        delay = round((e.estimated_departure - flight["scheduled_departure"]).total_seconds() / 60)
    state = domain.FlightState(flight["status"], flight["notified_delay_minutes"])
    decision = domain.assess(state, e, delay)
    await conn.execute(
        """UPDATE flights SET status = $2, notified_delay_minutes = $3, updated_at = now()
           WHERE flight_id = $1""",
        fid, decision.status, decision.notified_delay_minutes,
    )
    await _record_event(conn, event, fid, decision.effect)
    if not decision.disrupts_passengers:
        return

    bookings = await conn.fetch(
        "SELECT booking_ref, passenger_ids FROM manifest WHERE flight_id = $1 ORDER BY booking_ref",
        fid,
    )
    await conn.executemany(
        "INSERT INTO disruptions (disruption_id, booking_ref, flight_id, kind) VALUES ($1,$2,$3,$4)"
        " ON CONFLICT DO NOTHING",
        [(event.id, b["booking_ref"], fid, decision.disruption) for b in bookings],
    )
    leg = Leg(**{field: flight[field] for field in Leg.model_fields})
    for b in bookings:
        ref, passenger_ids = b["booking_ref"], list(b["passenger_ids"])
        facts = {
            "flight": f"{flight['carrier']} {flight['number']}",
            "origin": flight["origin"],
            "destination": flight["destination"],
            "scheduled_departure": flight["scheduled_departure"].isoformat(),
            "reason": e.reason,
            "delay_minutes": decision.delay_minutes,
        }
        if isinstance(e, FlightDelayed):
            facts["estimated_departure"] = e.estimated_departure.isoformat()
        # The passenger hears first: the notice leaves in this same transaction.
        outbox.publish(topics.NOTICES, NoticeRequested(
            disruption_id=event.id, booking_ref=ref, passenger_ids=passenger_ids,
            stage="first_notice", template=f"first_notice_{decision.disruption}",
            facts=facts, occurred_at=event.time,
        ), key=ref, id=event_id(event.id, ref, "first_notice"))
        outbox.publish(topics.PASSENGER_DISRUPTIONS, PassengerDisruption(
            disruption_id=event.id, booking_ref=ref, passenger_ids=passenger_ids,
            flight=leg,
            kind=decision.disruption, reason=e.reason, delay_minutes=decision.delay_minutes,
        ), key=ref, id=event_id(event.id, ref, "disruption"), time=event.time)
    log.info("passengers disrupted", extra={"flight_id": fid, "event_id": event.id,
                                            "kind": decision.disruption, "bookings": len(bookings)})


async def _record_event(conn: asyncpg.Connection, event: Envelope, flight_id: str,
                        effect: str) -> None:
    await conn.execute(
        """INSERT INTO flight_events (event_id, flight_id, type, source, occurred_at, payload, effect)
           VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING""",
        event.id, flight_id, event.type, event.source, event.time,
        event.data.model_dump(mode="json"), effect,
    )


HANDLERS = {
    topics.SCHEDULE: {"flight.scheduled": record_schedule},
    topics.BOOKINGS: {"booking.confirmed": record_booking},
    topics.FLIGHT_EVENTS: {"flight.cancelled": disrupt_passengers,
                           "flight.delayed": disrupt_passengers},
}
