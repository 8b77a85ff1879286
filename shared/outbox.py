"""The transactional outbox: events written with the state change, relayed to Kafka after."""

import asyncio
import base64
import json
import logging
from collections.abc import Sequence
from datetime import datetime
from typing import Any

import asyncpg
from aiokafka import AIOKafkaProducer, errors

from shared import db, failpoints, metrics, system, topics, tracing
from shared.backlog import FirstNoticeBacklog
from shared.events import Envelope, Model
from shared.settings import Settings

log = logging.getLogger(__name__)

# Rebound's events travel in CloudEvents' structured mode, and say so (Kafka binding §3.3.1).
CONTENT_TYPE = "application/cloudevents+json"
HEADERS = [("content-type", CONTENT_TYPE.encode())]


# Room left in a dead-letter copy for the reason and origin headers.
_DEAD_LETTER_ROOM = topics.DEAD_LETTER_MAX_BYTES - 4096


def plain_text(text: str, limit: int) -> str:
    """`text` as PostgreSQL and a Kafka header take it: no NUL (which neither text nor jsonb can
    hold), no unpaired surrogate, at most `limit` characters."""
    return text[:limit].encode("utf-8", "replace").decode("utf-8").replace("\x00", "\ufffd")


def carried_headers(headers: Sequence[tuple[str, bytes | None]]) -> list[list[str]]:
    """A record's headers as the outbox stores them (a JSON list of [key, text]), kept apart from
    the reason and origin that a dead-letter copy adds. A value that is not UTF-8 text, or that
    holds a NUL, travels base64-encoded under its key followed by `.base64`: byte for byte, and
    never a row that cannot be written."""
    kept = []
    for name, raw in headers:
        if name in ("reason", "origin"):
            continue
        key = plain_text(name, 1000)
        try:
            text: str | None = (raw or b"").decode()
        except UnicodeDecodeError:
            text = None
        if text is None or "\x00" in text:
            kept.append([key + ".base64", base64.b64encode(raw or b"").decode()])
        else:
            kept.append([key, text])
    return kept


class Outbox:
    """Collects the events one transaction emits; `flush` writes them in that transaction."""

    def __init__(self, settings: Settings, source: str) -> None:
        self._settings = settings
        self._source = source
        # (topic, key, value, headers, on the first-notice path)
        self._rows: list[tuple[str, bytes | None, bytes, list[list[str]], bool]] = []

    @property
    def source(self) -> str:
        """Who publishes (`rebound/<service>`): the events' CloudEvents source."""
        return self._source

    def publish(self, topic: str, data: Model, *, key: str, id: str | None = None,
                time: datetime | None = None, traceparent: str | None = None) -> Envelope:
        """`traceparent`: the trace this follows from; by default, that of the event being handled."""
        envelope = Envelope.wrap(data, source=self._source, subject=key, id=id, time=time,
                                 traceparent=traceparent or tracing.current.get())
        self._rows.append((topics.name(self._settings, topic), key.encode(), envelope.to_bytes(),
                           [["content-type", CONTENT_TYPE]], topic in system.URGENT_TOPICS))
        return envelope

    def dead_letter(self, topic: str, key: bytes | None, value: bytes | None, reason: str,
                    origin: str, headers: Sequence[tuple[str, bytes | None]] = ()) -> None:
        """`topic` is the full name of the topic the message came from. Its own headers go with it
        (a binary-mode CloudEvent's attributes are there), then why and from where. Whatever the
        record held, the copy can be written and sent: headers that are not text travel in base64
        (`carried_headers`), and if they would push the copy over the dead-letter topic's size
        limit they are left out, and their count said instead."""
        value = value or b""
        kept = carried_headers(headers)
        if len(key or b"") + len(value) + sum(len(k) + len(v) + 8 for k, v in kept) > _DEAD_LETTER_ROOM:
            kept = [["headers-dropped", f"{len(kept)} headers: with them the copy would be over the "
                                        f"{topics.DEAD_LETTER_MAX_BYTES:,}-byte limit"]]
        kept += [["reason", plain_text(reason, 1000)], ["origin", plain_text(origin, 300)]]
        self._rows.append((topics.dead_letter(topic), key, value, kept, False))

    async def flush(self, conn: asyncpg.Connection) -> None:
        if self._rows:
            # One statement however many rows (a cancelled aircraft's first notices are hundreds),
            # inserted in the order published: the relay sends them in id order.
            topic_of, keys, values, headers, urgent = zip(*self._rows, strict=True)
            await conn.execute(
                """INSERT INTO outbox (topic, key, value, headers, urgent)
                   SELECT topic, key, value, headers::jsonb, urgent
                   FROM unnest($1::text[], $2::bytea[], $3::bytea[], $4::text[], $5::boolean[]) WITH ORDINALITY
                        AS r(topic, key, value, headers, urgent, n)
                   ORDER BY n""",
                list(topic_of), list(keys), list(values), [json.dumps(h) for h in headers], list(urgent))
            self._rows.clear()


