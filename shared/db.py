"""The asyncpg pool for one service's schema, and its plain-SQL migrations."""

import asyncio
import contextlib
import json
import logging
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import TypeVar

import asyncpg

log = logging.getLogger(__name__)

_MESSAGING_SQL = Path(__file__).parent / "sql" / "messaging.sql"
_DESK_SQL = Path(__file__).parent / "sql" / "desk.sql"
_PARKED_SQL = Path(__file__).parent / "sql" / "parked.sql"
T = TypeVar("T")

# Failures that say nothing about the work: PostgreSQL went away, is restarting, or two
# transactions met. The work is rolled back and can be tried again as it is.
CONFLICTS = (asyncpg.exceptions.SerializationError, asyncpg.exceptions.DeadlockDetectedError)
TRANSIENT = (
    OSError,
    asyncpg.InterfaceError,
    *CONFLICTS,
    asyncpg.exceptions.PostgresConnectionError,  # class 08: the connection failed or was lost
    asyncpg.exceptions.OperatorInterventionError,  # class 57: shut down, crashed, starting up
)


async def init_connection(conn: asyncpg.Connection) -> None:
    await conn.set_type_codec("jsonb", encoder=json.dumps, decoder=json.loads, schema="pg_catalog")


async def create_pool(database_url: str, schema: str, *, min_size: int = 2,
                      max_size: int = 10) -> asyncpg.Pool:
    pool = await asyncpg.create_pool(
        database_url, min_size=min_size, max_size=max_size, init=init_connection,
        server_settings={"search_path": schema, "application_name": f"rebound-{schema}"},
    )
    assert pool is not None
    return pool


async def until_committed(pool: asyncpg.Pool, work: Callable[[asyncpg.Connection], Awaitable[T]]) -> T:
    """Run `work` in a transaction, again through transient failures until it commits. For the
    record of something already done outside (a message a provider accepted, a payout paid): lost
    with a connection, it would be done again."""
    pause = 0.2
    while True:
        try:
            async with pool.acquire() as conn, conn.transaction():
                return await work(conn)
        except TRANSIENT as exc:
            log.warning("recording failed; trying again", extra={"error": repr(exc)})
            if not isinstance(exc, CONFLICTS):
                await pool.expire_connections()
            await asyncio.sleep(pause)
            pause = min(pause * 2, 2.0)


def identifier(name: str) -> str:
    """A schema name (a service's, from code) for SQL text, where no parameter can stand."""
    if not re.fullmatch(r"[a-z][a-z0-9_]*", name):
        raise ValueError(f"not a plain identifier: {name!r}")
    return f'"{name}"'


POST_DEPLOY = "post_deploy"


async def migrate(database_url: str, schema: str, migrations: Path, *, post_deploy: bool = False,
                  as_role: str | None = None) -> list[str]:
    """Create the schema and apply, once each and in name order, the shared messaging, audit and parked tables and
    the service's own `NNN_*.sql` files. An advisory lock serialises replicas starting at once.

    A change the previous release's code cannot run beside (it names a key this release drops) is
    made in two halves, expand and contract, as a rolling upgrade needs: the contract half is a
    post-deploy migration, `post_deploy/NNN_*.sql`. Those are applied at once to a new schema, where
    no earlier release ever ran; to any other only when asked (`post_deploy`, which
    `python -m deploy.post_deploy` passes once every replica runs this release). Returns the
    post-deploy migrations still pending. `as_role`: a role the connection's user is a member of, to act as
    (an admin migrating for a service, so what it makes stays the service's role's)."""
    conn = await asyncpg.connect(database_url)
    try:
        async with conn.transaction():
            if as_role:
                await conn.execute(f"SET LOCAL ROLE {identifier(as_role)}")
            await conn.execute("SELECT pg_advisory_xact_lock(hashtext($1))", f"migrate:{schema}")
            # Where the deployment made the schema for the service's own role, that role has no
            # right to create one (deploy/postgres_access.py): only a missing schema is created.
            if not await conn.fetchval("SELECT 1 FROM pg_namespace WHERE nspname = $1", schema):
                await conn.execute(f"CREATE SCHEMA {identifier(schema)}")
            await conn.execute(f"SET LOCAL search_path TO {identifier(schema)}")
            await conn.execute(
                "CREATE TABLE IF NOT EXISTS schema_migrations ("
                " name text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"
            )
            applied = {r["name"] for r in await conn.fetch("SELECT name FROM schema_migrations")}
            files = [("000_messaging.sql", _MESSAGING_SQL), ("000_desk.sql", _DESK_SQL),
                     ("000_parked.sql", _PARKED_SQL)]
            files += [(p.name, p) for p in sorted(migrations.glob("*.sql"))]
            contract = [(f"{POST_DEPLOY}/{p.name}", p) for p in sorted((migrations / POST_DEPLOY).glob("*.sql"))]
            if post_deploy or not applied:
                files += contract
            for name, path in files:
                if name in applied:
                    continue
                await conn.execute(path.read_text())
                await conn.execute("INSERT INTO schema_migrations (name) VALUES ($1)", name)
                log.info("migration applied", extra={"schema": schema, "migration": name})
                applied.add(name)
            pending = [name for name, _ in contract if name not in applied]
            if pending:
                log.warning("post-deploy migrations pending: run python -m deploy.post_deploy once every replica"
                            " runs this release", extra={"schema": schema, "migrations": pending})
            return pending
    finally:
        await conn.close()


@contextlib.asynccontextmanager
async def notifications(database_url: str, channel: str) -> AsyncIterator[Callable[[float], Awaitable[None]]]:
    """Yields `wait(at_most)`, which returns as soon as PostgreSQL NOTIFYs `channel` (or has since
    the last wait), or after `at_most` seconds: a polling loop that reacts at once."""
    woken = asyncio.Event()
    conn: asyncpg.Connection | None = None

    async def listen() -> None:
        nonlocal conn
        conn = await asyncpg.connect(database_url)
        await conn.add_listener(channel, lambda *_: woken.set())

    await listen()

    async def wait(at_most: float) -> None:
        if conn is None or conn.is_closed():
            # PostgreSQL restarted: listen again, and look once now for what was missed meanwhile.
            try:
                await listen()
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
                await asyncio.sleep(min(at_most, 1.0))
            return
        try:
            await asyncio.wait_for(woken.wait(), timeout=at_most)
        except TimeoutError:
            pass
        woken.clear()

    try:
        yield wait
    finally:
        if conn is not None and not conn.is_closed():
            await conn.close()
