"""The consumer loop with an in-memory consumer in place of Kafka (its `consumers` factory), on
real PostgreSQL: what is dead-lettered and why, what a transient failure rewinds, what is
committed. The same loop runs on a real broker in tests/integration/test_consumer.py."""

import asyncio
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import pytest
from aiokafka import ConsumerRebalanceListener, TopicPartition
from aiokafka.structs import ConsumerRecord
from prometheus_client import REGISTRY

from shared import db, topics
from shared.consumer import ConsumerLoop, Event, Routes
from shared.events import Envelope, FlightStatusChanged, NoticeDelivered
from shared.settings import Settings

pytestmark = pytest.mark.handlers

SETTINGS = Settings(environment="test")
TOPIC = topics.FLIGHT_STATUS
PARTITION = TopicPartition(TOPIC, 0)


class InMemoryConsumer:
    """One partition's records, read in order from the position; seek and commit as Kafka's."""

    def __init__(self, records: list[bytes]) -> None:
        self.records = [ConsumerRecord(TOPIC, 0, offset, int(datetime.now(UTC).timestamp() * 1000), 0,
                                       b"key", value, None, 3, len(value), ())
                        for offset, value in enumerate(records)]
        self.position = 0
        self.committed: list[int] = []
        self.seeks: list[int] = []
        self.caught_up = asyncio.Event()  # every record read and its offset committed
        self.lag_seen: list[float | None] = []  # the lag gauge as each fetch begins

    def subscribe(self, topics: list[str], listener: ConsumerRebalanceListener) -> None:
        assert topics == [TOPIC]

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def getmany(self, *, timeout_ms: int, max_records: int) -> dict[TopicPartition, list[ConsumerRecord]]:
        self.lag_seen.append(REGISTRY.get_sample_value("rebound_consumer_lag", {"group": "loop", "topic": TOPIC}))
        batch = self.records[self.position:self.position + max_records]
        if not batch:
            # Every record read, and (the loop commits before it fetches again) committed. Kafka's
            # consumer would wait for more; none comes here, and the test ends the loop.
            self.caught_up.set()
            await asyncio.Event().wait()
            return {}
        self.position += len(batch)
        return {PARTITION: batch}

    async def commit(self, offsets: dict[TopicPartition, int]) -> None:
        self.committed.append(offsets[PARTITION])

    def seek(self, partition: TopicPartition, offset: int) -> None:
        self.seeks.append(offset)
        self.position = offset

    def assignment(self) -> set[TopicPartition]:
        return {PARTITION}

    def highwater(self, partition: TopicPartition) -> int | None:
        return len(self.records)


@pytest.fixture
async def pool(handler_database: str, tmp_path: Path) -> AsyncIterator[asyncpg.Pool]:
    """A schema of its own (the loop commits), with the messaging tables and a table to record in."""
    schema = f"loop_{uuid.uuid4().hex[:8]}"
    await db.migrate(handler_database, schema, tmp_path)
    pool = await db.create_pool(handler_database, schema)
    await pool.execute("CREATE TABLE seen (flight_id text, status text)")
    try:
        yield pool
    finally:
        await pool.close()
        admin = await asyncpg.connect(handler_database)
        try:
            await admin.execute(f"DROP SCHEMA {db.identifier(schema)} CASCADE")
        finally:
            await admin.close()


def status(flight: str, to: str = "cancelled") -> bytes:
    return Envelope.wrap(FlightStatusChanged(flight_id=flight, status=to), source="test", subject=flight).to_bytes()


async def run_until_caught_up(loop: ConsumerLoop, consumer: InMemoryConsumer) -> None:
    task = asyncio.create_task(loop.run())
    try:
        await asyncio.wait_for(consumer.caught_up.wait(), timeout=30)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def dead_letters(pool: asyncpg.Pool) -> list[tuple[str, str]]:
    rows = await pool.fetch("SELECT topic, headers FROM outbox WHERE topic LIKE '%.dlq' ORDER BY id")
    return [(r["topic"], dict(r["headers"])["reason"]) for r in rows]


