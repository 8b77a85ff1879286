"""The consumer loop with an in-memory consumer in place of Kafka (its `consumers` factory), on
real PostgreSQL: what is dead-lettered and why, what a transient failure rewinds, what is
committed. The same loop runs on a real broker in tests/integration/test_consumer.py."""

import asyncio
import base64
import json
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
from shared.events import Envelope, FlightStatusChanged, NoticeDelivered, Passenger
from shared.settings import Settings

pytestmark = pytest.mark.handlers

SETTINGS = Settings(environment="test")
TOPIC = topics.FLIGHT_STATUS
PARTITION = TopicPartition(TOPIC, 0)


class InMemoryConsumer:
    """One partition's records, read in order from the position; seek and commit as Kafka's."""

    def __init__(self, records: list[bytes | tuple[bytes, list[tuple[str, bytes]]]]) -> None:
        """Each record a value, or a value and its headers."""
        self.records = [ConsumerRecord(TOPIC, 0, offset, int(datetime.now(UTC).timestamp() * 1000), 0,
                                       b"key", value, None, 3, len(value), headers)
                        for offset, (value, headers) in enumerate(r if isinstance(r, tuple) else (r, [])
                                                                  for r in records)]
        self.at = 0
        self.commits: list[int] = []
        self.seeks: list[int] = []
        self.caught_up = asyncio.Event()  # every record read and its offset committed
        self.lag_seen: list[float | None] = []  # the lag gauge as each fetch begins

    def subscribe(self, topics: list[str], listener: ConsumerRebalanceListener) -> None:
        assert topics == [TOPIC]

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    async def getmany(self, *partitions: TopicPartition, timeout_ms: int,
                      max_records: int) -> dict[TopicPartition, list[ConsumerRecord]]:
        self.lag_seen.append(REGISTRY.get_sample_value("rebound_consumer_lag", {"group": "loop", "topic": TOPIC}))
        batch = self.records[self.at:self.at + max_records]
        if not batch:
            # Every record read, and (the loop commits before it fetches again) committed. Kafka's
            # consumer would wait for more; none comes here, and the test ends the loop.
            self.caught_up.set()
            await asyncio.Event().wait()
            return {}
        self.at += len(batch)
        return {PARTITION: batch}

    async def commit(self, offsets: dict[TopicPartition, int]) -> None:
        self.commits.append(offsets[PARTITION])

    def seek(self, partition: TopicPartition, offset: int) -> None:
        self.seeks.append(offset)
        self.at = offset

    async def position(self, partition: TopicPartition) -> int:
        return self.at

    async def committed(self, partition: TopicPartition) -> int | None:
        return self.commits[-1] if self.commits else None

    async def seek_to_beginning(self, *partitions: TopicPartition) -> bool:
        self.at = 0
        return True

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
    assert consumer.commits[-1] == 4 and consumer.seeks == []


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
    assert await dead_letters(pool) == [] and consumer.commits == [2]


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


async def record_status(conn: asyncpg.Connection, event: Event[FlightStatusChanged], outbox) -> None:
    await conn.execute("INSERT INTO seen VALUES ($1, $2)", event.payload.flight_id, event.payload.status)


async def test_a_header_no_database_can_hold_costs_its_record_only(pool: asyncpg.Pool) -> None:
    """The issue's finding: a NUL byte in a header value made the dead-letter row fail in
    PostgreSQL (jsonb refuses \\u0000) and the consumer re-read the batch for ever. Such headers
    travel base64-encoded, byte for byte, and everything behind the record goes on."""
    nul, not_utf8 = b"B6\x00101", b"\xff\xfe\x00"
    consumer = InMemoryConsumer([
        (b"{not json", [("ce_id", nul), ("x-feed", not_utf8), ("ok", b"plain")]),
        (status("B6101/2013-02-08/JFK"), [("x-feed", not_utf8)]),  # readable data, unreadable header
        status("B6103/2013-02-08/JFK"),
    ])
    loop = ConsumerLoop(SETTINGS, pool, service="loop", routes=Routes().on(TOPIC, FlightStatusChanged, record_status),
                        consumers=lambda group: consumer)
    await run_until_caught_up(loop, consumer)
    [first, second] = await pool.fetch("SELECT headers FROM outbox WHERE topic LIKE '%.dlq' ORDER BY id")
    headers = dict(first["headers"])
    assert base64.b64decode(headers["ce_id.base64"]) == nul
    assert base64.b64decode(headers["x-feed.base64"]) == not_utf8
    assert headers["ok"] == "plain" and headers["reason"].startswith("undecodable:")
    assert dict(second["headers"])["reason"] == "undecodable: header 'x-feed' is not UTF-8"
    assert [r["flight_id"] for r in await pool.fetch("SELECT flight_id FROM seen")] == ["B6103/2013-02-08/JFK"]
    assert consumer.commits == [3] and consumer.seeks == []


async def test_an_event_carrying_a_nul_is_refused_before_it_reaches_a_table(pool: asyncpg.Pool) -> None:
    """An id with a NUL made the inbox insert fail for the whole batch; data with one, a handler's."""
    odd_id = json.loads(status("B6105/2013-02-08/JFK")) | {"id": "evt\x00-1"}
    odd_data = status("B61\x0007/2013-02-08/JFK")
    consumer = InMemoryConsumer([json.dumps(odd_id).encode(), odd_data, status("B6109/2013-02-08/JFK")])
    loop = ConsumerLoop(SETTINGS, pool, service="loop", routes=Routes().on(TOPIC, FlightStatusChanged, record_status),
                        consumers=lambda group: consumer)
    await run_until_caught_up(loop, consumer)
    reasons = [reason for _, reason in await dead_letters(pool)]
    assert reasons == [reasons[0]] * 2 and "NUL" in reasons[0]
    assert await pool.fetchval("SELECT count(*) FROM seen") == 1 and consumer.commits == [3]


