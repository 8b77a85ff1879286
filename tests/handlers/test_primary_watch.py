"""A service and its database's primary, on real PostgreSQL: the database URL may list every node
of a cluster with target_session_attrs=read-write, and a node that takes no writes (a replica, or
the old primary during a failover) is refused on connecting, as asyncpg and libpq both do. Such a
node is made here by asking for read-only sessions (`default_transaction_read_only`), which the
read-write check refuses exactly as it refuses a standby."""

from urllib.parse import quote

import asyncpg
import pytest

from shared import db
from shared.metrics import PRIMARY_REACHABLE

pytestmark = pytest.mark.handlers


def only_replicas(url: str) -> str:
    """The same server, as a cluster whose every node is a replica looks to a read-write client."""
    options = quote("-c default_transaction_read_only=on")
    return f"{url}{'&' if '?' in url else '?'}target_session_attrs=read-write&options={options}"


async def test_a_primary_reachable_is_ready_and_none_is_not(handler_database: str) -> None:
    nothing = db.PrimaryWatch("postgresql://rebound:rebound@127.0.0.1:1/rebound", "watch-test")
    assert await nothing.look() is False


async def test_the_watch_says_not_ready_while_no_node_takes_writes_and_ready_once_one_does(
        handler_database: str) -> None:
    gauge = PRIMARY_REACHABLE.labels("watch-test")
    lost = db.PrimaryWatch(only_replicas(handler_database), "watch-test")
    assert await lost.look() is False
    assert lost.reachable is False and gauge._value.get() == 0
    back = db.PrimaryWatch(handler_database, "watch-test")
    assert await back.look() is True
    assert back.reachable is True and gauge._value.get() == 1


async def test_a_starting_service_waits_for_a_primary_instead_of_exiting(handler_database: str) -> None:
    """Three refusals (no node takes writes, then the old primary's connection lost), then the
    new primary: the service's start goes on, and meanwhile the metric says 0."""
    refusals = [asyncpg.TargetServerAttributeNotMatched("no node takes writes"),
                ConnectionRefusedError(111, "the old primary's port"),
                asyncpg.exceptions.ReadOnlySQLTransactionError("cannot execute CREATE in a read-only transaction")]
    gauge = PRIMARY_REACHABLE.labels("start-test")
    gauge.set(1)
    seen = []

    async def connect() -> str:
        seen.append(gauge._value.get())
        if refusals:
            raise refusals.pop(0)
        conn = await asyncpg.connect(handler_database)
        try:
            return str(await conn.fetchval("SELECT 'primary'"))
        finally:
            await conn.close()

    assert await db.until_primary(connect, "start-test") == "primary"
    assert seen == [1, 0, 0, 0]


async def test_a_failure_that_is_not_about_the_primary_is_not_waited_on(handler_database: str) -> None:
    async def connect() -> None:
        raise asyncpg.UndefinedTableError("relation does not exist")

    with pytest.raises(asyncpg.UndefinedTableError):
        await db.until_primary(connect, "start-test")
