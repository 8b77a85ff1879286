"""The four services' handlers in one process (shared/in_process.py), with the settings of a test
run, for tests that hand events to one service at a time or follow one through them all."""

from datetime import UTC, datetime

import asyncpg

from shared import in_process
from shared.events import Envelope, Model
from shared.settings import Settings

# No batching window: a round assigns whatever is pending at once.
CONFIGS = in_process.configs("test", rebooking={"batch_window_ms": 0, "batch_max_wait_ms": 0})
ROUTES = in_process.routes(CONFIGS)
REBOOKING = CONFIGS["rebooking"]
SETTINGS = Settings(environment="test")
World = in_process.Runner
outbox_rows = in_process.take_outbox


async def handle(conn: asyncpg.Connection, service: str, topic: str, envelope: Envelope) -> bool:
    """As the service's consumer would: once per event id, its handler and its outbox in one go.
    False for an event seen before."""
    return await in_process.handle(conn, service, ROUTES[service], CONFIGS[service], topic, [envelope])


async def handle_batch(conn: asyncpg.Connection, topic: str, envelopes: list[Envelope], service: str = "compensation"
                       ) -> None:
    """As the service's consumer would with a batch of one kind of event, each new."""
    assert await in_process.handle(conn, service, ROUTES[service], CONFIGS[service], topic, envelopes)


def event(topic_payload: Model, *, source: str = "test/handlers", id: str | None = None,
          time: datetime | None = None, traceparent: str | None = None) -> Envelope:
    return in_process.event(topic_payload, source=source, subject="test", id=id, time=time or datetime.now(UTC),
                            traceparent=traceparent)
