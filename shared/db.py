"""The asyncpg pool for one service's schema, and its plain-SQL migrations."""

import asyncio
import contextlib
import functools
import json
import logging
import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import fields
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

import asyncpg

from shared.metrics import PRIMARY_REACHABLE

log = logging.getLogger(__name__)

_MESSAGING_SQL = Path(__file__).parent / "sql" / "messaging.sql"
_OUTBOX_URGENT_SQL = Path(__file__).parent / "sql" / "outbox_urgent.sql"
_DESK_SQL = Path(__file__).parent / "sql" / "desk.sql"
_PARKED_SQL = Path(__file__).parent / "sql" / "parked.sql"
_LOCKS_SQL = Path(__file__).parent / "sql" / "locks.sql"
_OWN_LOCKS_SQL = Path(__file__).parent / "sql" / "own_locks_post_deploy.sql"
KEYED_SLOTS = 4096  # shared/sql/locks.sql; the slot after them is the outbox relay's
RELAY_SLOT = KEYED_SLOTS
T = TypeVar("T")
Row = TypeVar("Row")


@functools.cache
def _field_names(cls: type) -> tuple[str, ...]:
    return tuple(f.name for f in fields(cls))


def row_of(cls: type[Row], record: asyncpg.Record) -> Row:
    """A typed row (a frozen dataclass) from a record: the columns its fields name; others the
    query returned are left out."""
    dataclass: type = cls  # the fields' names are read once per class
    values: dict[str, Any] = {name: record[name] for name in _field_names(dataclass)}
    return cls(**values)


async def create_database(admin_url: str, name: str) -> str:
    """A new, empty database of this name; its URL (`admin_url`'s, on it) once a connection to it
    succeeds. On a cluster a replica may not have applied the CREATE yet when a client that lists
    every node tries it first, and asyncpg does not try the next node past "no such database"."""
    admin = await asyncpg.connect(admin_url)
    try:
        await admin.execute(f"CREATE DATABASE {identifier(name)}")
    finally:
        await admin.close()
    url = on_database(admin_url, name)
    for attempt in range(100):
        try:
            await (await asyncpg.connect(url)).close()
            break
        except asyncpg.InvalidCatalogNameError:
            if attempt == 99:
                raise
            await asyncio.sleep(0.1)
    return url


@contextlib.asynccontextmanager
async def scratch_database(admin_url: str, name: str) -> AsyncIterator[str]:
    """A database of this name, created empty and dropped after (its sessions ended); its URL.
    `admin_url`: a role that may create databases."""
    url = await create_database(admin_url, name)
    try:
        yield url
    finally:
        admin = await asyncpg.connect(admin_url)
        try:
            await admin.execute(f"DROP DATABASE IF EXISTS {identifier(name)} WITH (FORCE)")
        finally:
            await admin.close()


def on_database(url: str, name: str) -> str:
    """The same connection (every host, every option) to another database of the same server."""
    return urlunsplit(urlsplit(url)._replace(path=f"/{name}"))


# Failures that say nothing about the work: PostgreSQL went away, is restarting, no node is the
# primary just now (a failover), or two transactions met. The work is rolled back and can be
# tried again as it is.
CONFLICTS = (asyncpg.exceptions.SerializationError, asyncpg.exceptions.DeadlockDetectedError)
TRANSIENT = (
    OSError,
    asyncpg.InterfaceError,
    *CONFLICTS,
    asyncpg.exceptions.PostgresConnectionError,  # class 08: the connection failed or was lost
    asyncpg.exceptions.OperatorInterventionError,  # class 57: shut down, crashed, starting up
    asyncpg.TargetServerAttributeNotMatched,  # every node listed is a replica: a failover under way
    asyncpg.exceptions.ReadOnlySQLTransactionError,  # the node was the primary when connected
)


async def init_connection(conn: asyncpg.Connection) -> None:
    await conn.set_type_codec("jsonb", encoder=json.dumps, decoder=json.loads, schema="pg_catalog")


