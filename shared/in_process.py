"""Rebound in one process, on real PostgreSQL and no Kafka: every consumer group and every queue
of the system's declaration (shared/system.py), nothing named here by hand.

Each service has its own connection (search_path: its schema), in a transaction its caller owns
(the handler tests and `make play` roll it back). `Runner.publish` hands an event to every group
that reads its topic, through the inbox as the consumer loop does; whatever the handlers put in
their outboxes is handed on the same way (the outbox stands in for Kafka), and each queue that
can be stepped in a transaction is stepped, until nothing moves. Queues whose every step is a call
to the outside world (payouts to a bank, texts to a provider) are left full, for their workers.
Everything published is kept in `Runner.published`, in order."""

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import asyncpg

from shared import db
from shared.consumer import Routes, deliver, first_seen
from shared.events import Envelope, Model
from shared.outbox import Outbox
from shared.system import ROOT, SERVICES, SYSTEM, resolve


async def migrate(url: str) -> None:
    """Every service's schema in the database, migrated."""
    for part in SYSTEM:
        if part.migrations:
            await db.migrate(url, part.name, ROOT / part.migrations)


@contextlib.asynccontextmanager
async def connections(url: str) -> AsyncIterator[dict[str, asyncpg.Connection]]:
    """A connection per service, on its own schema, each in a transaction undone after."""
    async with contextlib.AsyncExitStack() as stack:
        opened = {}
        for service in SERVICES:
            conn = await asyncpg.connect(url, server_settings={"search_path": service})
            stack.push_async_callback(conn.close)
            await db.init_connection(conn)
            transaction = conn.transaction()
            await transaction.start()
            stack.push_async_callback(transaction.rollback)
            opened[service] = conn
        yield opened


def configs(environment: str, **settings: dict[str, Any]) -> dict[str, Any]:
    """Each service's config, from its settings class: the environment's defaults, and the given
    settings by service (e.g. `rebooking={"batch_window_ms": 0}`)."""
    return {part.name: resolve(part.config)(resolve(part.settings)(environment=environment,
                                                                   **settings.get(part.name, {})))
            for part in SYSTEM if part.config and part.settings}


def routes(configs: dict[str, Any]) -> dict[str, list[Routes]]:
    """Each service's routes, a Routes per consumer group, as its consumers run them."""
    return {part.name: [resolve(group.routes)(configs[part.name]) for group in part.groups]
            for part in SYSTEM if part.groups}


async def take_outbox(conn: asyncpg.Connection) -> list[tuple[str, Envelope | bytes]]:
    """What the connection's service has put in its outbox and not yet relayed, in order, taken
    out: (topic, event), or (dead-letter topic, the bytes refused)."""
    rows = await conn.fetch("WITH taken AS (DELETE FROM outbox RETURNING id, topic, value)"
                            " SELECT topic, value FROM taken ORDER BY id")
    return [(r["topic"], r["value"] if r["topic"].endswith(".dlq") else Envelope.from_bytes(r["value"]))
            for r in rows]


async def handle(conn: asyncpg.Connection, service: str, routed: list[Routes], config: Any, topic: str,
                 envelopes: list[Envelope]) -> bool:
    """As the service's consumer would: each new event once, a batch of one kind to its handler,
    and the handlers' outbox in the same transaction. False when every event was seen before."""
    new = await first_seen(conn, [(e.id, topic) for e in envelopes])
    fresh = [e for e in envelopes if e.id in new]
    if not fresh:
        return False
    route = next(r for group in routed if (r := group.route(topic, fresh[0].type)))
    outbox = Outbox(config.settings, source=f"rebound/{service}")
    await deliver(conn, route, fresh, outbox)
    await outbox.flush(conn)
    return True


def event(payload: Model, *, source: str, subject: str = "in-process", id: str | None = None,
          time: datetime | None = None, traceparent: str | None = None) -> Envelope:
    return Envelope.wrap(payload, source=source, subject=subject, id=id, time=time or datetime.now(UTC),
                         traceparent=traceparent)


@dataclass
class Runner:
    connections: dict[str, asyncpg.Connection]  # by service
    configs: dict[str, Any]  # by service
    published: list[tuple[str, Envelope]] = field(default_factory=list)
    dead_letters: list[tuple[str, bytes]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.routes = routes(self.configs)
        self._steps = [(part.name, resolve(queue.step)) for part in SYSTEM for queue in part.queues if queue.step]

    async def publish(self, topic: str, payload: Model, *, settle: bool = True, source: str = "in-process",
                      **envelope: Any) -> Envelope:
        """Hand the event to its readers and (unless `settle` is false, to let another event arrive
        before the consequences of this one) everything that follows from it to theirs."""
        sent = event(payload, source=source, **envelope)
        await self._hand_on(topic, sent)
        if settle:
            await self.settle()
        return sent

    async def settle(self) -> None:
        """Hand on every outbox's events and step every queue, until nothing moves."""
        while True:
            moved = False
            for service in SERVICES:
                for topic, sent in await take_outbox(self.connections[service]):
                    moved = True
                    if isinstance(sent, bytes):
                        self.dead_letters.append((topic, sent))
                        continue
                    self.published.append((topic, sent))
                    await self._hand_on(topic, sent)
            for service, step in self._steps:
                if await step(self.connections[service], self.configs[service]):
                    moved = True
            if not moved:
                return

    async def handle(self, service: str, topic: str, envelopes: list[Envelope]) -> bool:
        """The service's handling of the events, as its consumer would; nothing handed on."""
        return await handle(self.connections[service], service, self.routes[service], self.configs[service], topic,
                            envelopes)

    async def _hand_on(self, topic: str, sent: Envelope) -> None:
        for service, routed in self.routes.items():
            if any(topic in r.topics for r in routed):
                await self.handle(service, topic, [sent])

    def on(self, topic: str) -> list[Model]:
        """The payloads published on `topic`, in order."""
        return [e.data for t, e in self.published if t == topic]
