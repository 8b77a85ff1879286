"""Compensation's consumer: it keeps the schedule, the bookings and each disruption's two halves
(what happened, from disruption; what was decided, from rebooking), and whenever a disruption is
complete it evaluates the whole journey and writes what changed to the ledger."""

import json
import logging
import time
from datetime import datetime

import asyncpg

from services.compensation import engine, journey, ledger, metrics
from services.compensation.case import to_minor
from services.compensation.rules import RuleBook
from shared import topics
from shared.consumer import batched
from shared.events import (
    BookingConfirmed,
    EntitlementsGranted,
    Envelope,
    FlightScheduled,
    Grant,
    Leg,
    NoticeRequested,
    PassengerDisruption,
    RebookingDecided,
    event_id,
)
from shared.outbox import Outbox
from shared.sealed import Sealer

log = logging.getLogger(__name__)


async def record_schedule(conn: asyncpg.Connection, event: Envelope, outbox: Outbox) -> None:
    f: FlightScheduled = event.data
    await conn.execute(
        """INSERT INTO flights (flight_id, carrier, number, origin, destination, scheduled_departure,
                                scheduled_arrival)
           VALUES ($1, $2, $3, $4, $5, $6, $7)
           ON CONFLICT (flight_id) DO UPDATE SET scheduled_departure = EXCLUDED.scheduled_departure,
               scheduled_arrival = EXCLUDED.scheduled_arrival""",
        f.flight_id, f.carrier, f.number, f.origin, f.destination, f.scheduled_departure, f.scheduled_arrival)


@batched
async def record_booking(conn: asyncpg.Connection, events: list[Envelope], outbox: Outbox) -> None:
    """A batch of bookings in two statements (a reservation system's initial load is hundreds of
    thousands); the latest version of a booking in the batch is the one kept."""
    latest: dict[str, BookingConfirmed] = {e.data.booking_ref: e.data for e in events}
    bookings = list(latest.values())
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


async def record_disruption(conn: asyncpg.Connection, event: Envelope, outbox: Outbox, book: RuleBook,
                            sealer: Sealer) -> None:
    d: PassengerDisruption = event.data
    legs = [leg.model_dump(mode="json") for leg in (d.segments or [d.flight])]
    await conn.execute(
        """INSERT INTO cases (disruption_id, booking_ref, passenger_ids, kind, reason, delay_minutes, flight_id, legs,
                              noticed_at)
           VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)
           ON CONFLICT (disruption_id, booking_ref) DO UPDATE SET
               kind = EXCLUDED.kind, reason = EXCLUDED.reason, delay_minutes = EXCLUDED.delay_minutes,
               flight_id = EXCLUDED.flight_id, legs = EXCLUDED.legs, noticed_at = EXCLUDED.noticed_at""",
        d.disruption_id, d.booking_ref, d.passenger_ids, d.kind, d.reason, d.delay_minutes, d.flight.flight_id, legs,
        d.announced_at or d.noticed_at or event.time)  # notice periods run from the announcement
    await _evaluate_when_complete(conn, outbox, event, book, sealer, d.disruption_id, d.booking_ref)


async def record_outcome(conn: asyncpg.Connection, event: Envelope, outbox: Outbox, book: RuleBook,
                         sealer: Sealer) -> None:
    r: RebookingDecided = event.data
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
        [s.model_dump(mode="json") for s in r.segments], r.downgraded, event.time, r.whole_trip)
    await _evaluate_when_complete(conn, outbox, event, book, sealer, r.disruption_id, r.booking_ref)


def _leg(row: dict | asyncpg.Record) -> Leg:
    return Leg.model_validate(dict(row))


