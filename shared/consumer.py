"""The consumer loop every service runs, and the routes that say which handler takes which event.

read a batch → one DB transaction (inbox insert ON CONFLICT DO NOTHING, effects, outbox rows)
→ commit → commit the batch's explicit offsets. A message that cannot be decoded or handled goes
to `<topic>.dlq` (through the outbox, so in the same transaction) with the reason, and the loop
moves on. A transient failure (database or connection) rolls the whole batch back and retries it.

The broker is behind `Consumer`, a small protocol the loop is given a factory for: the real one
is aiokafka's, and the handler tests give it one in memory.
"""

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Generic, Protocol, TypeVar

import asyncpg
from aiokafka import AIOKafkaConsumer, ConsumerRebalanceListener, ConsumerRecord, TopicPartition
from aiokafka.errors import CommitFailedError, IllegalStateError, KafkaError
from pydantic import ValidationError

from shared import cloudevents, db, failpoints, kafka, metrics, topics, tracing
from shared.events import Envelope, Model, type_name
from shared.outbox import Outbox
from shared.settings import Settings

log = logging.getLogger(__name__)

P = TypeVar("P", bound=Model, covariant=True)
Q = TypeVar("Q", bound=Model)


@dataclass(frozen=True)
class Event(Generic[P]):
    """An event as a handler receives it: what it says, typed, and where and when it came from."""

    id: str
    source: str
    time: datetime
    payload: P
    traceparent: str | None = None

    @property
    def type(self) -> str:
        return self.payload.type  # type: ignore[attr-defined,no-any-return]  # every payload names its type

    @staticmethod
    def of(envelope: Envelope) -> "Event[Model]":
        return Event(id=envelope.id, source=envelope.source, time=envelope.time, payload=envelope.data,
                     traceparent=envelope.traceparent)


Handler = Callable[[asyncpg.Connection, Event[Q], Outbox], Awaitable[None]]
BatchHandler = Callable[[asyncpg.Connection, list[Event[Q]], Outbox], Awaitable[None]]


@dataclass(frozen=True, eq=False)
class Route:
    """One handler, and whether it takes the new events of its kind in a consumer batch at once."""

    handler: Callable[[asyncpg.Connection, Any, Outbox], Awaitable[None]]
    batched: bool


class Routes:
    """What one consumer group reads: for each topic, the payload classes expected on it and the
    handler of each. Anything else arriving there is dead-lettered."""

    def __init__(self) -> None:
        self._by_topic: dict[str, dict[str, Route]] = {}

    def on(self, topic: str, payloads: type[Q] | tuple[type[Q], ...], handler: Handler[Q]) -> "Routes":
        """`handler` takes each event alone."""
        return self._add(topic, payloads, Route(handler, batched=False))

    def on_batch(self, topic: str, payloads: type[Q] | tuple[type[Q], ...], handler: BatchHandler[Q]) -> "Routes":
        """`handler` takes all the new events of its kind in a consumer batch at once, in their order
        (a full aircraft's notices in a few statements rather than a few per booking). It runs where
        the first of them stood. If it fails, the batch runs again one event at a time, each in a
        list of one, so the failing event alone is dead-lettered."""
        return self._add(topic, payloads, Route(handler, batched=True))

    def _add(self, topic: str, payloads: type[Q] | tuple[type[Q], ...], route: Route) -> "Routes":
        for payload in payloads if isinstance(payloads, tuple) else (payloads,):
            self._by_topic.setdefault(topic, {})[type_name(payload)] = route
        return self

    @property
    def topics(self) -> list[str]:
        return list(self._by_topic)

    def types_on(self, topic: str) -> set[str]:
        return set(self._by_topic.get(topic, {}))

    def route(self, topic: str, event_type: str) -> Route | None:
        return self._by_topic.get(topic, {}).get(event_type)


class Consumer(Protocol):
    """The part of a Kafka consumer the loop uses (aiokafka's AIOKafkaConsumer has it)."""

    def subscribe(self, topics: list[str], listener: ConsumerRebalanceListener) -> None: ...
    async def start(self) -> None: ...
    async def stop(self) -> None: ...
    async def getmany(self, *, timeout_ms: int, max_records: int) -> dict[TopicPartition, list[ConsumerRecord]]: ...
    async def commit(self, offsets: dict[TopicPartition, int]) -> None: ...
    def seek(self, partition: TopicPartition, offset: int) -> None: ...
    def assignment(self) -> set[TopicPartition]: ...
    def highwater(self, partition: TopicPartition) -> int | None: ...


ConsumerFactory = Callable[[str], Consumer]  # the consumer group → a consumer in it


