"""The handler tier: real PostgreSQL, each test in transactions rolled back, no Kafka."""

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest

from shared import db
from shared.system import SERVICES
from tests.conftest import Infrastructure, fresh_database
from tests.handlers.world import CONFIGS, World

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
async def handler_database(infrastructure: Infrastructure) -> AsyncIterator[str]:
    """A database of its own with every service's schema, migrated, for the whole session."""
    async with fresh_database(infrastructure, f"rebound_handlers_{uuid.uuid4().hex[:10]}") as url:
        for service in SERVICES:
            await db.migrate(url, service, ROOT / "services" / service / "migrations")
        yield url


@pytest.fixture
async def connections(handler_database: str) -> AsyncIterator[dict[str, asyncpg.Connection]]:
    """A connection per service, on its own schema, each in a transaction undone after the test."""
    opened: dict[str, asyncpg.Connection] = {}
    transactions = []
    try:
        for service in SERVICES:
            conn = await asyncpg.connect(handler_database, server_settings={"search_path": service})
            await db.init_connection(conn)
            opened[service] = conn
            transaction = conn.transaction()
            await transaction.start()
            transactions.append(transaction)
        yield opened
    finally:
        for transaction in transactions:
            await transaction.rollback()
        for conn in opened.values():
            await conn.close()


@pytest.fixture
def world(connections: dict[str, asyncpg.Connection]) -> World:
    return World(connections, CONFIGS)
