"""The shared consumer loop on real Kafka and PostgreSQL: a handler that fails on one message
dead-letters that message alone, with its reason; the rest of the batch is processed once. The
same for a handler that takes a whole batch at once."""

import asyncio
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import asyncpg
import pytest

from shared import db, topics
from shared.consumer import ConsumerLoop, Event, Routes
from shared.events import FlightScheduled, flight_id
from shared.settings import Settings
from tests.integration.conftest import eventually, publish

pytestmark = pytest.mark.integration


@pytest.mark.parametrize("takes_batches", [False, True])
async def test_a_failing_handler_dead_letters_its_message_alone(environment, tmp_path: Path, takes_batches):
    settings = Settings(kafka_bootstrap=environment.kafka_bootstrap, database_url=environment.database_url,
                        topic_prefix=environment.topic_prefix + f"consumer{int(takes_batches)}.")
    await topics.ensure_topics(settings)
    await db.migrate(settings.database_url, f"consumer_test{int(takes_batches)}", tmp_path)
    pool = await db.create_pool(settings.database_url, f"consumer_test{int(takes_batches)}")
    async with pool.acquire() as conn:
        await conn.execute("CREATE TABLE seen (flight_id text PRIMARY KEY)")

    async def record(conn: asyncpg.Connection, event: Event[FlightScheduled], outbox) -> None:
        await conn.execute("INSERT INTO seen VALUES ($1)", event.payload.flight_id)
        if event.payload.number == "13":
            raise ValueError("flight 13 is cursed")

    async def record_all(conn: asyncpg.Connection, events: list[Event[FlightScheduled]], outbox) -> None:
        batch_sizes.append(len(events))
        await conn.execute("INSERT INTO seen SELECT unnest($1::text[])", [e.payload.flight_id for e in events])
        if any(e.payload.number == "13" for e in events):
            raise ValueError("flight 13 is cursed")

    batch_sizes: list[int] = []

    departure = datetime(2013, 2, 8, 12, tzinfo=UTC)
    flights = [FlightScheduled(flight_id=flight_id("B6", str(n), date(2013, 2, 8), "JFK"), carrier="B6",
                               number=str(n), origin="JFK", destination="BOS", scheduled_departure=departure,
                               scheduled_arrival=departure + timedelta(hours=1), seats=100) for n in range(10, 16)]
    await publish(settings, topics.SCHEDULE, flights)
    await publish(settings, topics.SCHEDULE, flights[:2])  # delivered twice: recorded once
    loop = ConsumerLoop(settings, pool, service=f"consumer_test{int(takes_batches)}",
                        routes=Routes().on_batch(topics.SCHEDULE, FlightScheduled, record_all) if takes_batches
                        else Routes().on(topics.SCHEDULE, FlightScheduled, record))
    task = asyncio.create_task(loop.run())
    try:
        async def all_seen():
            return await pool.fetchval("SELECT count(*) FROM seen") == 5
        assert await eventually(all_seen)
        dead = await pool.fetch("SELECT topic, headers FROM outbox WHERE topic LIKE '%.dlq'")
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await pool.close()
    seen = await _seen(settings, f"consumer_test{int(takes_batches)}")
    assert sorted(seen) == sorted(f.flight_id for f in flights if f.number != "13")
    [letter] = dead
    reason = dict(letter["headers"])["reason"]
    assert letter["topic"] == topics.dead_letter(topics.name(settings, topics.SCHEDULE))
    assert "handler failed" in reason and "cursed" in reason
    if takes_batches:
        assert max(batch_sizes) > 1 and 1 in batch_sizes  # all at once, then one by one to find the culprit


async def _seen(settings: Settings, schema: str) -> list[str]:
    conn = await asyncpg.connect(settings.database_url)
    try:
        return [r["flight_id"] for r in await conn.fetch(f"SELECT flight_id FROM {schema}.seen")]
    finally:
        await conn.close()
