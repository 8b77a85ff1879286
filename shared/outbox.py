"""The transactional outbox: events written with the state change, relayed to Kafka after."""

import asyncio
import json
import logging
from collections.abc import Sequence
from datetime import datetime

import asyncpg
from aiokafka import AIOKafkaProducer

from shared import db, failpoints, metrics, topics, tracing
from shared.events import Envelope, Model
from shared.settings import Settings

log = logging.getLogger(__name__)

# Rebound's events travel in CloudEvents' structured mode, and say so (Kafka binding §3.3.1).
CONTENT_TYPE = "application/cloudevents+json"
HEADERS = [("content-type", CONTENT_TYPE.encode())]


class Outbox:
    """Collects the events one transaction emits; `flush` writes them in that transaction."""

    def __init__(self, settings: Settings, source: str) -> None:
        self._settings = settings
        self._source = source
        self._rows: list[tuple[str, bytes | None, bytes, list[list[str]]]] = []

    def publish(self, topic: str, data: Model, *, key: str, id: str | None = None,
                time: datetime | None = None, traceparent: str | None = None) -> Envelope:
        """`traceparent`: the trace this follows from; by default, that of the event being handled."""
        envelope = Envelope.wrap(data, source=self._source, subject=key, id=id, time=time,
                                 traceparent=traceparent or tracing.current.get())
        self._rows.append((topics.name(self._settings, topic), key.encode(), envelope.to_bytes(),
                           [["content-type", CONTENT_TYPE]]))
        return envelope

    def dead_letter(self, topic: str, key: bytes | None, value: bytes | None, reason: str,
                    origin: str, headers: Sequence[tuple[str, bytes]] = ()) -> None:
        """`topic` is the full name of the topic the message came from. Its own headers go with it
        (a binary-mode CloudEvent's attributes are there), then why and from where."""
        kept = [[k, (v or b"").decode(errors="replace")] for k, v in headers if k not in ("reason", "origin")]
        kept += [["reason", reason[:1000]], ["origin", origin]]
        self._rows.append((topics.dead_letter(topic), key, value or b"", kept))

    async def flush(self, conn: asyncpg.Connection) -> None:
        if self._rows:
            # One statement however many rows (a cancelled aircraft's first notices are hundreds),
            # inserted in the order published: the relay sends them in id order.
            topic_of, keys, values, headers = zip(*self._rows, strict=True)
            await conn.execute(
                """INSERT INTO outbox (topic, key, value, headers)
                   SELECT topic, key, value, headers::jsonb
                   FROM unnest($1::text[], $2::bytea[], $3::bytea[], $4::text[]) WITH ORDINALITY
                        AS r(topic, key, value, headers, n)
                   ORDER BY n""",
                list(topic_of), list(keys), list(values), [json.dumps(h) for h in headers])
            self._rows.clear()


class OutboxRelay:
    """Publishes outbox rows in id order with an idempotent producer, then deletes them.

    One relay per schema works at a time (an advisory lock), so per-key order holds across
    replicas. A crash after publishing and before the delete republishes: consumers' inboxes
    absorb that."""

    def __init__(self, settings: Settings, pool: asyncpg.Pool, producer: AIOKafkaProducer,
                 service: str, batch_size: int = 500) -> None:
        """`producer` must be idempotent with acks=all."""
        self._settings = settings
        self._pool = pool
        self._producer = producer
        self._service = service
        self._batch_size = batch_size
        self.running = False

    async def run(self) -> None:
        try:
            async with db.notifications(self._settings.database_url,
                                        f"{self._service}_outbox") as woken:
                self.running = True
                while True:
                    try:
                        moved = await self._relay_once()
                    except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                        log.warning("outbox relay pass failed; retrying",
                                    extra={"error": repr(exc)})
                        await asyncio.sleep(1)
                        continue
                    if moved < self._batch_size:
                        await woken(1.0)
        finally:
            self.running = False

    async def _relay_once(self) -> int:
        async with self._pool.acquire() as conn, conn.transaction():
            if not await conn.fetchval(
                "SELECT pg_try_advisory_xact_lock(hashtext($1))", f"outbox:{self._service}"
            ):
                return 0
            rows = await conn.fetch(
                "SELECT id, topic, key, value, headers FROM outbox ORDER BY id LIMIT $1",
                self._batch_size,
            )
            if not rows:
                return 0
            sends = [
                await self._producer.send(
                    r["topic"], r["value"], key=r["key"],
                    headers=[(k, v.encode()) for k, v in r["headers"]],
                )
                for r in rows
            ]
            await asyncio.gather(*sends)
            failpoints.reach("outbox_relay")
            await conn.execute("DELETE FROM outbox WHERE id = ANY($1::bigint[])",
                               [r["id"] for r in rows])
        for r in rows:
            metrics.OUTBOX_RELAYED.labels(self._service, r["topic"]).inc()
        return len(rows)

