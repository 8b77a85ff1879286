"""Notify's sender on real PostgreSQL, stopped mid-batch as a rollout stops it (SIGTERM cancels its
task): what a provider was given is recorded, and what it was not is handed back at once, not
left to the claim's two-minute lease (a fault run saw seven first notices wait out the lease after
a rolling upgrade stopped the replica that had claimed them)."""

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import asyncpg
import pytest

from services.notify import store
from services.notify.config import Config, NotifySettings
from services.notify.policy import CircuitBreaker
from services.notify.providers import Accepted, Outgoing
from services.notify.sender import FirstNoticeQueue, Sender, Throttle
from shared import db, notices
from tests.handlers.airline import booking, contacts, flight, leg

pytestmark = pytest.mark.handlers

CANCELLED = flight("202", "JFK", "BOS", 17)


class Held:
    """An app push gateway that takes one message a request and holds the first until released."""

    most = 1

    def __init__(self) -> None:
        self.first_offered, self.release = asyncio.Event(), asyncio.Event()
        self.offered: list[str] = []

    async def accepted(self, keys):
        return {}

    async def send(self, messages: list[Outgoing]):
        self.offered += [m.key for m in messages]
        self.first_offered.set()
        await self.release.wait()
        return [Accepted(f"push-{m.key}") for m in messages]


@pytest.fixture
async def pool(handler_database: str) -> AsyncIterator[asyncpg.Pool]:
    """Committed work, unlike the other handler tests (the sender commits its claims): undone by hand."""
    pool = await db.create_pool(handler_database, "notify")
    try:
        yield pool
    finally:
        await pool.execute("DELETE FROM deliveries WHERE booking_ref = 'STOP01'")
        await pool.execute("DELETE FROM contacts WHERE booking_ref = 'STOP01'")
        await pool.execute("DELETE FROM outbox")
        await pool.close()


async def test_a_sender_stopped_mid_batch_records_what_went_and_hands_back_the_rest(pool):
    b = booking("STOP01", CANCELLED, party=3)
    cancelled = notices.request(notices.FirstNoticeCancelled.model_validate(
        notices.flight_facts(leg(CANCELLED)) | {"cause": "weather", "delay_minutes": 0}), disruption_id="d-stop",
        booking_ref="STOP01", passenger_ids=[p.passenger_id for p in b.passengers], stage="rebooking",
        occurred_at=datetime.now(UTC), about=CANCELLED.flight_id)
    async with pool.acquire() as conn:
        await contacts(conn, b, ["push"])
        await conn.executemany(
            """INSERT INTO deliveries (passenger_id, disruption_id, stage, revision, channel, booking_ref, template,
                                       facts, occurred_at, about)
               VALUES ($1, 'd-stop', 'rebooking', 0, 'push', 'STOP01', $2, $3::text::jsonb, $4, $5)""",
            [(p, cancelled.template, json.dumps(notices.facts_of(cancelled.facts)), cancelled.occurred_at,
              cancelled.about) for p in cancelled.passenger_ids])
    gateway = Held()
    breaker = CircuitBreaker(threshold=5, cooldown=10, max_cooldown=60, clock=lambda: 0.0)
    sender = Sender(Config.of(NotifySettings(environment="test")), pool, {"push": gateway},
                    {"push": Throttle("push", 1000, 1000, breaker)}, first_notices=False, concurrency=1,
                    first_notices_idle=asyncio.Event())
    claimed = await sender._claim()
    assert len(claimed) == 3
    delivering = asyncio.create_task(sender._deliver_or_hand_back(claimed))
    await asyncio.wait_for(gateway.first_offered.wait(), 30)
    delivering.cancel()  # stopped while the first message is with the provider, the others queued
    await asyncio.wait_for(sender._stopping.wait(), 30)
    gateway.release.set()
    with pytest.raises(asyncio.CancelledError):
        await delivering
    rows = await pool.fetch("SELECT status, attempts, next_attempt_at <= now() AS due, provider_id FROM deliveries"
                            " WHERE booking_ref = 'STOP01' ORDER BY status")
    assert len(gateway.offered) == 1
    assert [(r["status"], r["attempts"], r["due"]) for r in rows] == [
        ("retrying", 0, True), ("retrying", 0, True), ("sent", 1, True)]
    assert rows[2]["provider_id"] == f"push-{gateway.offered[0]}"


