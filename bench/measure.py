"""What the benchmarks share: percentiles, this machine's raw Kafka and PostgreSQL figures, and a
fresh database and topic prefix for a run (removed after it)."""

import asyncio
import contextlib
import statistics
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass

import asyncpg
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from deploy import postgres_access
from shared import db, topics
from shared.backlog import behind
from shared.settings import Settings


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered)) - 1))]


def summary(values: list[float], digits: int = 1) -> dict:
    """p50, p99, max and n of `values`, rounded, for a report."""
    if not values:
        return {"p50": None, "p99": None, "max": None, "n": 0}
    return {"p50": round(statistics.median(values), digits), "p99": round(percentile(values, 99), digits),
            "max": round(max(values), digits), "n": len(values)}


def describe(values: list[float], unit: str = "ms") -> str:
    return (f"n={len(values)} p50={statistics.median(values):.1f} {unit} "
            f"p99={percentile(values, 99):.1f} {unit} max={max(values):.1f} {unit}")


async def round_trip_baseline(settings: Settings, n: int = 300) -> list[float]:
    """aiokafka produce (acks=all, idempotent) → consume, one message at a time."""
    topic = topics.name(settings, "bench-baseline")
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)
    await admin.start()
    try:
        if topic not in await admin.list_topics():
            await admin.create_topics([NewTopic(topic, 1, settings.topic_replication)])
            await asyncio.sleep(1)  # let the new partition's leader settle
    finally:
        await admin.close()
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap, acks="all",
                                enable_idempotence=True)
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=settings.kafka_bootstrap, group_id=None,
                                auto_offset_reset="latest")
    await producer.start()
    await consumer.start()
    try:
        await producer.send_and_wait(topic, b"warm-up")
        await consumer.getmany(timeout_ms=1000)
        times = []
        for i in range(n):
            start = time.perf_counter()
            await producer.send_and_wait(topic, str(i).encode())
            while not any((await consumer.getmany(timeout_ms=1000)).values()):
                pass
            times.append((time.perf_counter() - start) * 1000)
        return times
    finally:
        await consumer.stop()
        await producer.stop()


async def postgres_baseline(database_url: str, seconds: float = 3) -> tuple[float, list[float]]:
    """Single-row INSERT transactions, committed one by one: rate and per-transaction time."""
    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute("CREATE TEMP TABLE bench (id bigserial PRIMARY KEY, at timestamptz)")
        times, deadline = [], time.monotonic() + seconds
        while time.monotonic() < deadline:
            start = time.perf_counter()
            async with conn.transaction():
                await conn.execute("INSERT INTO bench (at) VALUES (now())")
            times.append((time.perf_counter() - start) * 1000)
        return len(times) / seconds, times
    finally:
        await conn.close()


async def kafka_throughput(settings: Settings, messages: int = 30_000, size: int = 700) -> float:
    """Messages per second through one topic of 12 partitions, produced (acks=all, idempotent,
    batched as the services' producers are) and consumed by one consumer: produce start → last
    message consumed. `size` is about a Rebound event's."""
    topic = topics.name(settings, "bench-ceiling")
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)
    await admin.start()
    try:
        if topic not in await admin.list_topics():
            await admin.create_topics([NewTopic(topic, settings.topic_partitions, settings.topic_replication)])
            await asyncio.sleep(1)
    finally:
        await admin.close()
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap, acks="all", enable_idempotence=True,
                                linger_ms=5)
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=settings.kafka_bootstrap, group_id=None,
                                auto_offset_reset="latest")
    await producer.start()
    await consumer.start()
    try:
        await producer.send_and_wait(topic, b"warm-up", key=b"0")
        while not any((await consumer.getmany(timeout_ms=1000)).values()):
            pass
        payload = b"x" * size
        start = time.perf_counter()

        async def produce() -> None:
            pending = [await producer.send(topic, payload, key=str(i).encode()) for i in range(messages)]
            await asyncio.gather(*pending)

        producing = asyncio.create_task(produce())
        received = 0
        while received < messages:
            batches = await consumer.getmany(timeout_ms=1000, max_records=5000)
            received += sum(len(records) for records in batches.values())
        await producing
        return messages / (time.perf_counter() - start)
    finally:
        await consumer.stop()
        await producer.stop()


async def postgres_transactions(database_url: str, connections: int = 8, seconds: float = 3) -> float:
    """Single-row INSERT transactions per second from `connections` connections at once (as the
    services' pools commit): what this PostgreSQL commits at all, group commit included."""
    conns = [await asyncpg.connect(database_url) for _ in range(connections)]
    try:
        await conns[0].execute("CREATE TABLE IF NOT EXISTS bench_tx (id bigserial PRIMARY KEY, at timestamptz)")
        deadline = time.monotonic() + seconds

        async def commit_all(conn: asyncpg.Connection) -> int:
            n = 0
            while time.monotonic() < deadline:
                async with conn.transaction():
                    await conn.execute("INSERT INTO bench_tx (at) VALUES (now())")
                n += 1
            return n

        return sum(await asyncio.gather(*(commit_all(c) for c in conns))) / seconds
    finally:
        await conns[0].execute("DROP TABLE IF EXISTS bench_tx")
        for c in conns:
            await c.close()


