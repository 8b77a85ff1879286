"""Paying refunds and compensation: a payment provider adapter over HTTP, and the worker that pays
the ledger's pending payouts outside any database transaction.

Each payout's id is its idempotency key. A worker claims a payout with a lease; if it dies after
the provider paid and before the ledger heard, the lease runs out, the payout is tried again with
the same key, and the provider answers with the payment it already made."""

import asyncio
import logging
import random
from dataclasses import dataclass

import asyncpg
import httpx

from services.compensation import metrics
from services.compensation.case import from_minor
from services.compensation.config import CompensationSettings
from shared import db, system, topics
from shared.events import PayoutSettled, event_id
from shared.http import provider_error_code
from shared.outbox import Outbox
from shared.pacing import backoff

log = logging.getLogger(__name__)


class Transient(Exception):
    """Worth trying again: the provider is down, slow or busy."""


class Rejected(Exception):
    """The provider refused this payout for good: a person must look at it."""


@dataclass(frozen=True)
class Backoff:
    base: float
    cap: float

    def delay(self, attempt: int, rand: random.Random | None = None) -> float:
        """Full jitter over base·2^(attempt−1), capped: the first retry waits up to `base`."""
        return backoff(max(attempt - 1, 0), base=self.base, cap=self.cap, rand=rand)


class PaymentProvider:
    """A payouts API in the Stripe style: bearer key, `Idempotency-Key` header, JSON body."""

    def __init__(self, base_url: str, api_key: str, timeout: float) -> None:
        self._client = httpx.AsyncClient(base_url=base_url, timeout=timeout,
                                         headers={"Authorization": f"Bearer {api_key}"})

    async def pay(self, payout: asyncpg.Record) -> str:
        try:
            response = await self._client.post("/v1/payouts", headers={"Idempotency-Key": str(payout["payout_id"])},
                                               json={"amount_minor": payout["amount_minor"],
                                                     "currency": payout["currency"].strip(),
                                                     "booking_ref": payout["booking_ref"],
                                                     "passenger_id": payout["passenger_id"], "kind": payout["kind"],
                                                     "destination": "original_form_of_payment"})
        except httpx.HTTPError as exc:
            raise Transient(repr(exc)) from exc
        if response.status_code in (408, 409, 425, 429) or response.status_code >= 500:
            raise Transient(f"HTTP {response.status_code}")
        if response.status_code >= 400:
            # The code, never the text: a payment provider's message may quote the card or account.
            raise Rejected(f"HTTP {response.status_code}{provider_error_code(response.text)}")
        return response.json()["id"]

    async def close(self) -> None:
        await self._client.aclose()


class PayoutWorker:
    def __init__(self, settings: CompensationSettings, pool: asyncpg.Pool, provider: PaymentProvider) -> None:
        self._settings = settings
        self._pool = pool
        self._provider = provider
        self._backoff = Backoff(settings.payout_backoff_seconds, settings.payout_backoff_max_seconds)
        self._slots = asyncio.Semaphore(settings.payout_concurrency)

    async def run(self) -> None:
        async with db.notifications(self._settings.database_url, system.channel("compensation", "payouts")) as woken:
            passes = 0
            while True:
                claimed = await self._pay_due()
                passes += 1
                if passes % 10 == 1:
                    await self._count()
                if not claimed:
                    await woken(1.0)

    async def _pay_due(self) -> int:
        claimed = await self._pool.fetch(
            """UPDATE payouts SET attempts = attempts + 1, next_attempt_at = now() + make_interval(secs => $1)
               WHERE payout_id IN (SELECT payout_id FROM payouts WHERE status = 'pending' AND next_attempt_at <= now()
                                   ORDER BY next_attempt_at LIMIT $2 FOR UPDATE SKIP LOCKED)
               RETURNING *""", self._settings.payout_lease_seconds, self._settings.payout_concurrency * 4)
        await asyncio.gather(*(self._pay(p) for p in claimed))
        return len(claimed)

    async def _pay(self, payout: asyncpg.Record) -> None:
        async with self._slots:
            try:
                provider_id = await self._provider.pay(payout)
            except Rejected as exc:
                await self._settle(payout, "failed", error=str(exc))
            except Transient as exc:
                if payout["attempts"] >= self._settings.payout_max_attempts:
                    await self._settle(payout, "failed", error=f"gave up after {payout['attempts']} attempts: {exc}")
                else:
                    metrics.PAYOUT_ATTEMPTS.labels("retry").inc()
                    await self._pool.execute(
                        "UPDATE payouts SET next_attempt_at = now() + make_interval(secs => $2), last_error = $3"
                        " WHERE payout_id = $1 AND status = 'pending'",
                        payout["payout_id"], self._backoff.delay(payout["attempts"]), str(exc))
            else:
                await self._settle(payout, "paid", provider_id=provider_id)

    async def _settle(self, payout: asyncpg.Record, status: str, *, provider_id: str | None = None,
                      error: str | None = None) -> None:
        metrics.PAYOUT_ATTEMPTS.labels(status).inc()
        if status == "failed":
            log.error("payout failed for good", extra={"payout_id": str(payout["payout_id"]),
                                                       "booking_ref": payout["booking_ref"], "error": error})
        # The provider has answered: its answer must be kept through a PostgreSQL restart, and
        # told (once: only the update that settles the payout tells it).
        async def record(conn: asyncpg.Connection) -> None:
            settled = await conn.fetchval(
                "UPDATE payouts SET status = $2, provider_id = $3, last_error = $4,"
                " paid_at = CASE WHEN $2 = 'paid' THEN now() END WHERE payout_id = $1 AND status = 'pending'"
                " RETURNING true", payout["payout_id"], status, provider_id, error)
            if settled:
                outbox = Outbox(self._settings, source="rebound/compensation")
                currency = payout["currency"].strip()
                outbox.publish(topics.ENTITLEMENTS, PayoutSettled(
                    payout_id=str(payout["payout_id"]), booking_ref=payout["booking_ref"],
                    passenger_id=payout["passenger_id"], kind=payout["kind"], currency=currency,
                    amount=from_minor(payout["amount_minor"], currency), status=status,
                ), key=payout["booking_ref"], id=event_id("payout", payout["payout_id"], status))
                await outbox.flush(conn)

        await db.until_committed(self._pool, record)

    async def _count(self) -> None:
        for row in await self._pool.fetch("SELECT status, kind, count(*) AS n FROM payouts GROUP BY status, kind"):
            metrics.PAYOUTS.labels(row["status"], row["kind"]).set(row["n"])
