"""The wiring every service shares: a FastAPI app whose lifespan creates the topics, migrates the
schema, opens the pool, and runs a consumer loop for each of the service's consumer groups and the
outbox relay beside the HTTP API. The groups and the migrations are the service's in the system's
declaration (shared/system.py)."""

import asyncio
import contextlib
import functools
import logging
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Annotated, Any, Generic, TypeVar

import asyncpg
from aiokafka import AIOKafkaProducer
from fastapi import Depends, FastAPI, Request

from shared import db, failpoints, kafka, logs, parked, system, topics
from shared.backlog import FirstNoticeBacklog
from shared.consumer import ConsumerLoop
from shared.http import BodyLimit, GatedRoute, NoStore, install_operational_routes, install_problem_handlers
from shared.outbox import OutboxRelay
from shared.settings import Access, Settings

log = logging.getLogger(__name__)

C = TypeVar("C")


@dataclass
class Service(Generic[C]):
    """One running service: its settings parsed once into `config`, its background work, and (once
    started) its pool, consumers, relay and producer."""

    name: str
    settings: Settings
    config: C
    # False for a process that consumes nothing (disruption's console alone).
    consumes: bool = True
    # Background work besides its declared queues' workers (e.g. disruption's gauges), started
    # after the pool.
    background: list[Callable[["Service[C]"], Awaitable[None]]] = field(default_factory=list)
    pool: asyncpg.Pool | None = None
    # One per consumer group, by what it is for.
    consumers: dict[str, ConsumerLoop] = field(default_factory=dict)
    relay: OutboxRelay | None = None
    # The one idempotent acks=all producer: the outbox relay's, and the ingest API's where a
    # caller must hear "durably accepted".
    producer: AIOKafkaProducer | None = None
    # Whether a primary PostgreSQL node is reachable now, once started.
    primary: db.PrimaryWatch | None = None
    access: Access = field(init=False)
    # Whether passengers are waiting for a first notice: what stands back for them asks it.
    backlog: FirstNoticeBacklog = field(init=False)

    def __post_init__(self) -> None:
        self.access = self.settings.access()
        self.backlog = FirstNoticeBacklog(self.settings)

    @property
    def database(self) -> asyncpg.Pool:
        """The pool, once the service has started."""
        if self.pool is None:
            raise RuntimeError(f"{self.name} has not started: no database pool yet")
        return self.pool

    @property
    def kafka(self) -> AIOKafkaProducer:
        """The acks=all producer, once the service has started."""
        if self.producer is None:
            raise RuntimeError(f"{self.name} has not started: no Kafka producer yet")
        return self.producer

    def ready(self) -> dict[str, bool]:
        return {
            "database": self.pool is not None and not self.pool.is_closing(),
            "database_primary": self.primary is not None and self.primary.reachable,
            **{f"consumer_{purpose}": consumer.running for purpose, consumer in self.consumers.items()},
            "outbox_relay": bool(self.relay and self.relay.running),
        }

    @contextlib.asynccontextmanager
    async def lifespan(self, app: FastAPI) -> AsyncIterator[None]:
        logs.configure(self.name, self.settings.log_level)
        failpoints.install(asyncio.get_running_loop())
        if self.settings.nice:
            os.nice(self.settings.nice)
        await topics.ensure_topics(self.settings)
        part = system.BY_NAME[self.name]
        assert part.migrations
        url, migrations = self.settings.database_url, system.ROOT / part.migrations
        db.beside_previous_release = bool(await db.until_primary(
            lambda: db.migrate(url, self.name, migrations), self.name))
        pool: asyncpg.Pool = await db.until_primary(lambda: db.create_pool(url, self.name), self.name)
        self.pool = pool
        self.primary = db.PrimaryWatch(url, self.name)
        # Its largest request is a dead-letter copy, which the dead-letter topics are made to take.
        self.producer = AIOKafkaProducer(**kafka.client_options(self.settings), enable_idempotence=True,
                                         acks="all", linger_ms=2, max_request_size=topics.DEAD_LETTER_MAX_BYTES)
        await self.producer.start()
        self.relay = OutboxRelay(self.settings, self.pool, self.producer, self.name, backlog=self.backlog)
        # A process that consumes nothing (disruption's console alone) still relays its outbox.
        tasks = [asyncio.create_task(self._supervise(self.relay.run), name="outbox-relay"),
                 asyncio.create_task(self._supervise(self.primary.run), name="primary-watch"),
                 asyncio.create_task(self._supervise(self.backlog.run), name="first-notice-backlog")]
        for group in part.groups if self.consumes else ():
            # Each group apart, so that nothing on one group's topics is ever ahead of another's
            # (disruption's flight events, notify's first notices); the groups off the
            # first-notice path stand back while passengers wait for a first notice.
            consumer = ConsumerLoop(self.settings, self.pool, service=f"{self.name}{group.suffix}",
                                    routes=system.resolve(group.routes)(self.config),
                                    backlog=None if group.urgent else self.backlog)
            self.consumers[group.purpose] = consumer
            tasks.append(asyncio.create_task(self._supervise(consumer.run), name=f"consumer-{group.purpose}"))
        # Each declared queue's worker (the outbox's is the relay above), then the rest.
        workers = [system.resolve(q.worker) for q in part.queues if q.table != "outbox"]
        tasks += [asyncio.create_task(self._supervise(functools.partial(work, self)), name="background")
                  for work in [*workers, *self.background]]
        log.info("service started", extra={"service": self.name})
        try:
            yield
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await self.producer.stop()
            await pool.close()

    async def _supervise(self, run: Callable[[], Awaitable[None]]) -> None:
        """Restart a background loop that failed, after a pause: Kafka or PostgreSQL may be back."""
        while True:
            try:
                await run()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("background loop failed; restarting in 2 s")
                await asyncio.sleep(2)

    def app(self, *, title: str, description: str, body_limits: dict[str, int] | None = None) -> FastAPI:
        """The service's HTTP app; `body_limits` raises the body limit for routes that take batches."""
        # The API description and its pages are for development and test: in production the
        # contract is the documentation's, and nothing on a public port describes more than it must.
        described = not self.settings.in_production
        app = FastAPI(title=title, description=description, lifespan=self.lifespan,
                      openapi_url="/openapi.json" if described else None, docs_url="/docs" if described else None,
                      redoc_url=None)
        app.router.route_class = GatedRoute
        app.add_middleware(BodyLimit, limits=body_limits)
        app.add_middleware(NoStore)
        install_problem_handlers(app)
        install_operational_routes(app, self.ready)
        app.include_router(parked.router)
        app.state.service = self
        return app


def service_config(request: Request) -> Any:
    """The running service's parsed config, for a route's `Annotated[Config, Depends(service_config)]`."""
    return running(request.app).config


def running(app: FastAPI) -> Service[Any]:
    """The service an app was made for (`Service.app`)."""
    service: Service[Any] = app.state.service
    return service


# What routes take (a typed dependency): the service's database pool.
def _database(request: Request) -> asyncpg.Pool:
    return running(request.app).database


Database = Annotated[asyncpg.Pool, Depends(_database)]
