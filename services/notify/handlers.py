"""Notify: a notice request becomes one delivery per passenger per chosen channel, at most once; a
newer notice about the same thing replaces one not yet sent."""

import asyncpg

from services.notify import policy
from shared import topics
from shared.events import Envelope, NoticeDelivered, NoticeRequested
from shared.outbox import Outbox


async def plan_deliveries(conn: asyncpg.Connection, event: Envelope, outbox: Outbox) -> None:
    n: NoticeRequested = event.data
    contacts = {
        r["passenger_id"]: r for r in await conn.fetch(
            "SELECT passenger_id, email, phone, channels, opted_out FROM contacts"
            " WHERE passenger_id = ANY($1::text[])", n.passenger_ids)
    }
    rows = []
    for passenger_id in n.passenger_ids:
        c = contacts.get(passenger_id)
        channels = policy.reachable(c["channels"], c["opted_out"], c["email"], c["phone"]) if c else []
        for channel in channels:
            rows.append((passenger_id, channel, "pending", None))
        if not channels:
            # Visible, not silent: an agent must reach this passenger another way.
            rows.append((passenger_id, "none", "undeliverable", "no usable contact details on file"))
    if not rows:
        return
    stale: set[str] = set()
    if n.about is not None:
        stale = await _supersede(conn, outbox, n)
    rows = [(p, c, "superseded" if p in stale else status,
             "a newer notice about the same thing is already on its way" if p in stale else detail)
            for p, c, status, detail in rows]
    inserted = await conn.fetch(
        """INSERT INTO deliveries (passenger_id, disruption_id, stage, revision, channel, booking_ref,
                                   template, facts, occurred_at, about, status, detail)
           SELECT r.passenger_id, $1, $2, $3, r.channel, $4, $5, $6, $7, $8, r.status, r.detail
           FROM unnest($9::text[], $10::text[], $11::text[], $12::text[])
                AS r(passenger_id, channel, status, detail)
           ON CONFLICT (passenger_id, disruption_id, stage, revision, channel) DO NOTHING
           RETURNING passenger_id, channel, status, detail""",
        n.disruption_id, n.stage, n.revision, n.booking_ref, n.template, n.facts, n.occurred_at, n.about,
        *[list(col) for col in zip(*rows, strict=True)],
    )
    for r in inserted:
        if r["status"] == "undeliverable":
            outbox.publish(topics.NOTICE_DELIVERIES, NoticeDelivered(
                disruption_id=n.disruption_id, booking_ref=n.booking_ref,
                passenger_id=r["passenger_id"], stage=n.stage, channel="none",
                status="undeliverable", detail=r["detail"],
            ), key=n.booking_ref)


async def _supersede(conn: asyncpg.Connection, outbox: Outbox, n: NoticeRequested) -> set[str]:
    """Replace older unsent notices of this stage about the same thing (a delay that grew from 40
    to 90 minutes before the first word went out is told once, as 90); return the passengers who
    already have a newer one, for whom this notice is stale."""
    planned = [policy.Planned(r["id"], r["passenger_id"], r["channel"], r["status"], r["occurred_at"],
                              (r["disruption_id"], r["revision"])) for r in await conn.fetch(
        """SELECT id, passenger_id, channel, status, occurred_at, disruption_id, revision FROM deliveries
           WHERE passenger_id = ANY($1::text[]) AND stage = $2 AND about = $3""",
        n.passenger_ids, n.stage, n.about)]
    replaced, stale = policy.supersede(planned, n.occurred_at, (n.disruption_id, n.revision))
    if replaced:
        for r in await conn.fetch(
                """UPDATE deliveries SET status = 'superseded', detail = 'replaced by a newer notice before it was sent'
                   WHERE id = ANY($1::bigint[]) AND status IN ('pending', 'retrying')
                   RETURNING passenger_id, channel, disruption_id, booking_ref""", replaced):
            outbox.publish(topics.NOTICE_DELIVERIES, NoticeDelivered(
                disruption_id=r["disruption_id"], booking_ref=r["booking_ref"], passenger_id=r["passenger_id"],
                stage=n.stage, channel=r["channel"], status="superseded", detail="replaced by a newer notice",
            ), key=r["booking_ref"])
    return stale


HANDLERS = {topics.NOTICES: {"notice.requested": plan_deliveries}}
FIRST_NOTICE_HANDLERS = {topics.FIRST_NOTICES: {"notice.requested": plan_deliveries}}