async def until_primary(connect: Callable[[], Awaitable[T]], service: str) -> T:
    """`connect()` (a migration, a pool) once a primary takes it: while none does (PostgreSQL
    down, or a failover under way) the service waits and says so, rather than exit and be started
    again and again."""
    pause, since = 0.2, time.monotonic()
    while True:
        try:
            return await connect()
        except TRANSIENT as exc:
            PRIMARY_REACHABLE.labels(service).set(0)
            log.warning("no primary database reachable; waiting",
                        extra={"error": repr(exc), "waited_s": round(time.monotonic() - since, 1)})
            await asyncio.sleep(pause)
            pause = min(pause * 2, 2.0)


class PrimaryWatch:
    """Whether the service reaches a primary now, asked once a second on a connection of its own
    (not the pool's: a busy pool is no sign of a lost primary). The database URL lists every node
    with target_session_attrs=read-write, so whichever node is primary is the one reached."""

    def __init__(self, database_url: str, service: str, every_s: float = 1.0) -> None:
        self._url, self._service, self._every_s = database_url, service, every_s
        self._conn: asyncpg.Connection | None = None
        self.reachable = True  # the service started on a primary

    async def run(self) -> None:
        try:
            while True:
                await self.look()
                await asyncio.sleep(self._every_s)
        finally:
            if self._conn is not None:
                await self._conn.close()

    async def look(self) -> bool:
        """Ask once; say so in `reachable`, the metric and (when it changed) the log."""
        reachable = await self._ask()
        if reachable != self.reachable:
            (log.info if reachable else log.warning)(
                "primary database reachable again" if reachable else "no primary database reachable: not ready",
                extra={"service": self._service})
        self.reachable = reachable
        PRIMARY_REACHABLE.labels(self._service).set(int(reachable))
        return reachable

    async def _ask(self) -> bool:
        try:
            async with asyncio.timeout(2):
                if self._conn is None or self._conn.is_closed():
                    self._conn = await asyncpg.connect(self._url)
                return not await self._conn.fetchval("SELECT pg_is_in_recovery()")
        except (TimeoutError, *TRANSIENT, asyncpg.PostgresError):
            if self._conn is not None:
                self._conn.terminate()
            self._conn = None
            return False


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


# Whether a replica of the previous release may still run on this schema (its post-deploy
# migrations are pending): set at start-up from `migrate`'s answer. The previous release took
# advisory locks where this one takes row locks, so until then both are taken where it matters.
beside_previous_release = False


async def lock(conn: asyncpg.Connection, keys: Sequence[str]) -> None:
    """Hold the service's own locks named by `keys` until the transaction ends, taken in one order
    for everyone, so two transactions locking several never wait on each other
    (shared/sql/locks.sql: why not advisory locks)."""
    await conn.execute(_LOCK_KEYS, list(keys))


async def try_lock_relay(conn: asyncpg.Connection) -> bool:
    """The outbox relay's own lock, until the transaction ends, if no other replica holds it."""
    return bool(await conn.fetchval("SELECT true FROM locks WHERE slot = $1 FOR UPDATE SKIP LOCKED", RELAY_SLOT))


_LOCK_KEYS = f"""SELECT FROM locks WHERE slot IN (SELECT hashtext(k) & {KEYED_SLOTS - 1} FROM unnest($1::text[]) AS k)
                  ORDER BY slot FOR UPDATE"""


def identifier(name: str) -> str:
    """A schema name (a service's, from code) for SQL text, where no parameter can stand."""
    if not re.fullmatch(r"[a-z][a-z0-9_]*", name):
        raise ValueError(f"not a plain identifier: {name!r}")
    return f'"{name}"'


POST_DEPLOY = "post_deploy"


