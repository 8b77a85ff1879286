"""The system, declared once: each service's consumer groups (what each is for, the topics it
reads and the routes that handle them), the topics it writes, its queues (the table, the channel
that wakes its worker, the worker, and the step that advances it in a caller's transaction) and its
migrations; and the systems that feed Rebound. Each service's consumers (shared/runtime.py), the
one-process runner (shared/in_process.py), the Kafka ACLs (deploy/kafka_access.py), the AsyncAPI
document's operations (shared/contract.py) and the documentation's system page and diagram are
derived from it; tests/unit/test_system.py holds every publish, every wake-up and every migration's
trigger to it, so none can drift.

Routes, workers and steps are named by their dotted paths, so that this module imports no service."""

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from shared.topics import (
    AGENT_ACTIONS,
    BOOKINGS,
    ENTITLEMENTS,
    FIRST_NOTICES,
    FLIGHT_EVENTS,
    FLIGHT_NOTICES,
    FLIGHT_STATUS,
    NOTICE_DELIVERIES,
    NOTICES,
    PASSENGER_DISRUPTIONS,
    REBOOKINGS,
    SCHEDULE,
)

ROOT = Path(__file__).resolve().parent.parent  # the repository: migrations are named from it


@dataclass(frozen=True)
class Group:
    """A consumer group of a service: what it is for, and the topics it reads."""

    purpose: str
    topics: tuple[str, ...]
    routes: str  # the function that, given the service's config, routes each event to its handler
    # The Kafka group id is `<prefix><service><suffix>`, as deployed: renaming a group loses its
    # committed offsets, so the id stays what the first release called it.
    suffix: str = ""
    # On the first-notice path: while it has messages unread, every other group, the rebooking
    # rounds and the relays of topics no first notice travels on stand back (shared/backlog.py).
    urgent: bool = False


@dataclass(frozen=True)
class Queue:
    """Work a service keeps in a table of its own and does outside any consumer's transaction."""

    table: str
    # The PostgreSQL NOTIFY channel that wakes its worker (a trigger or the writer sends it); None
    # for a queue its worker sweeps on a timer.
    channel: str | None
    # The function that works it while the service runs (given the running service), started by
    # the service's runtime for every queue declared here; the outbox's relay is the runtime's own.
    worker: str
    # One step of its work in the caller's transaction (given the connection and the service's
    # config; returns how much it did), where the work is the database's alone. None where each
    # step is a call to the outside world (a bank, a text provider), which only the worker makes.
    step: str | None = None


@dataclass(frozen=True)
class Part:
    """A service, or a system that feeds Rebound (no groups, no queues: it only writes)."""

    name: str
    groups: tuple[Group, ...] = ()
    writes: tuple[str, ...] = ()
    queues: tuple[Queue, ...] = ()
    migrations: str | None = None  # the folder of its schema's migrations
    settings: str | None = None  # its settings class
    config: str | None = None  # what makes its config (the settings parsed once) from its settings

    @property
    def reads(self) -> list[str]:
        return [topic for group in self.groups for topic in group.topics]

    def queue(self, table: str) -> Queue:
        return next(q for q in self.queues if q.table == table)


def outbox_channel(schema: str) -> str:
    """The channel that wakes a schema's outbox relay: the messaging tables' trigger notifies
    `TG_TABLE_SCHEMA || '_outbox'` (shared/sql/messaging.sql), whatever the schema is called."""
    return f"{schema}_outbox"


def _service(name: str, *, groups: tuple[Group, ...], writes: tuple[str, ...], queues: tuple[Queue, ...] = ()
             ) -> Part:
    """A Rebound service, laid out as each is: its migrations in services/<name>/migrations, its
    settings and config in services/<name>/config.py; and, after its own queues, its outbox (its
    events, published after the transaction that wrote them)."""
    outbox = Queue("outbox", outbox_channel(name), "shared.outbox.OutboxRelay.run")
    return Part(name, groups=groups, writes=writes, queues=(*queues, outbox), migrations=f"services/{name}/migrations",
                settings=f"services.{name}.config.{name.capitalize()}Settings",
                config=f"services.{name}.config.Config.of")


