"""The delivery loop: claim due deliveries, send them outside any transaction, record the result.

A delivery is claimed (status 'sending') in a committed transaction before the provider is called,
so two replicas never send the same one. A claim left by a crash is taken again after a lease; the
provider call then carries the same idempotency key (SMS) or Message-ID (email)."""

import asyncio
import logging
import random
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import asyncpg
from prometheus_client import Counter, Histogram

from services.notify import templates
from services.notify.providers import Outgoing, PermanentFailure, TransientFailure
from shared import db, topics
from shared.events import NoticeDelivered
from shared.outbox import Outbox
from shared.settings import Settings

log = logging.getLogger(__name__)

NOTICES_SENT = Counter("rebound_notices_total", "Notice deliveries finished, by result.",
                       ["stage", "channel", "status"])
NOTICE_LATENCY = Histogram(
    "rebound_notice_latency_seconds",
    "From the disruption's acceptance to the provider accepting the notice.",
    ["stage", "channel"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300, 1800),
)

MAX_ATTEMPTS = 6
CLAIM_LEASE = timedelta(minutes=2)


@dataclass(frozen=True)
class Result:
    delivery_id: int
    status: str  # sent | retrying | failed
    provider_id: str | None
    detail: str | None


def retry_delay(attempt: int) -> float:
    """Exponential backoff with full jitter: about 1 s, 2 s, 4 s … capped at 5 minutes."""
    return random.uniform(0, min(300.0, 2.0 ** attempt))


class Sender:
    def __init__(self, settings: Settings, pool: asyncpg.Pool, channels: dict, *,
                 concurrency: int = 32, batch_size: int = 200) -> None:
        self._settings = settings
        self._pool = pool
        self._channels = channels
        self._limit = asyncio.Semaphore(concurrency)
        self._batch_size = batch_size

    async def run(self) -> None:
        async with db.notifications(self._settings.database_url, "notify_deliveries") as woken:
            while True:
                claimed = await self._claim()
                if claimed:
                    await self._deliver(claimed)
                else:
                    await woken(0.5)  # also when a retry falls due

    async def _claim(self) -> list[asyncpg.Record]:
        # First notices go first: a flood of later notices never holds one back.
        return await self._pool.fetch(
            """WITH due AS (
                   SELECT id FROM deliveries
                   WHERE (status IN ('pending', 'retrying') AND next_attempt_at <= now())
                      OR (status = 'sending' AND claimed_at < now() - $2::interval)
                   ORDER BY (stage = 'first_notice') DESC, next_attempt_at, id
                   LIMIT $1 FOR UPDATE SKIP LOCKED)
               UPDATE deliveries d SET status = 'sending', attempts = attempts + 1,
                                       claimed_at = now()
               FROM due, contacts c
               WHERE d.id = due.id AND c.passenger_id = d.passenger_id
               RETURNING d.id, d.passenger_id, d.disruption_id, d.stage, d.channel,
                         d.booking_ref, d.template, d.facts, d.occurred_at, d.attempts,
                         c.given_name, c.email, c.phone, c.locale""",
            self._batch_size, CLAIM_LEASE,
        )

    async def _deliver(self, claimed: list[asyncpg.Record]) -> None:
        results = await asyncio.gather(*(self._send_one(d) for d in claimed))
        by_id = {d["id"]: d for d in claimed}
        outbox = Outbox(self._settings, source="rebound/notify")
        async with self._pool.acquire() as conn, conn.transaction():
            for r in results:
                d = by_id[r.delivery_id]
                await conn.execute(
                    """UPDATE deliveries SET status = $2, provider_id = $3, detail = $4,
                           sent_at = CASE WHEN $2 = 'sent' THEN now() END,
                           next_attempt_at = now() + $5::interval
                       WHERE id = $1""",
                    r.delivery_id, r.status, r.provider_id, r.detail,
                    timedelta(seconds=retry_delay(d["attempts"])),
                )
                if r.status != "retrying":
                    outbox.publish(topics.NOTICE_DELIVERIES, NoticeDelivered(
                        disruption_id=d["disruption_id"], booking_ref=d["booking_ref"],
                        passenger_id=d["passenger_id"], stage=d["stage"], channel=d["channel"],
                        status=r.status, provider_id=r.provider_id, detail=r.detail,
                    ), key=d["booking_ref"])
            await outbox.flush(conn)
        now = datetime.now(UTC)
        for r in results:
            d = by_id[r.delivery_id]
            NOTICES_SENT.labels(d["stage"], d["channel"], r.status).inc()
            if r.status == "sent":
                NOTICE_LATENCY.labels(d["stage"], d["channel"]).observe(
                    (now - d["occurred_at"]).total_seconds())

    async def _send_one(self, d: asyncpg.Record) -> Result:
        address = d["phone"] if d["channel"] == "sms" else d["email"]
        try:
            notice = templates.render_notice(d["template"], d["channel"], d["locale"],
                                             d["facts"], d["given_name"], d["passenger_id"])
        except Exception as exc:  # a template defect must not stall every other notice
            log.exception("notice could not be rendered", extra={"delivery_id": d["id"]})
            return Result(d["id"], "failed", None, f"could not render: {type(exc).__name__}")
        key = f"{d['disruption_id']}.{d['passenger_id']}.{d['stage']}.{d['channel']}"
        async with self._limit:
            try:
                provider_id = await self._channels[d["channel"]].send(
                    Outgoing(key=key, to=address, subject=notice.subject, body=notice.body))
            except PermanentFailure as exc:
                return Result(d["id"], "failed", None, str(exc))
            except TransientFailure as exc:
                status = "retrying" if d["attempts"] < MAX_ATTEMPTS else "failed"
                log.warning("notice delivery failed", extra={"delivery_id": d["id"],
                                                             "channel": d["channel"],
                                                             "error": str(exc), "status": status})
                return Result(d["id"], status, None, str(exc))
        return Result(d["id"], "sent", provider_id, None)