async def migrate(database_url: str, schema: str, migrations: Path, *, post_deploy: bool = False,
                  as_role: str | None = None) -> list[str]:
    """Create the schema and apply, once each and in name order, the shared messaging, audit and parked tables and
    the service's own `NNN_*.sql` files. A lock on the schema's own migrations table serialises
    replicas starting at once (not an advisory lock, which any role could hold).

    A change the previous release's code cannot run beside (it names a key this release drops) is
    made in two halves, expand and contract, as a rolling upgrade needs: the contract half is a
    post-deploy migration, `post_deploy/NNN_*.sql`. Those are applied at once to a new schema, where
    no earlier release ever ran; to any other only when asked (`post_deploy`, which
    `python -m deploy.post_deploy` passes once every replica runs this release). Returns the
    post-deploy migrations still pending. `as_role`: a role the connection's user is a member of, to act as
    (an admin migrating for a service, so what it makes stays the service's role's)."""
    conn = await asyncpg.connect(database_url)
    try:
        for attempt in range(3):
            try:
                return await _migrate(conn, schema, migrations, post_deploy, as_role)
            except (asyncpg.UniqueViolationError, asyncpg.DuplicateSchemaError, asyncpg.DuplicateTableError):
                if attempt == 2:  # two replicas made the schema or its table at once: the loser tries again
                    raise
        raise AssertionError("unreachable")
    finally:
        await conn.close()


async def _migrate(conn: asyncpg.Connection, schema: str, migrations: Path, post_deploy: bool,
                   as_role: str | None) -> list[str]:
    async with conn.transaction():
        if as_role:
            await conn.execute(f"SET LOCAL ROLE {identifier(as_role)}")
        # Where the deployment made the schema for the service's own role, that role has no
        # right to create one (deploy/postgres_access.py): only a missing schema is created.
        if not await conn.fetchval("SELECT 1 FROM pg_namespace WHERE nspname = $1", schema):
            await conn.execute(f"CREATE SCHEMA {identifier(schema)}")
        await conn.execute(f"SET LOCAL search_path TO {identifier(schema)}")
        await conn.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations ("
            " name text PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())"
        )
        await conn.execute("LOCK TABLE schema_migrations IN SHARE ROW EXCLUSIVE MODE")
        applied = {r["name"] for r in await conn.fetch("SELECT name FROM schema_migrations")}
        files = [("000_messaging.sql", _MESSAGING_SQL), ("000_desk.sql", _DESK_SQL),
                 ("000_parked.sql", _PARKED_SQL), ("000_locks.sql", _LOCKS_SQL),
                 ("000_outbox_urgent.sql", _OUTBOX_URGENT_SQL)]
        files += [(p.name, p) for p in sorted(migrations.glob("*.sql"))]
        contract = [(f"{POST_DEPLOY}/000_own_locks.sql", _OWN_LOCKS_SQL)]
        contract += [(f"{POST_DEPLOY}/{p.name}", p) for p in sorted((migrations / POST_DEPLOY).glob("*.sql"))]
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


@contextlib.asynccontextmanager
async def notifications(database_url: str, channel: str, heard: Callable[[str], None] | None = None
                        ) -> AsyncIterator[Callable[[float], Awaitable[None]]]:
    """Yields `wait(at_most)`, which returns as soon as PostgreSQL NOTIFYs `channel` (or has since
    the last wait), or after `at_most` seconds: a polling loop that reacts at once. `heard` is
    given each notification's payload."""
    woken = asyncio.Event()
    conn: asyncpg.Connection | None = None

    def notified(_conn: object, _pid: int, _channel: str, payload: str) -> None:
        if heard is not None:
            heard(payload)
        woken.set()

    async def listen() -> None:
        nonlocal conn
        conn = await asyncpg.connect(database_url)
        await conn.add_listener(channel, notified)

    await listen()

    async def wait(at_most: float) -> None:
        if conn is None or conn.is_closed():
            # PostgreSQL restarted: listen again, and look once now for what was missed meanwhile.
            try:
                await listen()
            except (*TRANSIENT, asyncpg.PostgresError):  # no primary yet: a failover under way
                await asyncio.sleep(min(at_most, 1.0))
            return
        # Not wait_for: on Python 3.11 a cancellation that meets its timeout can be lost, and a
        # sender told to stop would wait on.
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(at_most):
                await woken.wait()
        woken.clear()

    try:
        yield wait
    finally:
        if conn is not None and not conn.is_closed():
            await conn.close()