async def test_first_notices_are_claimed_by_the_ids_their_planning_added_and_handed_on_when_sent(
        pool, handler_database, monkeypatch):
    """The planning transaction's commit names the first notices it added (migrations/007); the
    first-notice sender claims them by id, without looking the queue over. The first-notice
    consumer's `handed_on` (awaited before it commits its offsets) returns only once they are
    with the provider."""
    b = booking("STOP01", CANCELLED, party=3)
    facts = notices.FirstNoticeCancelled.model_validate(
        notices.flight_facts(leg(CANCELLED)) | {"cause": "weather", "delay_minutes": 0})
    gateway = Held()
    gateway.most = 500
    breaker = CircuitBreaker(threshold=5, cooldown=10, max_cooldown=60, clock=lambda: 0.0)
    # Listening where the deliveries are written.
    config = Config.of(NotifySettings(environment="test", database_url=handler_database))
    sender = Sender(config, pool, {"push": gateway}, {"push": Throttle("push", 1000, 1000, breaker)},
                    first_notices=True, concurrency=1, first_notices_idle=asyncio.Event())
    looked_over, claimed_by_id, listening = [], [], asyncio.Event()
    claim, by_id = store.claim, store.claim_first_notices

    async def claim_spied(*args):
        looked_over.extend(found := await claim(*args))
        listening.set()  # its first look over the queue is made once it listens
        return found

    async def by_id_spied(*args):
        claimed_by_id.extend(found := await by_id(*args))
        return found

    monkeypatch.setattr(store, "claim", claim_spied)
    monkeypatch.setattr(store, "claim_first_notices", by_id_spied)
    async with config.first_notices.listening(pool, handler_database) as woken:
        running = asyncio.create_task(sender.run(woken))
        try:
            await asyncio.wait_for(listening.wait(), 30)
            async with pool.acquire() as conn:
                await contacts(conn, b, ["push"])
                # As planning writes them: one statement, committed.
                await conn.execute(
                    """INSERT INTO deliveries (passenger_id, disruption_id, stage, revision, channel, booking_ref,
                                               template, facts, occurred_at, about)
                       SELECT p, 'd-first', 'first_notice', 0, 'push', 'STOP01', $2, $3::text::jsonb, now(), $4
                       FROM unnest($1::text[]) AS p""",
                    [p.passenger_id for p in b.passengers], facts.kind, json.dumps(notices.facts_of(facts)),
                    CANCELLED.flight_id)
            handed_on = asyncio.create_task(config.first_notices.handed_on())
            await asyncio.wait_for(gateway.first_offered.wait(), 30)
            assert not handed_on.done()  # with the provider, not yet taken
            gateway.release.set()
            await asyncio.wait_for(handed_on, 30)
        finally:
            running.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await running
    assert sorted(d.passenger_id for d in claimed_by_id) == ["STOP01-1", "STOP01-2", "STOP01-3"]
    assert looked_over == []
    assert len(gateway.offered) == 3
    assert await pool.fetchval("SELECT count(*) FROM deliveries WHERE booking_ref = 'STOP01' AND status = 'sent'") == 3


async def test_with_no_sender_listening_a_batch_is_handed_on_at_once():
    """A process whose senders have not started (or a test of the handlers alone) never holds its
    first-notice consumer back."""
    await asyncio.wait_for(FirstNoticeQueue().handed_on(), 1)


@pytest.mark.parametrize(("payload", "added"), [
    ("first_notice 7 12", [(7, 12)]),
    ("", []),  # another insert: a plain wake-up
    ("first_notice 7", []), ("first_notice x 12", []), ("rebooking 1 2", []), ("caught_up abc", []),
])
def test_the_ids_a_wake_up_names_are_read_only_when_well_formed(payload, added):
    queue = FirstNoticeQueue()
    queue.heard(payload)
    assert list(queue.added) == added