def kafka_consumers(settings: Settings) -> ConsumerFactory:
    def create(group: str) -> Consumer:
        # Metadata at least every 10 s (Kafka's default is 5 minutes): aiokafka (0.14) retries a
        # partition's offset lookup at the leader it last knew without asking who leads now (the
        # Java client asks: KAFKA-9535), so after leaders move, a partition with no committed
        # offset yet waited for the next refresh. Seen in the fault suite on three brokers: one
        # service stalled three minutes after the whole cluster restarted.
        consumer: Consumer = AIOKafkaConsumer(**kafka.client_options(settings), group_id=group,
                                              enable_auto_commit=False, auto_offset_reset="earliest",
                                              isolation_level="read_committed", metadata_max_age_ms=10_000)
        return consumer
    return create


class _HandlerFailed(Exception):
    """A handler failed in a batch run without savepoints: run the batch again, isolating each."""


class _RebalanceLog(ConsumerRebalanceListener):  # type: ignore[misc]  # aiokafka is untyped
    """Offsets are committed right after each batch, so a rebalance has nothing to flush; a batch
    in flight when partitions move is redelivered to their new owner, whose inbox absorbs it."""

    def __init__(self, service: str) -> None:
        self._service = service

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        log.info("partitions revoked", extra={"service": self._service, "count": len(revoked)})

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        log.info("partitions assigned", extra={"service": self._service, "count": len(assigned)})


Batch = Mapping[TopicPartition, list[ConsumerRecord]]


@dataclass(frozen=True)
class _Decoded:
    record: ConsumerRecord
    envelope: Envelope
    route: Route


class ConsumerLoop:
    def __init__(self, settings: Settings, pool: asyncpg.Pool, *, service: str, routes: Routes,
                 consumers: ConsumerFactory | None = None, max_records: int = 200) -> None:
        """`service` names the consumer group (after the topic prefix); `consumers` makes the
        consumer (by default a Kafka one)."""
        self._settings = settings
        self._pool = pool
        self._service = service
        self._routes = routes
        self._names = {topics.name(settings, t): t for t in routes.topics}
        self._consumers = consumers or kafka_consumers(settings)
        self._max_records = max_records
        self._behind: dict[TopicPartition, int] = {}  # messages not yet read, by partition
        self.running = False

    async def run(self) -> None:
        consumer = self._consumers(self._settings.topic_prefix + self._service)
        consumer.subscribe(list(self._names), listener=_RebalanceLog(self._service))
        await consumer.start()
        self.running = True
        backoff = 0.2
        try:
            while True:
                batch = await consumer.getmany(timeout_ms=500, max_records=self._max_records)
                self._measure_lag(consumer, batch)
                if not batch:
                    continue
                try:
                    await self._process(batch)
                except db.TRANSIENT as exc:
                    await self._rewind(consumer, batch, exc)
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

    def _measure_lag(self, consumer: Consumer, batch: Batch) -> None:
        """How far behind the group is on each topic, for the lag alert: after a fetch with records,
        its partitions' high watermarks less what the batch reaches; after one without, nothing."""
        if not batch:
            self._behind.clear()
        for tp, records in batch.items():
            if (end := consumer.highwater(tp)) is not None:
                self._behind[tp] = max(end - (records[-1].offset + 1), 0)
        group = self._settings.topic_prefix + self._service
        for name in self._names:
            metrics.CONSUMER_LAG.labels(group, name).set(
                sum(n for tp, n in self._behind.items() if tp.topic == name))

    async def _rewind(self, consumer: Consumer, batch: Batch, exc: BaseException) -> None:
        """The batch rolled back: read it again from its first record."""
        metrics.BATCH_RETRIES.labels(self._service).inc()
        log.warning("batch rolled back; retrying", extra={"error": repr(exc)})
        if not isinstance(exc, db.CONFLICTS):
            # PostgreSQL went away: replace every pooled connection now, rather than meet each
            # dead one in a failed batch of its own.
            await self._pool.expire_connections()
        assigned = consumer.assignment()
        for tp, records in batch.items():
            if tp in assigned:  # a partition lost meanwhile restarts at its commit
                consumer.seek(tp, records[0].offset)

    async def _process(self, batch: Batch) -> None:
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

    def _decode(self, records: Iterable[ConsumerRecord], outbox: Outbox,
                outcomes: list[tuple[str, str]]) -> list[_Decoded]:
        """Each record's event and route; a record with neither is dead-lettered."""
        decoded = []
        for record in records:
            try:
                # Either CloudEvents content mode, as any producer may send it.
                envelope = cloudevents.from_kafka(record.value, record.headers, timestamp_ms=record.timestamp)
            except (ValidationError, ValueError) as exc:
                outcomes.append((record.topic, self._dead_letter(outbox, record, f"undecodable: {_short(exc)}")))
                continue
            route = self._routes.route(self._names[record.topic], envelope.type)
            if route is None:
                outcomes.append((record.topic, self._dead_letter(
                    outbox, record, f"unexpected event type {envelope.type!r} on this topic")))
                continue
            decoded.append(_Decoded(record, envelope, route))
        return decoded

    async def _process_batch(self, batch: Batch, *, isolate: bool) -> list[tuple[str, str]]:
        outcomes: list[tuple[str, str]] = []
        outbox = Outbox(self._settings, source=f"rebound/{self._service}")
        decoded = self._decode((r for records in batch.values() for r in records), outbox, outcomes)
        async with self._pool.acquire() as conn, conn.transaction():
            fresh = await self._first_seen(conn, decoded, outcomes)
            # A batched handler's messages, together, where the first of them stands.
            groups: dict[Route, list[_Decoded]] = {}
            if not isolate:
                for d in fresh:
                    if d.route.batched:
                        groups.setdefault(d.route, []).append(d)
            for d in fresh:
                if d.route in groups:
                    group = groups.pop(d.route)
                    await self._run(conn, d.route, [g.envelope for g in group], isolate=False)
                    outcomes += [(g.record.topic, "processed") for g in group]
                elif isolate or not d.route.batched:
                    outcomes.append((d.record.topic, await self._handle(conn, outbox, d, isolate=isolate)))
            await outbox.flush(conn)
            failpoints.reach("mid_batch")
        return outcomes

    async def _first_seen(self, conn: asyncpg.Connection, decoded: list[_Decoded],
                          outcomes: list[tuple[str, str]]) -> list[_Decoded]:
        """The inbox, for the whole batch at once: an event seen before is a duplicate."""
        new = await first_seen(conn, [(d.envelope.id, d.record.topic) for d in decoded])
        fresh = []
        for d in decoded:
            if d.envelope.id not in new:
                outcomes.append((d.record.topic, "duplicate"))
                continue
            new.discard(d.envelope.id)  # the same event twice in one batch: once
            metrics.EVENT_AGE_SECONDS.labels(self._service, d.record.topic).observe(
                (datetime.now(UTC) - d.envelope.time).total_seconds())
            fresh.append(d)
        return fresh

    async def _run(self, conn: asyncpg.Connection, route: Route, envelopes: list[Envelope], *, isolate: bool) -> None:
        message_outbox = Outbox(self._settings, source=f"rebound/{self._service}")
        try:
            if isolate:
                # A savepoint: a handler that fails undoes only its own message.
                async with conn.transaction():
                    await deliver(conn, route, envelopes, message_outbox)
                    await message_outbox.flush(conn)
            else:
                await deliver(conn, route, envelopes, message_outbox)
                await message_outbox.flush(conn)
        except Exception as exc:
            if isolate or isinstance(exc, db.TRANSIENT):
                raise
            raise _HandlerFailed from exc

    async def _handle(self, conn: asyncpg.Connection, outbox: Outbox, d: _Decoded, *, isolate: bool) -> str:
        try:
            await self._run(conn, d.route, [d.envelope], isolate=isolate)
        except (*db.TRANSIENT, _HandlerFailed):
            raise
        except Exception as exc:  # a defect or a bad message: park it, keep going
            log.exception("handler failed; message dead-lettered",
                          extra={"event_id": d.envelope.id, "origin": _origin(d.record)})
            return self._dead_letter(outbox, d.record, f"handler failed: {_short(exc)}")
        return "processed"

    @staticmethod
    def _dead_letter(outbox: Outbox, record: ConsumerRecord, reason: str) -> str:
        origin = _origin(record)
        log.warning("message dead-lettered", extra={"origin": origin, "reason": reason})
        outbox.dead_letter(record.topic, record.key, record.value, reason, origin, record.headers)
        return "dead_lettered"


