"""Compensation: each disrupted booking's case is evaluated once its outcome is known, and every
entitlement is written to the ledger exactly once."""

import asyncpg

from services.compensation import domain
from shared import topics
from shared.events import (
    BookingConfirmed,
    EntitlementsGranted,
    Envelope,
    NoticeRequested,
    PassengerDisruption,
    RebookingDecided,
    event_id,
)
from shared.outbox import Outbox


async def record_booking(conn: asyncpg.Connection, event: Envelope, outbox: Outbox) -> None:
    b: BookingConfirmed = event.data
    await conn.executemany(
        """INSERT INTO passengers (booking_ref, passenger_id, fare, currency) VALUES ($1,$2,$3,$4)
           ON CONFLICT (booking_ref, passenger_id) DO UPDATE
           SET fare = EXCLUDED.fare, currency = EXCLUDED.currency""",
        [(b.booking_ref, p.passenger_id, p.fare, p.currency) for p in b.passengers],
    )


async def record_disruption(conn: asyncpg.Connection, event: Envelope, outbox: Outbox) -> None:
    d: PassengerDisruption = event.data
    await conn.execute(
        """INSERT INTO cases (disruption_id, booking_ref, passenger_ids, kind, reason, delay_minutes)
           VALUES ($1, $2, $3, $4, $5, $6)
           ON CONFLICT (disruption_id, booking_ref) DO UPDATE SET
               kind = EXCLUDED.kind, reason = EXCLUDED.reason, delay_minutes = EXCLUDED.delay_minutes""",
        d.disruption_id, d.booking_ref, d.passenger_ids, d.kind, d.reason, d.delay_minutes,
    )
    await _grant_when_complete(conn, outbox, event, d.disruption_id, d.booking_ref)


async def record_outcome(conn: asyncpg.Connection, event: Envelope, outbox: Outbox) -> None:
    r: RebookingDecided = event.data
    await conn.execute(
        """INSERT INTO cases (disruption_id, booking_ref, passenger_ids, outcome, arrival_delay_minutes,
                              refund_due)
           VALUES ($1, $2, $3, $4, $5, $6)
           ON CONFLICT (disruption_id, booking_ref) DO UPDATE SET
               outcome = EXCLUDED.outcome, arrival_delay_minutes = EXCLUDED.arrival_delay_minutes,
               refund_due = cases.refund_due OR EXCLUDED.refund_due""",
        r.disruption_id, r.booking_ref, r.passenger_ids, r.outcome, r.arrival_delay_minutes, r.refund_due,
    )
    await _grant_when_complete(conn, outbox, event, r.disruption_id, r.booking_ref)


async def _grant_when_complete(conn: asyncpg.Connection, outbox: Outbox, event: Envelope,
                               disruption_id: str, booking_ref: str) -> None:
    # The two halves arrive on different topics in either order; whichever is second decides.
    row = await conn.fetchrow(
        "SELECT * FROM cases WHERE disruption_id = $1 AND booking_ref = $2 FOR UPDATE",
        disruption_id, booking_ref,
    )
    if row["kind"] is None or row["outcome"] is None:
        return
    fares = await conn.fetch(
        "SELECT passenger_id, fare, currency FROM passengers"
        " WHERE booking_ref = $1 AND passenger_id = ANY($2::text[])",
        booking_ref, row["passenger_ids"],
    )
    case = domain.Case(
        kind=row["kind"], delay_minutes=row["delay_minutes"] or 0, outcome=row["outcome"],
        arrival_delay_minutes=row["arrival_delay_minutes"],
        passengers=[domain.PassengerFare(**dict(f)) for f in fares], refund_due=row["refund_due"],
    )
    granted = []
    for e in domain.entitlements_for(case):
        inserted = await conn.fetchval(
            """INSERT INTO grants (booking_ref, passenger_id, disruption_id, rule, kind, amount,
                                   currency, source)
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT DO NOTHING RETURNING 1""",
            booking_ref, e.passenger_id, disruption_id, e.rule, e.kind, e.amount, e.currency,
            e.source,
        )
        if inserted:
            granted.append(e)
    if not granted:
        return
    # A later answer (a refund asked for instead) can grant more: each set is its own event.
    rules = sorted({g.rule for g in granted})
    outbox.publish(topics.ENTITLEMENTS, EntitlementsGranted(
        disruption_id=disruption_id, booking_ref=booking_ref, grants=granted,
    ), key=booking_ref, id=event_id(disruption_id, booking_ref, "entitlements", *rules))
    outbox.publish(topics.NOTICES, NoticeRequested(
        disruption_id=disruption_id, booking_ref=booking_ref,
        passenger_ids=sorted({g.passenger_id for g in granted}),
        stage="entitlements", template="entitlements",
        facts={"grants": [g.model_dump(mode="json", exclude={"source"}) for g in granted]},
        occurred_at=event.time,
    ), key=booking_ref, id=event_id(disruption_id, booking_ref, "entitlements_notice", *rules))


HANDLERS = {
    topics.BOOKINGS: {"booking.confirmed": record_booking},
    topics.PASSENGER_DISRUPTIONS: {"passenger.disrupted": record_disruption},
    topics.REBOOKINGS: {"rebooking.decided": record_outcome},
}