def resolve(path: str) -> Callable[..., Any]:
    """The function a dotted path names (a module's function, or a class's method)."""
    module, _, name = path.rpartition(".")
    try:
        return getattr(importlib.import_module(module), name)  # type: ignore[no-any-return]
    except ModuleNotFoundError:
        owner, _, cls = module.rpartition(".")
        return getattr(getattr(importlib.import_module(owner), cls), name)  # type: ignore[no-any-return]


SYSTEM: tuple[Part, ...] = (
    _service("disruption",
             groups=(Group("flight_events", (FLIGHT_EVENTS,), "services.disruption.bootstrap.flight_event_routes",
                           suffix="-priority", urgent=True),
                     Group("bookings_and_outcomes", (SCHEDULE, BOOKINGS, REBOOKINGS, ENTITLEMENTS, NOTICE_DELIVERIES,
                                                     AGENT_ACTIONS), "services.disruption.bootstrap.routes")),
             writes=(FLIGHT_EVENTS, PASSENGER_DISRUPTIONS, FLIGHT_STATUS, FLIGHT_NOTICES, FIRST_NOTICES, NOTICES,
                     AGENT_ACTIONS)),
    _service("rebooking",
             groups=(Group("disruptions", (SCHEDULE, BOOKINGS, FLIGHT_STATUS, PASSENGER_DISRUPTIONS),
                           "services.rebooking.bootstrap.routes"),),
             writes=(REBOOKINGS, NOTICES, AGENT_ACTIONS),
             queues=(Queue("pending", "rebooking_pending", "services.rebooking.assignment.run_rounds",
                           step="services.rebooking.assignment.assign_round"),
                     # Rebookings offered and not yet answered: settled as policy says at their deadline.
                     Queue("rebookings", None, "services.rebooking.answers.watch_deadlines",
                           step="services.rebooking.answers.settle_silences"))),
    _service("compensation",
             groups=(Group("disruptions_and_outcomes", (SCHEDULE, BOOKINGS, PASSENGER_DISRUPTIONS, REBOOKINGS),
                           "services.compensation.bootstrap.routes"),),
             writes=(ENTITLEMENTS, NOTICES, AGENT_ACTIONS),
             queues=(Queue("payouts", "compensation_payouts", "services.compensation.bootstrap.pay_out"),)),
    _service("notify",
             groups=(Group("first_notices", (FLIGHT_NOTICES, FIRST_NOTICES),
                           "services.notify.bootstrap.first_notice_routes", suffix="-priority", urgent=True),
                     Group("notices", (NOTICES,), "services.notify.bootstrap.routes")),
             writes=(NOTICE_DELIVERIES,),
             queues=(Queue("deliveries", "notify_deliveries", "services.notify.bootstrap.send_notices"),
                     Queue("early_reports", None, "services.notify.status.apply_early_reports",
                           step="services.notify.status.sweep_early_reports"))),
    # The airline's reservation system (schedules and bookings) and its operations systems (their
    # own flight events, straight onto the topic).
    Part("reservations", writes=(SCHEDULE, BOOKINGS)),
    Part("operations", writes=(FLIGHT_EVENTS,)),
)
BY_NAME = {part.name: part for part in SYSTEM}
# The first-notice path's topics (flight events, and the first notices they become): an outbox
# relay sends these first, and the rest once no passenger waits for a first notice.
URGENT_TOPICS = frozenset(t for part in SYSTEM for group in part.groups if group.urgent for t in group.topics)
SERVICES = tuple(part.name for part in SYSTEM if part.groups)

# Who reads and who writes each topic (a service also writes the dead-letter topic of each it reads).
READS: dict[str, list[str]] = {part.name: part.reads for part in SYSTEM if part.groups}
WRITES: dict[str, list[str]] = {part.name: list(part.writes) for part in SYSTEM if part.writes}


def channel(service: str, table: str) -> str:
    """The channel that wakes the worker of a service's queue."""
    woken = BY_NAME[service].queue(table).channel
    assert woken, f"{service}'s {table} is swept, not woken"
    return woken
