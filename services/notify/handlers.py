"""Notify: a notice request becomes one delivery per passenger per chosen channel, at most once."""

import asyncpg

from shared import topics
from shared.events import Envelope, NoticeDelivered, NoticeRequested
from shared.outbox import Outbox


async def plan_deliveries(conn: asyncpg.Connection, event: Envelope, outbox: Outbox) -> None:
    n: NoticeRequested = event.data
    contacts = {
        r["passenger_id"]: r for r in await conn.fetch(
            "SELECT passenger_id, email, phone, channels FROM contacts"
            " WHERE passenger_id = ANY($1::text[])", n.passenger_ids)
    }
    rows = []
    for passenger_id in n.passenger_ids:
        contact = contacts.get(passenger_id)
        channels = _reachable_channels(contact) if contact else []
        for channel in channels:
            rows.append((passenger_id, channel, "pending", None))
        if not channels:
            # Visible, not silent: an agent must reach this passenger another way.
            rows.append((passenger_id, "none", "undeliverable", "no usable contact details on file"))
    if not rows:
        return
    inserted = await conn.fetch(
        """INSERT INTO deliveries (passenger_id, disruption_id, stage, channel, booking_ref,
                                   template, facts, occurred_at, status, detail)
           SELECT r.passenger_id, $1, $2, r.channel, $3, $4, $5, $6, r.status, r.detail
           FROM unnest($7::text[], $8::text[], $9::text[], $10::text[])
                AS r(passenger_id, channel, status, detail)
           ON CONFLICT (passenger_id, disruption_id, stage, channel) DO NOTHING
           RETURNING passenger_id, channel, status, detail""",
        n.disruption_id, n.stage, n.booking_ref, n.template, n.facts, n.occurred_at,
        *[list(col) for col in zip(*rows, strict=True)],
    )
    for r in inserted:
        if r["status"] == "undeliverable":
            outbox.publish(topics.NOTICE_DELIVERIES, NoticeDelivered(
                disruption_id=n.disruption_id, booking_ref=n.booking_ref,
                passenger_id=r["passenger_id"], stage=n.stage, channel="none",
                status="undeliverable", detail=r["detail"],
            ), key=n.booking_ref)


def _reachable_channels(contact: asyncpg.Record) -> list[str]:
    address = {"sms": contact["phone"], "email": contact["email"]}
    return [c for c in contact["channels"] if address.get(c)]


HANDLERS = {topics.NOTICES: {"notice.requested": plan_deliveries}}
