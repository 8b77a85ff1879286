"""Notify: a notice request becomes one delivery per passenger per chosen channel, at most once; a
newer notice about the same thing replaces one not yet sent."""

import asyncpg

from services.notify import policy, store
from shared import topics
from shared.consumer import Event
from shared.events import FlightNoticeRequested, NoticeDelivered, NoticeRequested
from shared.outbox import Outbox


async def plan_deliveries(conn: asyncpg.Connection, events: list[Event[NoticeRequested]], outbox: Outbox) -> None:
    """All the notice requests of a consumer batch in a few statements: a cancelled aircraft's
    notices cost the database no more round trips than one booking's."""
    # Each request's facts were read as its kind's where it came in (a request whose facts are not
    # is dead-lettered with the reason, before it could fail to render for every passenger).
    await _plan_all(conn, outbox, [policy.Request.of(e.payload, e.traceparent) for e in events])


async def plan_flight_notices(conn: asyncpg.Connection, events: list[Event[FlightNoticeRequested]],
                              outbox: Outbox) -> None:
    """A flight's first notices, one message for all its bookings: planned as one request per
    booking, in the same few statements, the facts written out once per flight."""
    await _plan_all(conn, outbox, [r for e in events for r in policy.Request.each(e.payload, e.traceparent)])


async def _plan_all(conn: asyncpg.Connection, outbox: Outbox, requests: list[policy.Request]) -> None:
    subjects = [(n.booking_ref, p, n.stage, n.about) for n in requests if n.about is not None for p in n.passenger_ids]
    if len(subjects) != len(set(subjects)):
        # Two notices about the same thing for the same passenger: the second must see the first.
        for n in requests:
            await _plan(conn, outbox, [n])
    else:
        await _plan(conn, outbox, requests)


async def _plan(conn: asyncpg.Connection, outbox: Outbox, requests: list[policy.Request]) -> None:
    """Load who can be reached how and what is planned already about the same things; decide the
    deliveries (policy); store them, and report the passengers nobody can reach. Each delivery and
    its reports carry its request's trace."""
    contacts = await store.contacts(conn, sorted({(n.booking_ref, p) for n in requests for p in n.passenger_ids}))
    stale = await _supersede(conn, outbox, [n for n in requests if n.about is not None])
    planned = policy.deliveries([(n.booking_ref, n.passenger_ids) for n in requests], contacts, stale)
    for d in await store.add_deliveries(conn, planned, requests):
        _report(outbox, d, "none", "undeliverable", d.detail)


def _report(outbox: Outbox, d: store.Delivery, channel: str, status: str, detail: str | None) -> None:
    outbox.publish(topics.NOTICE_DELIVERIES, NoticeDelivered(
        disruption_id=d.disruption_id, booking_ref=d.booking_ref, passenger_id=d.passenger_id, stage=d.stage,
        channel=channel, status=status, detail=detail,
    ), key=d.booking_ref, traceparent=d.traceparent)


async def _supersede(conn: asyncpg.Connection, outbox: Outbox, notices: list[policy.Request]) -> set[tuple[int, str]]:
    """Replace older unsent notices of each notice's stage about the same thing (a delay that grew
    from 40 to 90 minutes before the first word went out is told once, as 90); return the
    (notice, passenger) pairs for whom a newer notice exists already, so this one is stale."""
    if not notices:
        return set()
    planned = await store.planned_about(conn, [(n.booking_ref, p, n.stage, n.about) for n in notices
                                               for p in n.passenger_ids])
    replaced_ids, stale = [], set()
    for i, n in enumerate(notices):
        mine = [p for passenger in n.passenger_ids
                for p in planned.get((n.booking_ref, passenger, n.stage, n.about), [])]
        replaced, old = policy.supersede(mine, n.occurred_at, (n.disruption_id, n.revision))
        replaced_ids += replaced
        stale |= {(i, passenger) for passenger in old}
    if replaced_ids:
        for d in await store.supersede(conn, replaced_ids):
            _report(outbox, d, d.channel, "superseded", "replaced by a newer notice")
    return stale
