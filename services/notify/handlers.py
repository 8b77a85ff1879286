"""Notify: a notice request becomes one delivery per passenger per chosen channel, at most once; a
newer notice about the same thing replaces one not yet sent."""

import asyncpg

from services.notify import policy, store
from shared import topics
from shared.consumer import Event
from shared.events import NoticeDelivered, NoticeRequested
from shared.outbox import Outbox


async def plan_deliveries(conn: asyncpg.Connection, events: list[Event[NoticeRequested]], outbox: Outbox) -> None:
    """All the notice requests of a consumer batch in a few statements: a cancelled aircraft's
    first notices cost the database no more round trips than one booking's."""
    # Each request's facts were read as its kind's where it came in (a request whose facts are not
    # is dead-lettered with the reason, before it could fail to render for every passenger).
    notices = [e.payload for e in events]
    traces = [e.traceparent for e in events]
    subjects = [(n.booking_ref, p, n.stage, n.about) for n in notices if n.about is not None for p in n.passenger_ids]
    if len(subjects) != len(set(subjects)):
        # Two notices about the same thing for the same passenger: the second must see the first.
        for n, trace in zip(notices, traces, strict=True):
            await _plan(conn, outbox, [n], [trace])
    else:
        await _plan(conn, outbox, notices, traces)


async def _plan(conn: asyncpg.Connection, outbox: Outbox, notices: list[NoticeRequested],
                traces: list[str | None]) -> None:
    """Load who can be reached how and what is planned already about the same things; decide the
    deliveries (policy); store them, and report the passengers nobody can reach. `traces`: each
    notice's trace, which its deliveries and their reports carry."""
    contacts = await store.contacts(conn, sorted({(n.booking_ref, p) for n in notices for p in n.passenger_ids}))
    stale = await _supersede(conn, outbox, [n for n in notices if n.about is not None])
    planned = policy.deliveries([(n.booking_ref, n.passenger_ids) for n in notices], contacts, stale)
    for d in await store.add_deliveries(conn, planned, notices, traces):
        if d.status == "undeliverable":
            _report(outbox, d, "none", "undeliverable", d.detail)


def _report(outbox: Outbox, d: store.Delivery, channel: str, status: str, detail: str | None) -> None:
    outbox.publish(topics.NOTICE_DELIVERIES, NoticeDelivered(
        disruption_id=d.disruption_id, booking_ref=d.booking_ref, passenger_id=d.passenger_id, stage=d.stage,
        channel=channel, status=status, detail=detail,
    ), key=d.booking_ref, traceparent=d.traceparent)


async def _supersede(conn: asyncpg.Connection, outbox: Outbox, notices: list[NoticeRequested]) -> set[tuple[int, str]]:
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
