"""Kafka and PostgreSQL for the tests, from the first of these that applies:

1. REBOUND_TEST_KAFKA_BOOTSTRAP and REBOUND_TEST_DATABASE_URL, when set (e.g. CI with services);
2. REBOUND_TEST_INFRA=containers (`make test-containers`): containers of the project's own Kafka
   and PostgreSQL images (deploy/containers/), run by testcontainers without Ryuk, whose image
   would come from a registry: each container is removed when the session ends;
3. otherwise the project's own scripts (deploy/local/infra.sh): Kafka from Maven Central jars and
   Debian's PostgreSQL, started if not already running.

Each test session gets its own database and topic prefix, so it never meets the demo's data."""

import contextlib
import os
import subprocess
import uuid

# Settings read without an environment are production's, which refuses every development secret.
os.environ.setdefault("REBOUND_ENVIRONMENT", "test")
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from aiokafka.admin import AIOKafkaAdminClient
from hypothesis import settings as hypothesis_settings

from deploy import postgres_access
from shared import db

ROOT = Path(__file__).resolve().parent.parent

# `make test` draws the same examples every run, so a red build points at a change, not at luck;
# `make fuzz` (--hypothesis-profile=fuzz) draws fresh ones, many more, to find what those miss.
hypothesis_settings.register_profile("repeatable", derandomize=True, database=None, print_blob=True)
hypothesis_settings.register_profile("fuzz", max_examples=3000, deadline=None, print_blob=True)
hypothesis_settings.load_profile("repeatable")


@dataclass(frozen=True)
class Infrastructure:
    kafka_bootstrap: str
    admin_database_url: str  # a role that may create databases


@contextlib.contextmanager
def _containers() -> Iterator[Infrastructure]:
    """Kafka and PostgreSQL from the images `deploy/containers/engine.sh images` builds, each on a
    host port Docker picks (nothing chosen here can be taken meanwhile)."""
    os.environ["TESTCONTAINERS_RYUK_DISABLED"] = "true"
    from testcontainers.core.container import DockerContainer
    from testcontainers.core.wait_strategies import HealthcheckWaitStrategy

    def on_loopback(container: DockerContainer, port: int) -> DockerContainer:
        # Published on 127.0.0.1 only (docker-py's (address,) binding), on a port Docker picks.
        container.ports[f"{port}/tcp"] = ("127.0.0.1",)  # type: ignore[assignment]
        return container

    password = uuid.uuid4().hex
    kafka = on_loopback(DockerContainer("rebound/kafka:dev"), 19092).with_env(
        "KAFKA_HOST_PORT_FILE", "/var/lib/kafka/host-port")
    postgres = on_loopback(DockerContainer("rebound/postgres:dev"), 5432).with_env(
        "REBOUND_POSTGRES_PASSWORD", password)
    with kafka, postgres:
        # Kafka advertises the host's port to clients, so it waits to be told it.
        port = kafka.get_exposed_port(19092)
        kafka.exec(["bash", "-c", f"echo {port} > /var/lib/kafka/host-port"])
        for container in (kafka, postgres):
            HealthcheckWaitStrategy().with_startup_timeout(180).wait_until_ready(container)
        yield Infrastructure(f"127.0.0.1:{port}",
                             f"postgresql://rebound:{password}@127.0.0.1:{postgres.get_exposed_port(5432)}/rebound")


@pytest.fixture(scope="session")
def infrastructure() -> Iterator[Infrastructure]:
    kafka, database = (os.environ.get("REBOUND_TEST_KAFKA_BOOTSTRAP"),
                       os.environ.get("REBOUND_TEST_DATABASE_URL"))
    if kafka and database:
        yield Infrastructure(kafka, database)
    elif os.environ.get("REBOUND_TEST_INFRA") == "containers":
        with _containers() as infrastructure:
            yield infrastructure
    else:
        subprocess.run([ROOT / "deploy/local/infra.sh", "start"], check=True)
        kafka_port = os.environ.get("REBOUND_KAFKA_PORT", "19092")
        # Every node of a PostgreSQL cluster (REBOUND_POSTGRES_NODES), the primary chosen on connecting.
        database = subprocess.run([ROOT / "deploy/local/infra.sh", "database-url"], check=True,
                                  stdout=subprocess.PIPE, text=True).stdout.strip()
        yield Infrastructure(f"127.0.0.1:{kafka_port}", database)


@dataclass(frozen=True)
class Environment:
    kafka_bootstrap: str
    database_url: str
    topic_prefix: str

    def as_env(self) -> dict[str, str]:
        return {"REBOUND_KAFKA_BOOTSTRAP": self.kafka_bootstrap,
                "REBOUND_DATABASE_URL": self.database_url,
                "REBOUND_TOPIC_PREFIX": self.topic_prefix,
                "REBOUND_ENVIRONMENT": "test"}


@contextlib.asynccontextmanager
async def fresh_database(infrastructure: Infrastructure, name: str) -> AsyncIterator[str]:
    """A database of this name, created empty and dropped after; its URL."""
    async with db.scratch_database(infrastructure.admin_database_url, name) as url:
        yield url


@pytest.fixture(scope="session")
async def environment(infrastructure: Infrastructure) -> AsyncIterator[Environment]:
    """A fresh database and topic prefix for this session, removed after it."""
    run = uuid.uuid4().hex[:10]
    prefix = f"test-{run}."
    async with fresh_database(infrastructure, f"rebound_test_{run}") as url:
        await postgres_access.prepare(url)  # a role and a schema per service
        yield Environment(infrastructure.kafka_bootstrap, url, prefix)
        await delete_topics(infrastructure, prefix)


async def delete_topics(infrastructure: Infrastructure, prefix: str) -> None:

    kafka = AIOKafkaAdminClient(bootstrap_servers=infrastructure.kafka_bootstrap)
    await kafka.start()
    try:
        ours = [t for t in await kafka.list_topics() if t.startswith(prefix)]
        if ours:
            await kafka.delete_topics(ours)
    finally:
        await kafka.close()
