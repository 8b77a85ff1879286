"""Disruption: schedule and bookings build the manifest; a flight event finds who it hurts."""

import logging
from datetime import datetime

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
    RebookingDecided,
)
from shared.events import event_id as derived_id
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


async def follow_rebooking(conn: asyncpg.Connection, event: Envelope, outbox: Outbox) -> None:
    """Move a rebooked booking on the manifest, so a later disruption of its new flight finds it.
    If that flight was already cancelled by the time we hear of the move, disrupt it at once."""
    r: RebookingDecided = event.data
    if r.outcome != "rebooked":
        return
    old = await conn.fetchval(
        "DELETE FROM manifest WHERE booking_ref = $1 AND flight_id = ("
        " SELECT flight_id FROM disruptions WHERE disruption_id = $2 AND booking_ref = $1)"
        " RETURNING flight_id", r.booking_ref, r.disruption_id)
    for leg in r.segments:
        await conn.execute(
            "INSERT INTO manifest (flight_id, booking_ref, passenger_ids) VALUES ($1, $2, $3)"
            " ON CONFLICT (flight_id, booking_ref) DO UPDATE SET passenger_ids = EXCLUDED.passenger_ids",
            leg.flight_id, r.booking_ref, r.passenger_ids)
        # The new flight may have been cancelled before we heard of the move: disrupt it now.
        cancelled = await conn.fetchrow(
            """SELECT f.*, e.event_id AS cancelled_by, e.payload->>'reason' AS reason
               FROM flights f
               JOIN flight_events e ON e.flight_id = f.flight_id AND e.effect = 'cancelled'
               WHERE f.flight_id = $1 AND f.status = 'cancelled'""", leg.flight_id)
        if cancelled:
            await _record_disruptions(conn, cancelled["cancelled_by"], leg.flight_id, "cancelled",
                                      [r.booking_ref])
            _disrupt(outbox, event_id=cancelled["cancelled_by"], occurred_at=event.time,
                     flight=cancelled, kind="cancelled", reason=cancelled["reason"],
                     delay_minutes=0, bookings=[(r.booking_ref, r.passenger_ids)], facts_extra={})
    log.info("manifest follows rebooking", extra={"booking_ref": r.booking_ref, "from": old})


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
    await _record_disruptions(conn, event.id, fid, decision.disruption,
                              [b["booking_ref"] for b in bookings])
    extra = {"estimated_departure": e.estimated_departure.isoformat()} \
        if isinstance(e, FlightDelayed) else {}
    _disrupt(outbox, event_id=event.id, occurred_at=event.time, flight=flight,
             kind=decision.disruption, reason=e.reason, delay_minutes=decision.delay_minutes,
             bookings=[(b["booking_ref"], list(b["passenger_ids"])) for b in bookings],
             facts_extra=extra)
    log.info("passengers disrupted", extra={"flight_id": fid, "event_id": event.id,
                                            "kind": decision.disruption, "bookings": len(bookings)})


async def _record_disruptions(conn: asyncpg.Connection, disruption_id: str, flight_id: str,
                              kind: str, booking_refs: list[str]) -> None:
    await conn.executemany(
        "INSERT INTO disruptions (disruption_id, booking_ref, flight_id, kind) VALUES ($1,$2,$3,$4)"
        " ON CONFLICT DO NOTHING",
        [(disruption_id, ref, flight_id, kind) for ref in booking_refs],
    )


def _disrupt(outbox: Outbox, *, event_id: str, occurred_at: datetime, flight: asyncpg.Record,
             kind: str, reason: str, delay_minutes: int, bookings: list[tuple[str, list[str]]],
             facts_extra: dict) -> None:
    """Per booking: the first notice and, in the same transaction, the disruption event."""
    leg = Leg(**{field: flight[field] for field in Leg.model_fields})
    facts = leg.notice_facts() | {"reason": reason, "delay_minutes": delay_minutes} | facts_extra
    for ref, passenger_ids in bookings:
        # The passenger hears first: the notice leaves in this same transaction.
        outbox.publish(topics.NOTICES, NoticeRequested(
            disruption_id=event_id, booking_ref=ref, passenger_ids=passenger_ids,
            stage="first_notice", template=f"first_notice_{kind}", facts=facts,
            occurred_at=occurred_at,
        ), key=ref, id=derived_id(event_id, ref, "first_notice"))
        outbox.publish(topics.PASSENGER_DISRUPTIONS, PassengerDisruption(
            disruption_id=event_id, booking_ref=ref, passenger_ids=passenger_ids, flight=leg,
            kind=kind, reason=reason, delay_minutes=delay_minutes,
        ), key=ref, id=derived_id(event_id, ref, "disruption"), time=occurred_at)


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
    topics.REBOOKINGS: {"rebooking.decided": follow_rebooking},
    topics.FLIGHT_EVENTS: {"flight.cancelled": disrupt_passengers,
                           "flight.delayed": disrupt_passengers},
}
