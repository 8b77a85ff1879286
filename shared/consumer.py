"""The consumer loop every service runs.

read a batch → one DB transaction (inbox insert ON CONFLICT DO NOTHING, effects, outbox rows)
→ commit → commit the batch's explicit offsets. A message that cannot be decoded or handled goes
to `<topic>.dlq` (through the outbox, so in the same transaction) with the reason, and the loop
moves on. A transient failure (database or connection) rolls the whole batch back and retries it.
"""

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime

import asyncpg
from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, ConsumerRecord, TopicPartition
from aiokafka.errors import CommitFailedError, IllegalStateError, KafkaError
from pydantic import ValidationError

from shared import metrics, topics
from shared.events import Envelope
from shared.outbox import Outbox
from shared.settings import Settings

log = logging.getLogger(__name__)

Handler = Callable[[asyncpg.Connection, Envelope, Outbox], Awaitable[None]]

# Failures that say nothing about the message: roll back, wait, and try the batch again.
TRANSIENT = (
    OSError,
    asyncpg.InterfaceError,
    asyncpg.exceptions.SerializationError,
    asyncpg.exceptions.DeadlockDetectedError,
    asyncpg.exceptions.ConnectionDoesNotExistError,
    asyncpg.exceptions.CannotConnectNowError,
    asyncpg.exceptions.AdminShutdownError,
)


class _RebalanceLog(ConsumerRebalanceListener):
    """Offsets are committed right after each batch, so a rebalance has nothing to flush; a batch
    in flight when partitions move is redelivered to their new owner, whose inbox absorbs it."""

    def __init__(self, service: str) -> None:
        self._service = service

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        log.info("partitions revoked", extra={"service": self._service, "count": len(revoked)})

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        log.info("partitions assigned", extra={"service": self._service, "count": len(assigned)})


class ConsumerLoop:
    def __init__(self, settings: Settings, pool: asyncpg.Pool, *, service: str,
                 handlers: Mapping[str, Mapping[str, Handler]], max_records: int = 200) -> None:
        """`handlers` maps a topic to the handler for each event type expected on it."""
        self._settings = settings
        self._pool = pool
        self._service = service
        self._handlers = {topics.name(settings, t): h for t, h in handlers.items()}
        self._max_records = max_records
        self.running = False

    async def run(self) -> None:
        consumer = AIOKafkaConsumer(
            bootstrap_servers=self._settings.kafka_bootstrap,
            group_id=self._settings.topic_prefix + self._service,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            isolation_level="read_committed",
        )
        consumer.subscribe(list(self._handlers), listener=_RebalanceLog(self._service))
        await consumer.start()
        self.running = True
        backoff = 0.2
        try:
            while True:
                batch = await consumer.getmany(timeout_ms=500, max_records=self._max_records)
                if not batch:
                    continue
                try:
                    await self._process(batch)
                except TRANSIENT as exc:
                    metrics.BATCH_RETRIES.labels(self._service).inc()
                    log.warning("batch rolled back; retrying", extra={"error": repr(exc)})
                    assigned = consumer.assignment()
                    for tp, records in batch.items():
                        if tp in assigned:  # a partition lost meanwhile restarts at its commit
                            consumer.seek(tp, records[0].offset)
                    await asyncio.sleep(backoff)
                    backoff = min(backoff * 2, 10.0)
                    continue
                backoff = 0.2
                try:
                    await consumer.commit({tp: rs[-1].offset + 1 for tp, rs in batch.items()})
                except (CommitFailedError, IllegalStateError, KafkaError) as exc:
                    log.warning("offset commit failed; the batch will be redelivered",
                                extra={"error": repr(exc)})
        finally:
            self.running = False
            await consumer.stop()

    async def _process(self, batch: dict[TopicPartition, list[ConsumerRecord]]) -> None:
        started = time.perf_counter()
        outcomes: list[tuple[str, str]] = []
        dead_letters = Outbox(self._settings, source=f"rebound/{self._service}")
        async with self._pool.acquire() as conn, conn.transaction():
            for tp, records in batch.items():
                for record in records:
                    outcome = await self._process_one(conn, dead_letters, record)
                    outcomes.append((tp.topic, outcome))
            await dead_letters.flush(conn)
        metrics.BATCH_SECONDS.labels(self._service).observe(time.perf_counter() - started)
        for topic, outcome in outcomes:
            metrics.MESSAGES_CONSUMED.labels(self._service, topic, outcome).inc()

    async def _process_one(self, conn: asyncpg.Connection, dead_letters: Outbox,
                           record: ConsumerRecord) -> str:
        origin = f"{record.topic}/{record.partition}/{record.offset}"
        try:
            envelope = Envelope.from_bytes(record.value or b"")
        except (ValidationError, ValueError) as exc:
            return self._dead_letter(dead_letters, record, f"undecodable: {_short(exc)}", origin)
        handler = self._handlers[record.topic].get(envelope.type)
        if handler is None:
            return self._dead_letter(
                dead_letters, record, f"unexpected event type {envelope.type!r} on this topic", origin)

        inserted = await conn.fetchval(
            "INSERT INTO inbox (event_id, topic) VALUES ($1, $2) ON CONFLICT DO NOTHING RETURNING 1",
            envelope.id, record.topic,
        )
        if not inserted:
            return "duplicate"
        metrics.EVENT_AGE_SECONDS.labels(self._service, record.topic).observe(
            (datetime.now(UTC) - envelope.time).total_seconds())
        try:
            # A savepoint: a handler that fails undoes only its own message.
            async with conn.transaction():
                message_outbox = Outbox(self._settings, source=f"rebound/{self._service}")
                await handler(conn, envelope, message_outbox)
                await message_outbox.flush(conn)
        except TRANSIENT:
            raise
        except Exception as exc:  # a defect or a bad message: park it, keep going
            log.exception("handler failed; message dead-lettered",
                          extra={"event_id": envelope.id, "origin": origin})
            return self._dead_letter(dead_letters, record, f"handler failed: {_short(exc)}", origin)
        return "processed"

    @staticmethod
    def _dead_letter(outbox: Outbox, record: ConsumerRecord, reason: str, origin: str) -> str:
        log.warning("message dead-lettered", extra={"origin": origin, "reason": reason})
        outbox.dead_letter(record.topic, record.key, record.value, reason, origin)
        return "dead_lettered"


def _short(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        return "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or '(root)'}: {e['msg']}" for e in exc.errors()
        )[:800]
    return f"{type(exc).__name__}: {exc}"[:800]
