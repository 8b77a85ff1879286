"""The contract half of this release's schema changes, once every replica runs this release:

    python -m deploy.post_deploy <service> [<service> ...]
        (REBOUND_DATABASE_URL: the admin's connection, a member of each service's role)

A rolling upgrade runs the previous release beside this one, so a migration that drops what the
previous release's SQL still names waits in `services/<service>/migrations/post_deploy/` until it
is run here (shared/db.py: migrate). Run it after the rollout has finished, never during it; a
schema no earlier release ran on had it applied at once."""

import argparse
import asyncio
import os
from pathlib import Path

from deploy.postgres_access import SERVICES, role
from shared import db
from shared.settings import DEVELOPMENT_DATABASE_URL

ROOT = Path(__file__).resolve().parents[1]


async def post_deploy(admin_url: str, services: list[str]) -> None:
    for service in services:
        # As the service's own role, so what it makes stays the service's.
        pending = await db.migrate(admin_url, service, ROOT / "services" / service / "migrations",
                                   post_deploy=True, as_role=role(service))
        print(f"{service}: post-deploy migrations applied" + (f"; still pending {pending}" if pending else ""))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("services", nargs="+", choices=SERVICES)
    args = parser.parse_args()
    production = os.environ.get("REBOUND_ENVIRONMENT", "production") not in ("development", "test")
    url = os.environ.get("REBOUND_DATABASE_URL") or ("" if production else DEVELOPMENT_DATABASE_URL)
    if not url:
        raise SystemExit("set REBOUND_DATABASE_URL: the admin's connection")
    asyncio.run(post_deploy(url, args.services))


if __name__ == "__main__":
    main()
