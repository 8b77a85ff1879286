"""Notify: a notice request becomes one delivery per passenger per chosen channel, at most once; a
newer notice about the same thing replaces one not yet sent."""

import json

import asyncpg

from services.notify import policy
from shared import topics
from shared.consumer import Event
from shared.events import NoticeDelivered, NoticeRequested
from shared.notices import read as read_notice
from shared.outbox import Outbox


async def plan_deliveries(conn: asyncpg.Connection, events: list[Event[NoticeRequested]], outbox: Outbox) -> None:
    """All the notice requests of a consumer batch in a few statements: a cancelled aircraft's
    first notices cost the database no more round trips than one booking's."""
    notices = [e.payload for e in events]
    for n in notices:
        # Facts that are not their kind's would fail to render for every passenger: refused here,
        # where the request is dead-lettered with the reason.
        read_notice(n.template, n.facts)
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
    """`traces`: each notice's trace, which its deliveries and their reports carry."""
    contacts = await _contacts(conn, sorted({(n.booking_ref, p) for n in notices for p in n.passenger_ids}))
    stale = await _supersede(conn, outbox, [n for n in notices if n.about is not None])
    planned = policy.deliveries([(n.booking_ref, n.passenger_ids) for n in notices], contacts, stale)
    for r in await _store(conn, planned, notices, traces):
        if r["status"] == "undeliverable":
            outbox.publish(topics.NOTICE_DELIVERIES, NoticeDelivered(
                disruption_id=r["disruption_id"], booking_ref=r["booking_ref"],
                passenger_id=r["passenger_id"], stage=r["stage"], channel="none",
                status="undeliverable", detail=r["detail"],
            ), key=r["booking_ref"], traceparent=r["traceparent"])


async def _contacts(conn: asyncpg.Connection, passengers: list[tuple[str, str]]
                    ) -> dict[tuple[str, str], policy.Contact]:
    """Contact details by (booking, passenger)."""
    return {(r["booking_ref"], r["passenger_id"]): policy.Contact(r["channels"], r["opted_out"], r["email"], r["phone"])
            for r in await conn.fetch(
                """SELECT c.booking_ref, c.passenger_id, c.email, c.phone, c.channels, c.opted_out
                   FROM contacts c JOIN unnest($1::text[], $2::text[]) AS p(booking_ref, passenger_id)
                     USING (booking_ref, passenger_id)""",
                [b for b, _ in passengers], [p for _, p in passengers])}


async def _store(conn: asyncpg.Connection, planned: list[policy.Delivery], notices: list[NoticeRequested],
                 traces: list[str | None]) -> list[asyncpg.Record]:
    """The planned deliveries, once each; those new."""
    if not planned:
        return []
    rows = [(d.passenger_id, n.disruption_id, n.stage, n.revision, d.channel, n.booking_ref, n.template,
             json.dumps(n.facts), n.occurred_at, n.about, d.status, d.detail, traces[d.notice])
            for d, n in ((d, notices[d.notice]) for d in planned)]
    inserted: list[asyncpg.Record] = await conn.fetch(INSERT_DELIVERIES, *(list(c) for c in zip(*rows, strict=True)))
    return inserted


INSERT_DELIVERIES = """
    INSERT INTO deliveries (passenger_id, disruption_id, stage, revision, channel, booking_ref,
                            template, facts, occurred_at, about, status, detail, traceparent)
    SELECT r.passenger_id, r.disruption_id, r.stage, r.revision, r.channel, r.booking_ref, r.template,
           r.facts::jsonb, r.occurred_at, r.about, r.status, r.detail, r.traceparent
    FROM unnest($1::text[], $2::text[], $3::text[], $4::int[], $5::text[], $6::text[], $7::text[],
                $8::text[], $9::timestamptz[], $10::text[], $11::text[], $12::text[], $13::text[])
         AS r(passenger_id, disruption_id, stage, revision, channel, booking_ref, template, facts,
              occurred_at, about, status, detail, traceparent)
    ON CONFLICT (booking_ref, passenger_id, disruption_id, stage, revision, channel) DO NOTHING
    RETURNING passenger_id, disruption_id, stage, booking_ref, status, detail, traceparent"""


async def _supersede(conn: asyncpg.Connection, outbox: Outbox, notices: list[NoticeRequested]) -> set[tuple[int, str]]:
    """Replace older unsent notices of each notice's stage about the same thing (a delay that grew
    from 40 to 90 minutes before the first word went out is told once, as 90); return the
    (notice, passenger) pairs for whom a newer notice exists already, so this one is stale."""
    if not notices:
        return set()
    keys = [(n.booking_ref, p, n.stage, n.about) for n in notices for p in n.passenger_ids]
    planned: dict[tuple[str, str, str, str | None], list[policy.Planned]] = {}
    for r in await conn.fetch(
            """SELECT d.id, d.booking_ref, d.passenger_id, d.stage, d.about, d.channel, d.status, d.occurred_at,
                      d.disruption_id, d.revision
               FROM deliveries d
               JOIN unnest($1::text[], $2::text[], $3::text[], $4::text[]) AS k(booking_ref, passenger_id, stage, about)
                 ON d.booking_ref = k.booking_ref AND d.passenger_id = k.passenger_id AND d.stage = k.stage
                    AND d.about = k.about""",
            *(list(column) for column in zip(*keys, strict=True))):
        planned.setdefault((r["booking_ref"], r["passenger_id"], r["stage"], r["about"]), []).append(policy.Planned(
            r["id"], r["passenger_id"], r["channel"], r["status"], r["occurred_at"],
            (r["disruption_id"], r["revision"])))
    replaced_ids, stale = [], set()
    for i, n in enumerate(notices):
        mine = [p for passenger in n.passenger_ids
                for p in planned.get((n.booking_ref, passenger, n.stage, n.about), [])]
        replaced, old = policy.supersede(mine, n.occurred_at, (n.disruption_id, n.revision))
        replaced_ids += replaced
        stale |= {(i, passenger) for passenger in old}
    if replaced_ids:
        for r in await conn.fetch(
                """UPDATE deliveries SET status = 'superseded', detail = 'replaced by a newer notice before it was sent'
                   WHERE id = ANY($1::bigint[]) AND status IN ('pending', 'retrying')
                   RETURNING passenger_id, channel, disruption_id, booking_ref, stage, traceparent""", replaced_ids):
            outbox.publish(topics.NOTICE_DELIVERIES, NoticeDelivered(
                disruption_id=r["disruption_id"], booking_ref=r["booking_ref"], passenger_id=r["passenger_id"],
                stage=r["stage"], channel=r["channel"], status="superseded", detail="replaced by a newer notice",
            ), key=r["booking_ref"], traceparent=r["traceparent"])
    return stale

