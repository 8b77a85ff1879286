"""Forget everything the local services hold, so a replay starts from nothing (`make demo` runs it
with the services stopped): each service's schema, Rebound's topics (Kafka drops the consumer
groups' offsets of a deleted topic with it), and the sandbox providers' logs.

    python -m bench.reset
"""

import asyncio
import time
from pathlib import Path

import asyncpg
from aiokafka.admin import AIOKafkaAdminClient

from bench.stack import ROOT
from deploy import postgres_access
from shared import topics
from shared.settings import Settings

SCHEMAS = ("disruption", "rebooking", "compensation", "notify")


async def reset(settings: Settings, sandbox: Path) -> None:
    conn = await asyncpg.connect(settings.database_url)
    try:
        for schema in SCHEMAS:
            await conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
    finally:
        await conn.close()
    await postgres_access.prepare(settings.database_url)  # each schema again, owned by its service's role
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)
    await admin.start()
    try:
        ours = {topics.name(settings, t) for topic in topics.ALL for t in (topic, topics.dead_letter(topic))}
        doomed = sorted(ours & set(await admin.list_topics()))
        if doomed:
            await admin.delete_topics(doomed)
            deadline = time.monotonic() + 60
            while set(doomed) & set(await admin.list_topics()):  # deletion is asynchronous
                if time.monotonic() > deadline:
                    raise TimeoutError(f"Kafka did not delete {doomed}")
                await asyncio.sleep(0.5)
    finally:
        await admin.close()
    for log in sandbox.glob("*.jsonl"):
        log.unlink()
    print(f"reset: schemas {', '.join(SCHEMAS)}, {len(doomed)} topics, the sandbox logs")


if __name__ == "__main__":
    asyncio.run(reset(Settings(), ROOT / ".local" / "sandbox"))