class OutboxRelay:
    """Publishes outbox rows in id order with an idempotent producer, then deletes them.

    One relay per schema works at a time (the schema's own lock), so per-key order holds across
    replicas. A crash after publishing and before the delete republishes: consumers' inboxes
    absorb that. A row the broker refuses for itself (too large, an invalid topic) is parked with
    the broker's reason, and the rows behind it go. A row that fails for a reason that passes (a
    broker away, its partition's leader moving, a timeout) is never parked, even while rows for
    other partitions are sent, as they are while one broker of three is down: it is tried again at
    the next pass, with what is new."""

    def __init__(self, settings: Settings, pool: asyncpg.Pool, producer: AIOKafkaProducer,
                 service: str, batch_size: int = 500, backlog: FirstNoticeBacklog | None = None) -> None:
        """`producer` must be idempotent with acks=all. With `backlog`, rows for topics no first
        notice travels on wait while passengers wait for one; the first-notice path's rows always
        go first."""
        self._settings = settings
        self._pool = pool
        self._producer = producer
        self._service = service
        self._batch_size = batch_size
        self._backlog = backlog
        self.running = False

    async def run(self) -> None:
        try:
            async with db.notifications(self._settings.database_url,
                                        system.outbox_channel(self._service)) as woken:
                self.running = True
                while True:
                    try:
                        moved = await self._relay_once()
                    except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, errors.KafkaError) as exc:
                        log.warning("outbox relay pass failed; retrying",
                                    extra={"error": repr(exc)})
                        await asyncio.sleep(1)
                        continue
                    if moved < self._batch_size:
                        # Held back for first notices: looked at again as soon as they are told.
                        await woken(1.0 if self._backlog is None or self._backlog.clear else 0.25)
        finally:
            self.running = False

    async def _relay_once(self) -> int:
        async with self._pool.acquire() as conn, conn.transaction():
            if not await db.try_lock_relay(conn):
                return 0
            rows = await self._next_rows(conn)
            if not rows:
                return 0
            outcomes = await self._send(rows)
            failpoints.reach("outbox_relay")
            sent = [r for r, o in zip(rows, outcomes, strict=True) if o is None]
            parked = [(r, f"refused: {type(o).__name__}: {o}") for r, o in zip(rows, outcomes, strict=True)
                      if o is not None and not _passing(o)]
            if parked:
                await park_rows(conn, parked)
            done = {r["id"] for r in sent} | {r["id"] for r, _ in parked}
            await conn.execute("DELETE FROM outbox WHERE id = ANY($1::bigint[])", list(done))
        self._count(sent, parked)
        if len(done) < len(rows):
            # What is left failed for a reason that may pass (a leader moving): the whole pass
            # is tried again after the pause, and what went is absorbed by consumers' inboxes.
            raise next(o for r, o in zip(rows, outcomes, strict=True) if o is not None and r["id"] not in done)
        return len(rows)

    async def _next_rows(self, conn: asyncpg.Connection) -> list[asyncpg.Record]:
        """The first-notice path's rows first, in order; then, unless passengers are waiting for
        a first notice, the rest in order. Per-key order holds: a topic's rows are all urgent or
        all not, and keep their order."""
        rows: list[asyncpg.Record] = await conn.fetch(
            "SELECT id, topic, key, value, headers FROM outbox WHERE urgent ORDER BY id LIMIT $1", self._batch_size)
        if len(rows) < self._batch_size and (self._backlog is None or self._backlog.clear):
            rows += await conn.fetch("SELECT id, topic, key, value, headers FROM outbox WHERE NOT urgent"
                                     " ORDER BY id LIMIT $1", self._batch_size - len(rows))
        return rows

    def _count(self, sent: list[asyncpg.Record], parked: list[tuple[asyncpg.Record, str]]) -> None:
        for r in sent:
            metrics.OUTBOX_RELAYED.labels(self._service, r["topic"]).inc()
        for r, reason in parked:
            log.error("outbox row parked: the broker will not take it",
                      extra={"topic": r["topic"], "outbox_id": r["id"], "reason": reason})
            metrics.PARKED.labels(self._service, "relay", r["topic"]).inc()

    async def _send(self, rows: list[asyncpg.Record]) -> list[BaseException | None]:
        """What became of each row: None once the broker has it, or what the producer or the
        broker said. Handed to the producer one by one, in order, so per-key order holds."""
        sends: list[asyncio.Future[Any] | Exception] = []
        for r in rows:
            try:
                sends.append(await self._producer.send(r["topic"], r["value"], key=r["key"],
                                                       headers=[(k, v.encode()) for k, v in r["headers"]]))
            except Exception as exc:  # refused before it left: too large, or no metadata for its topic
                sends.append(exc)
        return list(await asyncio.gather(*(_settled(s) for s in sends)))


async def _settled(send: "asyncio.Future[Any] | Exception") -> BaseException | None:
    if isinstance(send, Exception):
        return send
    try:
        await send
    except Exception as exc:
        return exc
    return None


# What the broker or the producer says about a row itself: sending it again cannot help.
_REFUSED = (errors.MessageSizeTooLargeError, errors.RecordTooLargeError, errors.RecordListTooLargeError,
            errors.CorruptRecordException, errors.InvalidTopicError, errors.InvalidTimestampError,
            errors.UnsupportedForMessageFormatError)


def _passing(error: BaseException) -> bool:
    """Whether an error may pass (a broker away, a leader moving, a timeout) rather than say
    something about the row; a client-side error that is not Kafka's (a header it cannot encode)
    is about the row."""
    return isinstance(error, OSError) or (isinstance(error, errors.KafkaError) and not isinstance(error, _REFUSED))


async def park_rows(conn: asyncpg.Connection, rows: list[tuple[asyncpg.Record, str]]) -> None:
    """Outbox rows set aside, each with its reason."""
    await conn.executemany(
        "INSERT INTO parked (stage, topic, key, value, headers, reason) VALUES ('relay', $1, $2, $3, $4, $5)",
        [(r["topic"], r["key"], r["value"], r["headers"], plain_text(reason, 1000)) for r, reason in rows])