async def _evaluate_when_complete(conn: asyncpg.Connection, outbox: Outbox, event: Envelope, book: RuleBook,
                                  sealer: Sealer,
                                  disruption_id: str, booking_ref: str) -> None:
    # The two halves arrive on different topics in either order; whichever is second evaluates.
    # One booking's evaluations take turns, so two replicas never write one journey at once.
    await conn.execute("SELECT pg_advisory_xact_lock(hashtext('compensation:' || $1))", booking_ref)
    rows = await conn.fetch("SELECT * FROM cases WHERE booking_ref = $1 AND kind IS NOT NULL AND outcome IS NOT NULL",
                            booking_ref)
    this = next((r for r in rows if r["disruption_id"] == disruption_id), None)
    if this is None:
        return
    booking = await conn.fetchrow("SELECT * FROM bookings WHERE booking_ref = $1", booking_ref)
    legs = [_leg(r) for r in await conn.fetch(
        "SELECT * FROM flights WHERE flight_id = ANY($1::text[])", booking["flight_ids"])] if booking else []
    known = {leg.flight_id for leg in legs}
    for r in rows:  # a flight the schedule never told us of is known from the disruption itself
        for leg in map(_leg, r["legs"] or []):
            if leg.flight_id not in known:
                known.add(leg.flight_id)
                legs.append(leg)
    if this["flight_id"] not in known:
        log.warning("disrupted flight unknown to the schedule: nothing to evaluate",
                    extra={"booking_ref": booking_ref, "flight_id": this["flight_id"]})
        return
    travellers = [journey.Traveller(p["passenger_id"], p["fare"], p["currency"], tuple(p["special_services"]))
                  for p in await conn.fetch(
                      "SELECT * FROM passengers WHERE booking_ref = $1 AND passenger_id = ANY($2::text[])",
                      booking_ref, this["passenger_ids"])]
    if not travellers:
        log.warning("no fares for a disrupted booking: nothing to evaluate", extra={"booking_ref": booking_ref})
        return
    reports = [journey.Report(
        disruption_id=r["disruption_id"], kind=r["kind"], cause=r["reason"], flight_id=r["flight_id"],
        noticed_at=r["noticed_at"] or r["decided_at"], delay_minutes=r["delay_minutes"] or 0, outcome=r["outcome"],
        decided_at=r["decided_at"] or r["noticed_at"], segments=tuple(map(_leg, r["segments"] or [])),
        arrival_delay_minutes=r["arrival_delay_minutes"], downgraded=r["downgraded"], refund_due=r["refund_due"],
        whole_trip=r["whole_trip"],
    ) for r in rows if r["flight_id"] is not None]
    found = journey.cases_for(booking_ref, legs, reports, travellers, booking["payment"] if booking else "other",
                              this["flight_id"], booked=booking["flight_ids"] if booking else None)
    evaluated = []
    for passenger_id, cases in found.cases.items():
        for case in cases:
            started = time.perf_counter()
            result = engine.evaluate(case, book)
            metrics.EVALUATION_SECONDS.labels("consumer").observe(time.perf_counter() - started)
            evaluated += [ledger.Evaluated(passenger_id, case, e) for e in result.entitlements]
    changed = await ledger.record(conn, booking_ref, found.disruption, found.disruption_ids, evaluated)
    if changed:
        # Each announcement for this journey is a new revision of its entitlements notice.
        revision = await conn.fetchval(
            "SELECT count(DISTINCT c.changed_at) FROM grant_changes c JOIN grants g USING (grant_id)"
            " WHERE g.booking_ref = $1 AND g.disruption = $2 AND c.delta_minor > 0", booking_ref, found.disruption)
        _announce(outbox, event.time, disruption_id, booking_ref, [_sealed(g, sealer) for g in changed],
                  found.disruption, revision)


def _sealed(grant: Grant, sealer: Sealer) -> Grant:
    """A voucher's code travels sealed for notify: a reader of the topics cannot spend it."""
    return grant.model_copy(update={"code": sealer.seal(grant.code)}) if grant.code else grant


def _announce(outbox: Outbox, occurred_at: datetime, disruption_id: str, booking_ref: str, changed: list,
              journey_key: str, revision: int) -> None:
    # Deterministic ids: the same change announced twice (a redelivery) is dropped by the inboxes.
    change = sorted(f"{g.passenger_id}:{g.kind}:{g.amount}" for g in changed)
    outbox.publish(topics.ENTITLEMENTS, EntitlementsGranted(
        disruption_id=disruption_id, booking_ref=booking_ref, grants=changed,
    ), key=booking_ref, id=event_id(booking_ref, "entitlements", *change))
    outbox.publish(topics.NOTICES, NoticeRequested(
        disruption_id=disruption_id, booking_ref=booking_ref,
        passenger_ids=sorted({g.passenger_id for g in changed}), stage="entitlements", template="entitlements",
        facts={"grants": [g.model_dump(mode="json", include={"passenger_id", "kind", "amount", "added", "currency",
                                                              "reason", "due_by", "code", "expires_at", "regime"})
                          for g in changed]},
        occurred_at=occurred_at, revision=revision,
    ), key=booking_ref, id=event_id(booking_ref, "entitlements_notice", *change))


def handlers(book: RuleBook, sealer: Sealer) -> dict:
    async def on_disruption(conn: asyncpg.Connection, event: Envelope, outbox: Outbox) -> None:
        await record_disruption(conn, event, outbox, book, sealer)

    async def on_outcome(conn: asyncpg.Connection, event: Envelope, outbox: Outbox) -> None:
        await record_outcome(conn, event, outbox, book, sealer)

    return {
        topics.SCHEDULE: {"flight.scheduled": record_schedule},
        topics.BOOKINGS: {"booking.confirmed": record_booking},
        topics.PASSENGER_DISRUPTIONS: {"passenger.disrupted": on_disruption},
        topics.REBOOKINGS: {"rebooking.decided": on_outcome},
    }