async def test_what_cannot_be_read_or_is_not_expected_is_dead_lettered_with_its_reason(pool: asyncpg.Pool) -> None:
    async def record(conn: asyncpg.Connection, event: Event[FlightStatusChanged], outbox) -> None:
        await conn.execute("INSERT INTO seen VALUES ($1, $2)", event.payload.flight_id, event.payload.status)

    unexpected = Envelope.wrap(NoticeDelivered(disruption_id="d", booking_ref="ABC123", passenger_id="P1",
                                               stage="first_notice", channel="sms", status="sent"),
                               source="test", subject="ABC123").to_bytes()
    good = status("B6101/2013-02-08/JFK")
    consumer = InMemoryConsumer([b"{not json", unexpected, good, good])
    loop = ConsumerLoop(SETTINGS, pool, service="loop", routes=Routes().on(TOPIC, FlightStatusChanged, record),
                        consumers=lambda group: consumer)
    await run_until_caught_up(loop, consumer)
    assert await pool.fetchval("SELECT count(*) FROM seen") == 1  # the same event twice: handled once
    [(topic, undecodable), (_, wrong_type)] = await dead_letters(pool)
    assert topic == f"{TOPIC}.dlq" and undecodable.startswith("undecodable:")
    assert wrong_type == "unexpected event type 'notice.delivered' on this topic"
    assert consumer.committed[-1] == 4 and consumer.seeks == []


async def test_a_transient_failure_rolls_the_batch_back_and_reads_it_again(pool: asyncpg.Pool) -> None:
    failures = [asyncpg.DeadlockDetectedError("deadlock detected")]

    async def record(conn: asyncpg.Connection, event: Event[FlightStatusChanged], outbox) -> None:
        await conn.execute("INSERT INTO seen VALUES ($1, $2)", event.payload.flight_id, event.payload.status)
        if failures:
            raise failures.pop()

    consumer = InMemoryConsumer([status("B6101/2013-02-08/JFK"), status("B6103/2013-02-08/JFK")])
    loop = ConsumerLoop(SETTINGS, pool, service="loop", routes=Routes().on(TOPIC, FlightStatusChanged, record),
                        consumers=lambda group: consumer)
    await run_until_caught_up(loop, consumer)
    assert consumer.seeks == [0]  # rewound to the batch's first record
    assert await pool.fetchval("SELECT count(*) FROM seen") == 2  # the first try left nothing behind
    assert await dead_letters(pool) == [] and consumer.committed == [2]


async def test_a_batch_handler_that_fails_is_run_again_one_event_at_a_time(pool: asyncpg.Pool) -> None:
    sizes: list[int] = []

    async def record_all(conn: asyncpg.Connection, events: list[Event[FlightStatusChanged]], outbox) -> None:
        sizes.append(len(events))
        if any(e.payload.flight_id.startswith("B613/") for e in events):
            raise ValueError("flight 13 is cursed")
        await conn.executemany("INSERT INTO seen VALUES ($1, $2)",
                               [(e.payload.flight_id, e.payload.status) for e in events])

    consumer = InMemoryConsumer([status(f"B6{n}/2013-02-08/JFK") for n in (11, 12, 13, 14)])
    loop = ConsumerLoop(SETTINGS, pool, service="loop",
                        routes=Routes().on_batch(TOPIC, FlightStatusChanged, record_all),
                        consumers=lambda group: consumer)
    await run_until_caught_up(loop, consumer)
    assert sizes == [4, 1, 1, 1, 1]
    assert sorted(r["flight_id"] for r in await pool.fetch("SELECT flight_id FROM seen")) == [
        "B611/2013-02-08/JFK", "B612/2013-02-08/JFK", "B614/2013-02-08/JFK"]
    [(_, reason)] = await dead_letters(pool)
    assert reason == "handler failed: ValueError: flight 13 is cursed"


async def test_the_lag_is_what_the_group_has_not_read_yet(pool: asyncpg.Pool) -> None:
    async def record(conn: asyncpg.Connection, event: Event[FlightStatusChanged], outbox) -> None:
        await conn.execute("INSERT INTO seen VALUES ($1, $2)", event.payload.flight_id, event.payload.status)

    consumer = InMemoryConsumer([status(f"B6{n}/2013-02-08/JFK") for n in (21, 22, 23)])
    loop = ConsumerLoop(SETTINGS, pool, service="loop", routes=Routes().on(TOPIC, FlightStatusChanged, record),
                        consumers=lambda group: consumer, max_records=1)
    await run_until_caught_up(loop, consumer)
    # As each fetch begins (after the first): 2, 1, then 0 records left to read.
    assert consumer.lag_seen[1:] == [2, 1, 0]
