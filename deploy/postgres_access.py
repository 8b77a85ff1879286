"""One PostgreSQL role per service: each owns its own schema and can reach no other, and nobody
else may connect to the database. The deployment's admin role (the database's owner, made a
member of each service role) prepares a database before the services first start:

    python -m deploy.postgres_access        (REBOUND_DATABASE_URL: the admin's connection;
                                             REBOUND_<SERVICE>_DATABASE_PASSWORD: each role's)

Each service then connects as `rebound_<service>` with its own password (SCRAM-SHA-256): in
development the ones below, in production whatever REBOUND_DATABASE_URL gives it."""

import asyncio
import os
from urllib.parse import quote, urlsplit, urlunsplit

import asyncpg

from shared.db import identifier
from shared.settings import DEVELOPMENT_DATABASE_URL

SERVICES = ("disruption", "rebooking", "compensation", "notify")


def role(service: str) -> str:
    return f"rebound_{service}"


def development_password(service: str) -> str:
    return f"dev-only-{service}-db"


def service_url(admin_url: str, service: str, password: str | None = None) -> str:
    """The admin's connection URL with the service's role and password in it instead."""
    parts = urlsplit(admin_url)
    host = parts.netloc.rpartition("@")[2]
    secret = quote(password or development_password(service), safe="")
    return urlunsplit(parts._replace(netloc=f"{role(service)}:{secret}@{host}"))


async def prepare(admin_url: str, passwords: dict[str, str] | None = None) -> None:
    """Idempotent. Roles missing from the cluster are created (where the admin may create roles;
    the local scripts create them beforehand)."""
    conn = await asyncpg.connect(admin_url)
    try:
        database = await conn.fetchval("SELECT current_database()")
        for service in SERVICES:
            name = role(service)
            if not await conn.fetchval("SELECT 1 FROM pg_roles WHERE rolname = $1", name):
                try:
                    password = (passwords or {}).get(service) or development_password(service)
                    # A utility statement takes no parameters: the password is quoted as a literal.
                    await conn.execute(f"CREATE ROLE {identifier(name)} LOGIN PASSWORD "
                                       f"{await conn.fetchval('SELECT quote_literal($1)', password)}")
                except asyncpg.DuplicateObjectError:
                    pass  # another session made it first
            if not await conn.fetchval("SELECT pg_has_role(current_user, $1, 'MEMBER')", name):
                await conn.execute(f"GRANT {identifier(name)} TO CURRENT_USER")
            await conn.execute(f"GRANT CONNECT ON DATABASE {identifier(database)} TO {identifier(name)}")
            await conn.execute(f"CREATE SCHEMA IF NOT EXISTS {identifier(service)} AUTHORIZATION {identifier(name)}")
        await conn.execute(f"REVOKE ALL ON DATABASE {identifier(database)} FROM PUBLIC")
        await conn.execute("REVOKE ALL ON SCHEMA public FROM PUBLIC")
    finally:
        await conn.close()


def passwords_from_environment(production: bool) -> dict[str, str]:
    """Each service role's password, REBOUND_<SERVICE>_DATABASE_PASSWORD, for a role not made yet:
    all four required in production, where a development password would be a known one."""
    passwords = {s: os.environ[f"REBOUND_{s.upper()}_DATABASE_PASSWORD"] for s in SERVICES
                 if os.environ.get(f"REBOUND_{s.upper()}_DATABASE_PASSWORD")}
    missing = [f"REBOUND_{s.upper()}_DATABASE_PASSWORD" for s in SERVICES if s not in passwords]
    if production and missing:
        raise SystemExit(f"in production these must be set: {', '.join(missing)}")
    return passwords


def main() -> None:
    # Not the services' Settings: preparing a database needs the admin's connection, not their keys.
    production = os.environ.get("REBOUND_ENVIRONMENT", "production") not in ("development", "test")
    url = os.environ.get("REBOUND_DATABASE_URL") or ("" if production else DEVELOPMENT_DATABASE_URL)
    if not url:
        raise SystemExit("set REBOUND_DATABASE_URL: the admin's connection")
    asyncio.run(prepare(url, passwords_from_environment(production)))


if __name__ == "__main__":
    main()
