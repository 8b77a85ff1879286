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

from shared import cloudevents, db, failpoints, kafka, metrics, topics, tracing
from shared.events import Envelope
from shared.outbox import Outbox
from shared.settings import Settings

log = logging.getLogger(__name__)

Handler = Callable[[asyncpg.Connection, Envelope, Outbox], Awaitable[None]]
BatchHandler = Callable[[asyncpg.Connection, list[Envelope], Outbox], Awaitable[None]]


def batched(handler: BatchHandler) -> Handler:
    """Mark a handler that takes all the new messages of its kind in a consumer batch at once, in
    their order (a full aircraft's notices in a few statements rather than a few per booking). It
    runs where the first of them stood. If it fails, the batch runs again one message at a time,
    each in a list of one, so the failing message alone is dead-lettered."""
    handler.takes_batches = True  # type: ignore[attr-defined]
    return handler  # type: ignore[return-value]


def _takes_batches(handler: Handler) -> bool:
    return getattr(handler, "takes_batches", False)


class _HandlerFailed(Exception):
    """A handler failed in a batch run without savepoints: run the batch again, isolating each."""


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
            **kafka.client_options(self._settings),
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
                except db.TRANSIENT as exc:
                    metrics.BATCH_RETRIES.labels(self._service).inc()
                    log.warning("batch rolled back; retrying", extra={"error": repr(exc)})
                    if not isinstance(exc, db.CONFLICTS):
                        # PostgreSQL went away: replace every pooled connection now, rather than
                        # meet each dead one in a failed batch of its own.
                        await self._pool.expire_connections()
                    assigned = consumer.assignment()
                    for tp, records in batch.items():
                        if tp in assigned:  # a partition lost meanwhile restarts at its commit
                            consumer.seek(tp, records[0].offset)
                    await asyncio.sleep(backoff)
                    backoff = min(backoff * 2, 2.0)
                    continue
                backoff = 0.2
                failpoints.reach("after_db_commit")
                try:
                    await consumer.commit({tp: rs[-1].offset + 1 for tp, rs in batch.items()})
                except (CommitFailedError, IllegalStateError, KafkaError) as exc:
                    log.warning("offset commit failed; the batch will be redelivered",
                                extra={"error": repr(exc)})
        finally:
            self.running = False
            await consumer.stop()

    async def _process(self, batch: dict[TopicPartition, list[ConsumerRecord]]) -> None:
        """One transaction for the batch. First without a savepoint per message (three fewer round
        trips each); if a handler fails, the batch rolls back and runs again with one savepoint per
        message, so the failing message alone is dead-lettered."""
        started = time.perf_counter()
        try:
            outcomes = await self._process_batch(batch, isolate=False)
        except _HandlerFailed:
            outcomes = await self._process_batch(batch, isolate=True)
        metrics.BATCH_SECONDS.labels(self._service).observe(time.perf_counter() - started)
        for topic, outcome in outcomes:
            metrics.MESSAGES_CONSUMED.labels(self._service, topic, outcome).inc()

    async def _process_batch(self, batch: dict[TopicPartition, list[ConsumerRecord]], *,
                             isolate: bool) -> list[tuple[str, str]]:
        outcomes: list[tuple[str, str]] = []
        outbox = Outbox(self._settings, source=f"rebound/{self._service}")
        decoded: list[tuple[ConsumerRecord, Envelope, Handler]] = []
        for records in batch.values():
            for record in records:
                origin = f"{record.topic}/{record.partition}/{record.offset}"
                try:
                    # Either CloudEvents content mode, as any producer may send it.
                    envelope = cloudevents.from_kafka(record.value, record.headers, timestamp_ms=record.timestamp)
                except (ValidationError, ValueError) as exc:
                    outcomes.append((record.topic, self._dead_letter(
                        outbox, record, f"undecodable: {_short(exc)}", origin)))
                    continue
                handler = self._handlers[record.topic].get(envelope.type)
                if handler is None:
                    outcomes.append((record.topic, self._dead_letter(
                        outbox, record, f"unexpected event type {envelope.type!r} on this topic", origin)))
                    continue
                decoded.append((record, envelope, handler))
        async with self._pool.acquire() as conn, conn.transaction():
            # The inbox, for the whole batch at once: an event seen before is a duplicate.
            new = {r["event_id"] for r in await conn.fetch(
                """INSERT INTO inbox (event_id, topic) SELECT * FROM unnest($1::text[], $2::text[])
                   ON CONFLICT DO NOTHING RETURNING event_id""",
                [e.id for _, e, _ in decoded], [r.topic for r, _, _ in decoded])}
            fresh: list[tuple[ConsumerRecord, Envelope, Handler]] = []
            for record, envelope, handler in decoded:
                if envelope.id not in new:
                    outcomes.append((record.topic, "duplicate"))
                    continue
                new.discard(envelope.id)  # the same event twice in one batch: once
                metrics.EVENT_AGE_SECONDS.labels(self._service, record.topic).observe(
                    (datetime.now(UTC) - envelope.time).total_seconds())
                fresh.append((record, envelope, handler))
            # A batched handler's messages, together, where the first of them stands.
            groups: dict[Handler, list[tuple[ConsumerRecord, Envelope]]] = {}
            if not isolate:
                for record, envelope, handler in fresh:
                    if _takes_batches(handler):
                        groups.setdefault(handler, []).append((record, envelope))
            for record, envelope, handler in fresh:
                if handler in groups:
                    group = groups.pop(handler)
                    await self._run(conn, outbox, handler, [e for _, e in group], isolate=False)
                    outcomes += [(r.topic, "processed") for r, _ in group]
                elif isolate or not _takes_batches(handler):
                    outcomes.append((record.topic, await self._handle(conn, outbox, record, envelope, handler,
                                                                      isolate=isolate)))
            await outbox.flush(conn)
            failpoints.reach("mid_batch")
        return outcomes

    async def _run(self, conn: asyncpg.Connection, outbox: Outbox, handler: Handler, envelopes: list[Envelope],
                   *, isolate: bool) -> None:
        message_outbox = Outbox(self._settings, source=f"rebound/{self._service}")
        try:
            if isolate:
                # A savepoint: a handler that fails undoes only its own message.
                async with conn.transaction():
                    await self._call(conn, handler, envelopes, message_outbox)
                    await message_outbox.flush(conn)
            else:
                await self._call(conn, handler, envelopes, message_outbox)
                await message_outbox.flush(conn)
        except Exception as exc:
            if isolate or isinstance(exc, db.TRANSIENT):
                raise
            raise _HandlerFailed from exc

    @staticmethod
    async def _call(conn: asyncpg.Connection, handler: Handler, envelopes: list[Envelope], outbox: Outbox) -> None:
        if _takes_batches(handler):
            await handler(conn, envelopes, outbox)  # type: ignore[arg-type]
        else:
            for envelope in envelopes:
                # An event that came without a trace starts one of its own, the same at each delivery.
                with tracing.following(envelope.traceparent or tracing.derived(envelope.id)):
                    await handler(conn, envelope, outbox)

    async def _handle(self, conn: asyncpg.Connection, outbox: Outbox, record: ConsumerRecord,
                      envelope: Envelope, handler: Handler, *, isolate: bool) -> str:
        origin = f"{record.topic}/{record.partition}/{record.offset}"
        try:
            await self._run(conn, outbox, handler, [envelope], isolate=isolate)
        except db.TRANSIENT:
            raise
        except _HandlerFailed:
            raise
        except Exception as exc:  # a defect or a bad message: park it, keep going
            log.exception("handler failed; message dead-lettered",
                          extra={"event_id": envelope.id, "origin": origin})
            return self._dead_letter(outbox, record, f"handler failed: {_short(exc)}", origin)
        return "processed"

    @staticmethod
    def _dead_letter(outbox: Outbox, record: ConsumerRecord, reason: str, origin: str) -> str:
        log.warning("message dead-lettered", extra={"origin": origin, "reason": reason})
        outbox.dead_letter(record.topic, record.key, record.value, reason, origin, record.headers)
        return "dead_lettered"


def _short(exc: Exception) -> str:
    if isinstance(exc, cloudevents.Refused):
        return str(exc)[:800]
    if isinstance(exc, ValidationError):
        return "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or '(root)'}: {e['msg']}" for e in exc.errors()
        )[:800]
    return f"{type(exc).__name__}: {exc}"[:800]