async def postgres_rows(database_url: str, rows: int = 100_000, batch: int = 1000) -> float:
    """Rows per second inserted in batches of `batch` (one statement and transaction each), rows
    shaped like a delivery record."""
    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute("CREATE TEMP TABLE bench_rows (id bigserial PRIMARY KEY, passenger_id text,"
                           " stage text, status text, at timestamptz DEFAULT now())")
        ids = [f"ABC{i:06d}-1" for i in range(batch)]
        start = time.perf_counter()
        for _ in range(rows // batch):
            async with conn.transaction():
                await conn.execute("INSERT INTO bench_rows (passenger_id, stage, status)"
                                   " SELECT p, 'first_notice', 'pending' FROM unnest($1::text[]) AS p", ids)
        return rows / (time.perf_counter() - start)
    finally:
        await conn.close()


@contextlib.asynccontextmanager
async def fresh_run(keep: bool = False, base: Settings | None = None) -> AsyncIterator[tuple[str, Settings]]:
    """A run id and settings with a database and topic prefix of the run's own, on the Kafka and
    PostgreSQL of `base` (default: the environment's)."""
    base = base or Settings()
    run = uuid.uuid4().hex[:8]
    database = f"rebound_bench_{run}"
    settings = Settings(kafka_bootstrap=base.kafka_bootstrap, topic_replication=base.topic_replication,
                        database_url=await db.create_database(base.database_url, database),
                        topic_prefix=f"bench-{run}.")
    await postgres_access.prepare(settings.database_url)  # a role and a schema per service
    try:
        yield run, settings
    finally:
        if not keep:
            await _remove(settings, database, base.database_url)


async def _remove(settings: Settings, database: str, admin_url: str) -> None:
    kafka = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)
    await kafka.start()
    try:
        ours = [t for t in await kafka.list_topics() if t.startswith(settings.topic_prefix)]
        if ours:
            await kafka.delete_topics(ours)
    finally:
        await kafka.close()
    admin = await asyncpg.connect(admin_url)
    try:
        for attempt in range(30):
            try:
                await admin.execute(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
                return
            except asyncpg.InsufficientPrivilegeError:
                # An autovacuum worker (the server's own, not ours to end) is still in it: it soon
                # finishes. Anything else is a real failure.
                if attempt == 29:
                    raise
                await asyncio.sleep(1)
    finally:
        await admin.close()


# Every consumer group of a deployment (notify's first notices have a group of their own).
CONSUMER_GROUPS = ("disruption", "rebooking", "compensation", "notify", "notify-priority")


@dataclass(frozen=True)
class GroupState:
    state: str  # Kafka's word for the group: Stable, PreparingRebalance, Empty, Dead, …
    members: int
    lag: int  # messages on its topics it has not committed yet


async def group_lag(admin: AIOKafkaAdminClient, consumer: AIOKafkaConsumer, group_id: str) -> GroupState:
    """A consumer group's state, members and lag."""
    # One group a request: aiokafka 0.14 misreads an answer about several.
    # (error_code, group_id, state, protocol_type, protocol, members, …)
    described = (await admin.describe_consumer_groups([group_id]))[0].groups
    committed = await admin.list_consumer_group_offsets(group_id)
    # Every partition of the group's topics: one it has never committed on is behind by all it
    # holds (shared.backlog.behind), as the first message ever on a partition is work too.
    topics = sorted({tp.topic for tp in committed})
    described_topics = await admin.describe_topics(topics) if topics else []
    partitions = {TopicPartition(t["topic"], p["partition"]) for t in described_topics
                  for p in t["partitions"]} | set(committed)
    return GroupState(described[0][2] if described else "Dead", len(described[0][5]) if described else 0,
                      await behind(admin, consumer, group_id, sorted(partitions)) if partitions else 0)


async def deployment_lag(settings: Settings) -> int:
    """Messages every consumer group of this deployment has yet to work through."""
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap, request_timeout_ms=5000)
    consumer = AIOKafkaConsumer(bootstrap_servers=settings.kafka_bootstrap, group_id=None, request_timeout_ms=5000)
    await admin.start()
    try:
        await consumer.start()
        try:
            return sum([(await group_lag(admin, consumer, settings.topic_prefix + g)).lag for g in CONSUMER_GROUPS])
        finally:
            await consumer.stop()
    finally:
        await admin.close()
