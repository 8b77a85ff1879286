"""The four services' handlers in one process, on real PostgreSQL and no Kafka.

Each service has its own connection (search_path: its schema) inside a transaction that the test
rolls back. `World.publish` hands an event to every service whose routes read its topic, through
the inbox as the consumer loop does; whatever their handlers put in their outboxes is piped on the
same way, and rebooking's assignment rounds run, until nothing moves. Everything published is kept
in `World.published`, in order."""

from dataclasses import dataclass, field
from datetime import UTC, datetime

import asyncpg

from services.rebooking import assignment
from services.rebooking.config import Config as RebookingConfig
from services.rebooking.config import RebookingSettings
from shared.consumer import deliver, first_seen
from shared.events import Envelope, Model
from shared.outbox import Outbox
from shared.settings import Settings
from tests.topology import routes_by_service

SERVICES = ("disruption", "rebooking", "compensation", "notify")
SETTINGS = Settings(environment="test")
# No batching window: a round assigns whatever is pending at once.
REBOOKING = RebookingConfig.of(RebookingSettings(environment="test", batch_window_ms=0, batch_max_wait_ms=0))
ROUTES = routes_by_service()


async def outbox_rows(conn: asyncpg.Connection) -> list[tuple[str, Envelope | bytes]]:
    """What the connection's service has put in its outbox and not yet relayed, in order, taken
    out: (topic, event), or (dead-letter topic, the bytes refused)."""
    rows = await conn.fetch("WITH taken AS (DELETE FROM outbox RETURNING id, topic, value)"
                            " SELECT topic, value FROM taken ORDER BY id")
    return [(r["topic"], r["value"] if r["topic"].endswith(".dlq") else Envelope.from_bytes(r["value"]))
            for r in rows]


async def handle(conn: asyncpg.Connection, service: str, topic: str, envelope: Envelope) -> bool:
    """As the service's consumer would: once per event id, its handler and its outbox in one go.
    False for an event seen before."""
    if not await first_seen(conn, [(envelope.id, topic)]):
        return False
    route = next(r for routes in ROUTES[service] if (r := routes.route(topic, envelope.type)))
    outbox = Outbox(SETTINGS, source=f"rebound/{service}")
    await deliver(conn, route, [envelope], outbox)
    await outbox.flush(conn)
    return True


async def handle_batch(conn: asyncpg.Connection, topic: str, envelopes: list[Envelope], service: str = "compensation"
                       ) -> None:
    """As the service's consumer would with a batch of one kind of event, each new."""
    assert await first_seen(conn, [(e.id, topic) for e in envelopes]) == {e.id for e in envelopes}
    route = next(r for routes in ROUTES[service] if (r := routes.route(topic, envelopes[0].type)))
    outbox = Outbox(SETTINGS, source=f"rebound/{service}")
    await deliver(conn, route, envelopes, outbox)
    await outbox.flush(conn)


def event(topic_payload: Model, *, source: str = "test/handlers", id: str | None = None,
          time: datetime | None = None, traceparent: str | None = None) -> Envelope:
    return Envelope.wrap(topic_payload, source=source, subject="test", id=id, time=time or datetime.now(UTC),
                         traceparent=traceparent)


@dataclass
class World:
    connections: dict[str, asyncpg.Connection]
    published: list[tuple[str, Envelope]] = field(default_factory=list)
    dead_letters: list[tuple[str, bytes]] = field(default_factory=list)

    async def publish(self, topic: str, payload: Model, *, settle: bool = True, **envelope: object) -> Envelope:
        """Hand the event to its readers and (unless `settle` is false, to let another event arrive
        before the consequences of this one) everything that follows from it to theirs."""
        sent = event(payload, **envelope)  # type: ignore[arg-type]
        await self._hand_on(topic, sent)
        if settle:
            await self.settle()
        return sent

    async def settle(self) -> None:
        while True:
            moved = False
            for conn in self.connections.values():
                for topic, sent in await outbox_rows(conn):
                    moved = True
                    if isinstance(sent, bytes):
                        self.dead_letters.append((topic, sent))
                        continue
                    self.published.append((topic, sent))
                    await self._hand_on(topic, sent)
            if await assignment.assign_round(self.connections["rebooking"], REBOOKING):
                moved = True
            if not moved:
                return

    async def _hand_on(self, topic: str, sent: Envelope) -> None:
        for service, routes in ROUTES.items():
            if any(topic in r.topics for r in routes):
                await handle(self.connections[service], service, topic, sent)

    def on(self, topic: str) -> list[Model]:
        """The payloads published on `topic`, in order."""
        return [e.data for t, e in self.published if t == topic]