async def first_seen(conn: asyncpg.Connection, events: list[tuple[str, str]]) -> set[str]:
    """The inbox: of these (event id, topic), the ids never seen before, now recorded as seen."""
    return {r["event_id"] for r in await conn.fetch(
        """INSERT INTO inbox (event_id, topic) SELECT * FROM unnest($1::text[], $2::text[])
           ON CONFLICT DO NOTHING RETURNING event_id""", [i for i, _ in events], [t for _, t in events])}


async def deliver(conn: asyncpg.Connection, route: Route, envelopes: list[Envelope], outbox: Outbox) -> None:
    """Hand events to their route's handler: all at once if it takes batches, else one by one, each
    in its trace (an event that came without one starts its own, the same at each delivery)."""
    if route.batched:
        await route.handler(conn, [Event.of(e) for e in envelopes], outbox)
        return
    for envelope in envelopes:
        with tracing.following(envelope.traceparent or tracing.derived(envelope.id)):
            await route.handler(conn, Event.of(envelope), outbox)


def _origin(record: ConsumerRecord) -> str:
    return f"{record.topic}/{record.partition}/{record.offset}"


def _short(exc: Exception) -> str:
    if isinstance(exc, cloudevents.Refused):
        return str(exc)[:800]
    if isinstance(exc, ValidationError):
        return "; ".join(
            f"{'.'.join(str(p) for p in e['loc']) or '(root)'}: {e['msg']}" for e in exc.errors()
        )[:800]
    return f"{type(exc).__name__}: {exc}"[:800]
