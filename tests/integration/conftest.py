"""One stack of the four services (separate processes, real Kafka and PostgreSQL) for the
whole integration run, and helpers to watch it."""

import asyncio
import time

import httpx
import pytest

from services.disruption.partners import DEVELOPMENT_PARTNER_KEYS
from shared import signing
from shared.settings import Settings
from tests.integration.harness import Stack

API_KEY = "integration-test-key"
# A second partner, to be throttled without throttling the first.
FLOOD_PARTNER_KEY = ("flood-1", "flood-secret")
RATE_PER_SECOND, BURST = 20, 60
# The demo partner's next key, valid beside its current one while it rotates.
ROTATED_DEMO_KEY = ("demo-next", "next-secret")


@pytest.fixture(scope="session")
def stack(environment, tmp_path_factory):
    partner_keys = (f"{DEVELOPMENT_PARTNER_KEYS},flood:flood-1:{signing.key_digest('flood-secret')},"
                    f"demo:{ROTATED_DEMO_KEY[0]}:{signing.key_digest(ROTATED_DEMO_KEY[1])}")
    stack = Stack(env=environment.as_env() | {
        "REBOUND_API_KEYS": API_KEY, "REBOUND_PARTNER_KEYS": partner_keys,
        "REBOUND_PARTNER_RATE_PER_SECOND": str(RATE_PER_SECOND), "REBOUND_PARTNER_BURST": str(BURST),
    }, logs=tmp_path_factory.mktemp("services"))
    try:
        yield stack.start()
    finally:
        stack.stop()


@pytest.fixture(scope="session")
def settings(environment) -> Settings:
    return Settings(kafka_bootstrap=environment.kafka_bootstrap,
                    database_url=environment.database_url, topic_prefix=environment.topic_prefix)


async def sent_messages(stack: Stack) -> tuple[list[dict], list[dict]]:
    async with httpx.AsyncClient(base_url=stack.url("sms")) as client:
        return (await client.get("/v1/sms")).json(), (await client.get("/v1/mail")).json()


async def eventually(check, within_seconds: float = 30, every: float = 0.2):
    deadline = time.monotonic() + within_seconds
    while True:
        result = await check()
        if result or time.monotonic() > deadline:
            return result
        await asyncio.sleep(every)
