"""The system, declared once: each service's consumer groups (what each is for and the topics it
reads), the topics it writes, its queues (the table, the channel that wakes its worker, the worker)
and its migrations; and the systems that feed Rebound. The Kafka ACLs (deploy/kafka_access.py), the
AsyncAPI document's operations (shared/contract.py) and the documentation's system page and diagram
are derived from it; tests/unit/test_system.py holds every bootstrap's routes, every publish, every
wake-up and every migration's trigger to it, so none can drift."""

from dataclasses import dataclass

from shared.topics import (
    AGENT_ACTIONS,
    BOOKINGS,
    ENTITLEMENTS,
    FIRST_NOTICES,
    FLIGHT_EVENTS,
    FLIGHT_STATUS,
    NOTICE_DELIVERIES,
    NOTICES,
    PASSENGER_DISRUPTIONS,
    REBOOKINGS,
    SCHEDULE,
)


@dataclass(frozen=True)
class Group:
    """A consumer group of a service: what it is for, and the topics it reads."""

    purpose: str
    topics: tuple[str, ...]
    # The Kafka group id is `<prefix><service><suffix>`, as deployed: renaming a group loses its
    # committed offsets, so the id stays what the first release called it.
    suffix: str = ""


@dataclass(frozen=True)
class Queue:
    """Work a service keeps in a table of its own and does outside any consumer's transaction."""

    table: str
    channel: str  # the PostgreSQL NOTIFY channel that wakes its worker (a trigger or the writer sends it)
    worker: str  # the function that steps it


@dataclass(frozen=True)
class Part:
    """A service, or a system that feeds Rebound (no groups, no queues: it only writes)."""

    name: str
    groups: tuple[Group, ...] = ()
    writes: tuple[str, ...] = ()
    queues: tuple[Queue, ...] = ()
    migrations: str | None = None  # the folder of its schema's migrations

    @property
    def reads(self) -> list[str]:
        return [topic for group in self.groups for topic in group.topics]

    def queue(self, table: str) -> Queue:
        return next(q for q in self.queues if q.table == table)


def outbox_channel(schema: str) -> str:
    """The channel that wakes a schema's outbox relay: the messaging tables' trigger notifies
    `TG_TABLE_SCHEMA || '_outbox'` (shared/sql/messaging.sql), whatever the schema is called."""
    return f"{schema}_outbox"


def _outbox(service: str) -> Queue:
    """Every service's outbox: its events, published after the transaction that wrote them."""
    return Queue("outbox", outbox_channel(service), "shared.outbox.OutboxRelay.run")


SYSTEM: tuple[Part, ...] = (
    Part("disruption",
         groups=(Group("flight_events", (FLIGHT_EVENTS,), suffix="-priority"),
                 Group("bookings_and_outcomes", (SCHEDULE, BOOKINGS, REBOOKINGS, ENTITLEMENTS, NOTICE_DELIVERIES,
                                                 AGENT_ACTIONS))),
         writes=(FLIGHT_EVENTS, PASSENGER_DISRUPTIONS, FLIGHT_STATUS, FIRST_NOTICES, NOTICES, AGENT_ACTIONS),
         queues=(_outbox("disruption"),),
         migrations="services/disruption/migrations"),
    Part("rebooking",
         groups=(Group("disruptions", (SCHEDULE, BOOKINGS, FLIGHT_STATUS, PASSENGER_DISRUPTIONS)),),
         writes=(REBOOKINGS, NOTICES, AGENT_ACTIONS),
         queues=(Queue("pending", "rebooking_pending", "services.rebooking.assignment.run_rounds"),
                 _outbox("rebooking")),
         migrations="services/rebooking/migrations"),
    Part("compensation",
         groups=(Group("disruptions_and_outcomes", (SCHEDULE, BOOKINGS, PASSENGER_DISRUPTIONS, REBOOKINGS)),),
         writes=(ENTITLEMENTS, NOTICES, AGENT_ACTIONS),
         queues=(Queue("payouts", "compensation_payouts", "services.compensation.payouts.PayoutWorker.run"),
                 _outbox("compensation")),
         migrations="services/compensation/migrations"),
    Part("notify",
         groups=(Group("first_notices", (FIRST_NOTICES,), suffix="-priority"),
                 Group("notices", (NOTICES,))),
         writes=(NOTICE_DELIVERIES,),
         queues=(Queue("deliveries", "notify_deliveries", "services.notify.sender.Sender.run"),
                 _outbox("notify")),
         migrations="services/notify/migrations"),
    # The airline's reservation system (schedules and bookings) and its operations systems (their
    # own flight events, straight onto the topic).
    Part("reservations", writes=(SCHEDULE, BOOKINGS)),
    Part("operations", writes=(FLIGHT_EVENTS,)),
)
BY_NAME = {part.name: part for part in SYSTEM}
SERVICES = tuple(part.name for part in SYSTEM if part.groups)

# Who reads and who writes each topic (a service also writes the dead-letter topic of each it reads).
READS: dict[str, list[str]] = {part.name: part.reads for part in SYSTEM if part.groups}
WRITES: dict[str, list[str]] = {part.name: list(part.writes) for part in SYSTEM if part.writes}


def channel(service: str, table: str) -> str:
    """The channel that wakes the worker of a service's queue."""
    return BY_NAME[service].queue(table).channel
