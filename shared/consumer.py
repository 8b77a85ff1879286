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
from aiokafka.errors import CommitFailedError, CorruptRecordException, IllegalStateError, KafkaError
from pydantic import ValidationError

from shared import cloudevents, db, failpoints, kafka, metrics, topics, tracing
from shared.backlog import FirstNoticeBacklog
from shared.events import Envelope, Model, type_name
from shared.outbox import Outbox, carried_headers, plain_text
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
        self.handed_on: Callable[[], Awaitable[None]] | None = None

    def done_when(self, handed_on: Callable[[], Awaitable[None]]) -> "Routes":
        """A batch counts as handled, and its offsets are committed, once `handed_on` returns
        after its transaction: notify's first notices, once they are with the providers, so that
        the group's lag counts the passengers still waiting (shared/backlog.py)."""
        self.handed_on = handed_on
        return self

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
    async def getmany(self, *partitions: TopicPartition, timeout_ms: int,
                      max_records: int) -> dict[TopicPartition, list[ConsumerRecord]]: ...
    async def position(self, partition: TopicPartition) -> int: ...
    async def committed(self, partition: TopicPartition) -> int | None: ...
    async def seek_to_beginning(self, *partitions: TopicPartition) -> bool: ...
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
                 consumers: ConsumerFactory | None = None, max_records: int = 200,
                 backlog: FirstNoticeBacklog | None = None) -> None:
        """`service` names the consumer group (after the topic prefix); `consumers` makes the
        consumer (by default a Kafka one); with `backlog`, it reads nothing while passengers
        wait for a first notice (a group off the first-notice path)."""
        self._backlog = backlog
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
        handing_on: asyncio.Task[None] | None = None
        try:
            while True:
                if self._backlog:
                    await self._backlog.stand_back(self._service)
                try:
                    batch = await consumer.getmany(timeout_ms=500, max_records=self._max_records)
                except UNREADABLE:
                    await self._back_to_committed(consumer)
                    batch = await self._step_past_unreadable(consumer)
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
                offsets = {tp: rs[-1].offset + 1 for tp, rs in batch.items()}
                if self._routes.handed_on:
                    # The next batch is read and handled while this one is handed on; the offsets
                    # are committed in order, each once its batch is.
                    handing_on = asyncio.create_task(self._commit_handed_on(consumer, offsets, handing_on))
                else:
                    await self._commit(consumer, offsets)
        finally:
            if handing_on:
                handing_on.cancel()
            self.running = False
            await consumer.stop()

    async def _commit_handed_on(self, consumer: Consumer, offsets: dict[TopicPartition, int],
                                before: "asyncio.Task[None] | None") -> None:
        if before:
            await before
        assert self._routes.handed_on
        await self._routes.handed_on()
        await self._commit(consumer, offsets)

    @staticmethod
    async def _commit(consumer: Consumer, offsets: dict[TopicPartition, int]) -> None:
        try:
            await consumer.commit(offsets)
        except (CommitFailedError, IllegalStateError, KafkaError) as exc:
            log.warning("offset commit failed; the batch will be redelivered", extra={"error": repr(exc)})

    @staticmethod
    async def _back_to_committed(consumer: Consumer) -> None:
        """A fetch that failed may have taken other partitions' records with it (the client hands
        them out partition by partition and had moved past some when it met the one it could not
        read): every partition goes back to what was committed, the end of what was processed."""
        for tp in consumer.assignment():
            offset = await consumer.committed(tp)
            if offset is None:
                await consumer.seek_to_beginning(tp)  # nothing committed: where the group starts
            else:
                consumer.seek(tp, offset)

    async def _step_past_unreadable(self, consumer: Consumer) -> dict[TopicPartition, list[ConsumerRecord]]:
        """A record the Kafka client itself cannot read (a header name that is not UTF-8, a batch
        that fails its checks) makes every fetch fail where it stands, and with it every partition
        behind the same fetch. Find it: each partition with something unread is read alone, and
        the one that fails is read a record at a time up to the record that cannot be read, which
        is parked (its position, and why: no bytes can be had of it) and stepped past. What was
        read on the way is returned, to be processed as any batch."""
        read: dict[TopicPartition, list[ConsumerRecord]] = {}
        for tp in sorted(consumer.assignment()):
            end = consumer.highwater(tp)
            if end is not None and await consumer.position(tp) >= end:
                continue
            try:
                read |= await consumer.getmany(tp, timeout_ms=1000, max_records=self._max_records)
            except UNREADABLE:
                return read | await self._park_unreadable(consumer, tp)
        return read

    async def _park_unreadable(self, consumer: Consumer,
                               tp: TopicPartition) -> dict[TopicPartition, list[ConsumerRecord]]:
        read: list[ConsumerRecord] = []
        while len(read) < self._max_records:
            try:
                records = await consumer.getmany(tp, timeout_ms=1000, max_records=1)
            except UNREADABLE as exc:
                if read:
                    # The records before it first, as a batch; it is met again, alone, next.
                    break
                offset = await consumer.position(tp)
                origin = f"{tp.topic}/{tp.partition}/{offset}"
                await park(self._pool, stage="consumer", topic=tp.topic, origin=origin, key=None, value=b"",
                           headers=(), reason=f"unreadable by the Kafka client: {_short(exc)}")
                self._parked(tp.topic, origin, _short(exc))
                # Committed at once: with nothing after it, the group would otherwise stay one behind.
                consumer.seek(tp, offset + 1)
                await self._commit(consumer, {tp: offset + 1})
                break
            if not records:
                break
            read += records.get(tp, [])
        return {tp: read} if read else {}

    def _parked(self, topic: str, origin: str, reason: str) -> None:
        log.error("message parked: it could be neither handled nor dead-lettered",
                  extra={"origin": origin, "reason": reason})
        metrics.PARKED.labels(self._service, "consumer", topic).inc()

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
            outcomes = await self._isolated(batch)
        except db.TRANSIENT:
            raise
        except Exception:
            outcomes = await self._record_by_record(batch)
        metrics.BATCH_SECONDS.labels(self._service).observe(time.perf_counter() - started)
        for topic, outcome in outcomes:
            metrics.MESSAGES_CONSUMED.labels(self._service, topic, outcome).inc()

    async def _isolated(self, batch: Batch) -> list[tuple[str, str]]:
        try:
            return await self._process_batch(batch, isolate=True)
        except db.TRANSIENT:
            raise
        except Exception:
            return await self._record_by_record(batch)

    async def _record_by_record(self, batch: Batch) -> list[tuple[str, str]]:
        """The batch failed outside any handler (its inbox row, a dead-letter copy, the outbox
        could not be written): each record alone, in a transaction of its own, and one that still
        fails is parked with the reason rather than read again and again."""
        outcomes: list[tuple[str, str]] = []
        for tp, records in batch.items():
            for record in records:
                try:
                    outcomes += await self._process_batch({tp: [record]}, isolate=True)
                except db.TRANSIENT:
                    raise
                except Exception as exc:
                    log.exception("message could not be processed or dead-lettered; parked",
                                  extra={"origin": _origin(record)})
                    await park(self._pool, stage="consumer", topic=record.topic, origin=_origin(record),
                               key=record.key, value=record.value or b"", headers=record.headers,
                               reason=f"could not be processed or dead-lettered: {_short(exc)}")
                    self._parked(record.topic, _origin(record), _short(exc))
                    outcomes.append((record.topic, "parked"))
        return outcomes

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
            if isinstance(exc, ValidationError):  # its text would quote the input (a name, say): not logged
                log.warning("handler refused the message; dead-lettered",
                            extra={"event_id": d.envelope.id, "origin": _origin(d.record), "reason": _short(exc)})
            else:
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


# What the Kafka client raises, at every fetch, for a record it cannot read.
UNREADABLE = (UnicodeDecodeError, CorruptRecordException)


async def park(pool: asyncpg.Pool, *, stage: str, topic: str, origin: str | None, key: bytes | None,
               value: bytes, headers: Iterable[tuple[str, bytes | None]], reason: str) -> None:
    """Set a record aside with its reason, in a transaction of its own; once per origin, however
    often it is met. Nothing in it can fail to be written: bytes stay bytes, text is made plain."""
    async with pool.acquire() as conn:
        await conn.execute(
            """INSERT INTO parked (stage, topic, origin, key, value, headers, reason)
               VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (origin) WHERE origin IS NOT NULL DO NOTHING""",
            stage, topic, origin, key, value, carried_headers(list(headers)), plain_text(reason, 1000))


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