async def test_a_record_that_can_be_neither_handled_nor_dead_lettered_is_parked(pool: asyncpg.Pool) -> None:
    """The general case: whatever fails outside a handler (here the outbox refuses one record's
    dead-letter copy) is retried record by record, and the one that still fails is parked with its
    reason, once, while the others are processed and the offsets move on."""
    await pool.execute("""
        CREATE FUNCTION refuse_dead_letter() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF NEW.topic LIKE '%.dlq' THEN RAISE EXCEPTION 'no room for dead letters'; END IF;
            RETURN NEW;
        END $$;
        CREATE TRIGGER refuse_dead_letter BEFORE INSERT ON outbox FOR EACH ROW EXECUTE FUNCTION refuse_dead_letter();
    """)
    consumer = InMemoryConsumer([status("B6111/2013-02-08/JFK"), b"{not json", status("B6113/2013-02-08/JFK")])
    loop = ConsumerLoop(SETTINGS, pool, service="loop", routes=Routes().on(TOPIC, FlightStatusChanged, record_status),
                        consumers=lambda group: consumer)
    before = REGISTRY.get_sample_value("rebound_parked_total",
                                       {"service": "loop", "stage": "consumer", "topic": TOPIC}) or 0
    await run_until_caught_up(loop, consumer)
    [parked] = await pool.fetch("SELECT stage, topic, origin, value, reason FROM parked")
    assert (parked["stage"], parked["topic"], parked["origin"], parked["value"]) == (
        "consumer", TOPIC, f"{TOPIC}/0/1", b"{not json")
    assert "no room for dead letters" in parked["reason"]
    assert await pool.fetchval("SELECT count(*) FROM seen") == 2 and consumer.commits == [3]
    assert REGISTRY.get_sample_value("rebound_parked_total",
                                     {"service": "loop", "stage": "consumer", "topic": TOPIC}) == before + 1


async def test_a_message_a_handler_refuses_is_logged_without_its_values(pool: asyncpg.Pool, caplog) -> None:
    """pydantic's text quotes the input (`input_value='…'`), a ticket name among them: the log and
    the dead letter's reason keep where and what, not the value."""
    async def refuse(conn: asyncpg.Connection, event: Event[FlightStatusChanged], outbox) -> None:
        Passenger.model_validate({"passenger_id": "ABC123-1", "name": "SECRETNAME/" + "X" * 80, "fare": "10"})

    consumer = InMemoryConsumer([status("B6121/2013-02-08/JFK")])
    loop = ConsumerLoop(SETTINGS, pool, service="loop", routes=Routes().on(TOPIC, FlightStatusChanged, refuse),
                        consumers=lambda group: consumer)
    with caplog.at_level("INFO"):
        await run_until_caught_up(loop, consumer)
    [(_, reason)] = await dead_letters(pool)
    assert reason.startswith("handler failed: name: String should have at most 80 characters")
    logged = "\n".join(f"{r.getMessage()} {r.__dict__}" + (str(r.exc_info) if r.exc_info else "")
                       for r in caplog.records)
    assert "refused the message" in logged and "SECRETNAME" not in logged and "SECRETNAME" not in reason


async def test_a_group_done_when_its_work_is_handed_on_commits_in_order_and_reads_on_meanwhile(pool):
    """notify's first notices: a batch's offsets are committed once its notices are with the
    providers (`Routes.done_when`), in order, while the next batches are read and handled."""
    handing_on = [asyncio.Event() for _ in range(3)]
    waited = 0

    async def handed_on() -> None:
        nonlocal waited
        waited += 1
        await handing_on[waited - 1].wait()

    async def record(conn: asyncpg.Connection, event: Event[FlightStatusChanged], outbox) -> None:
        await conn.execute("INSERT INTO seen VALUES ($1, $2)", event.payload.flight_id, event.payload.status)

    consumer = InMemoryConsumer([status(f"B6{n}/2013-02-08/JFK") for n in (21, 22, 23)])
    loop = ConsumerLoop(SETTINGS, pool, service="loop", max_records=1, consumers=lambda group: consumer,
                        routes=Routes().on(TOPIC, FlightStatusChanged, record).done_when(handed_on))
    task = asyncio.create_task(loop.run())
    try:
        await asyncio.wait_for(consumer.caught_up.wait(), timeout=30)
        # Every batch handled, none handed on yet: nothing committed.
        assert await pool.fetchval("SELECT count(*) FROM seen") == 3 and consumer.commits == []
        handing_on[1].set()  # the second is handed on first: it waits for the first
        await asyncio.sleep(0)
        assert consumer.commits == []
        all_committed, commit = asyncio.Event(), consumer.commit

        async def committing(offsets: dict[TopicPartition, int]) -> None:
            await commit(offsets)
            if len(consumer.commits) == 3:
                all_committed.set()

        consumer.commit = committing
        handing_on[0].set()
        handing_on[2].set()
        await asyncio.wait_for(all_committed.wait(), 30)
        assert consumer.commits == [1, 2, 3]
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
