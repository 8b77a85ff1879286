"""The handler tier: real PostgreSQL, each test in transactions rolled back, no Kafka."""

import uuid
from collections.abc import AsyncIterator

import asyncpg
import pytest

from shared import in_process
from tests.conftest import Infrastructure, fresh_database
from tests.handlers.world import CONFIGS, World


@pytest.fixture(scope="session")
async def handler_database(infrastructure: Infrastructure) -> AsyncIterator[str]:
    """A database of its own with every service's schema, migrated, for the whole session."""
    async with fresh_database(infrastructure, f"rebound_handlers_{uuid.uuid4().hex[:10]}") as url:
        await in_process.migrate(url)
        yield url


@pytest.fixture
async def connections(handler_database: str) -> AsyncIterator[dict[str, asyncpg.Connection]]:
    """A connection per service, on its own schema, each in a transaction undone after the test."""
    async with in_process.connections(handler_database) as opened:
        yield opened


@pytest.fixture
def world(connections: dict[str, asyncpg.Connection]) -> World:
    return World(connections, CONFIGS)
