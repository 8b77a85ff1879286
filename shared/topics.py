"""Topic names, and their creation at start-up."""

import asyncio
import logging

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.errors import KafkaError, TopicAlreadyExistsError

from shared import kafka
from shared.events import (
    FLIGHT_EVENT_TYPES,
    MAX_EVENT_BYTES,
    AgentActed,
    BookingConfirmed,
    EntitlementsGranted,
    FlightNoticeRequested,
    FlightScheduled,
    FlightStatusChanged,
    Model,
    NoticeDelivered,
    NoticeRequested,
    PassengerDisruption,
    PayoutSettled,
    RebookingDecided,
)
from shared.settings import Settings

log = logging.getLogger(__name__)

SCHEDULE = "schedule"
BOOKINGS = "bookings"
FLIGHT_EVENTS = "flight-events"
PASSENGER_DISRUPTIONS = "passenger-disruptions"
FLIGHT_STATUS = "flight-status"
REBOOKINGS = "rebookings"
ENTITLEMENTS = "entitlements"
NOTICES = "notices"
# First notices travel apart, so no flood of later notices is ever ahead of one.
FIRST_NOTICES = "first-notices"
# A flight's first notices, one message for all its passengers: the first-notice path's work is per
# flight, not per passenger.
FLIGHT_NOTICES = "flight-notices"
NOTICE_DELIVERIES = "notice-deliveries"
# What ops agents did from the console, audited by the service that did it.
AGENT_ACTIONS = "agent-actions"

# Reservation data is state, keyed by flight or booking: only the latest value per key matters.
COMPACTED = {SCHEDULE, BOOKINGS, FLIGHT_STATUS}
ALL = [SCHEDULE, BOOKINGS, FLIGHT_EVENTS, FLIGHT_STATUS, PASSENGER_DISRUPTIONS, REBOOKINGS, ENTITLEMENTS,
       FIRST_NOTICES, FLIGHT_NOTICES, NOTICES, NOTICE_DELIVERIES, AGENT_ACTIONS]

# What each topic carries, and the Kafka key of its records (the AsyncAPI document is made from
# these: shared/contract.py).
CARRIES: dict[str, tuple[type[Model], ...]] = {
    SCHEDULE: (FlightScheduled,), BOOKINGS: (BookingConfirmed,), FLIGHT_EVENTS: FLIGHT_EVENT_TYPES,
    FLIGHT_STATUS: (FlightStatusChanged,), PASSENGER_DISRUPTIONS: (PassengerDisruption,),
    REBOOKINGS: (RebookingDecided,), ENTITLEMENTS: (EntitlementsGranted, PayoutSettled),
    FIRST_NOTICES: (NoticeRequested,), FLIGHT_NOTICES: (FlightNoticeRequested,), NOTICES: (NoticeRequested,),
    NOTICE_DELIVERIES: (NoticeDelivered,),
    AGENT_ACTIONS: (AgentActed,),
}
_FLIGHT = "The flight: carrier, number, local departure date and origin (`B61001/2013-02-08/JFK`)"
_BOOKING = "The booking reference (`ABC123`): one booking's events stay in order"
KEYS = {
    SCHEDULE: _FLIGHT, FLIGHT_STATUS: _FLIGHT,
    FLIGHT_NOTICES: "The flight the notice is about (its `flight_id`): a flight's notices stay in order",
    BOOKINGS: _BOOKING, PASSENGER_DISRUPTIONS: _BOOKING,
    REBOOKINGS: _BOOKING, ENTITLEMENTS: _BOOKING, FIRST_NOTICES: _BOOKING, NOTICES: _BOOKING,
    NOTICE_DELIVERIES: _BOOKING, AGENT_ACTIONS: "The booking reference, or the flight for an action on a whole flight",
    FLIGHT_EVENTS: "The flight designator, carrier and number (`B61001`), as the ingest writes it. Any key and any "
                   "partitioner will do: events of one flight are put in order by their `sequence` (from one "
                   "source) and their time, wherever they land",
}
DESCRIPTIONS = {
    SCHEDULE: "The schedule, from the reservation system (compacted: the latest per flight)",
    BOOKINGS: "Bookings, from the reservation system (compacted: the latest per booking)",
    FLIGHT_EVENTS: "Delays, cancellations, diversions, retimings and movements: from partners through the ingest "
                   "API, and from the airline's operations systems directly",
    FLIGHT_STATUS: "Each flight's settled status (compacted)",
    PASSENGER_DISRUPTIONS: "One booking hurt by one flight event",
    REBOOKINGS: "What became of each disrupted booking",
    ENTITLEMENTS: "Refunds, compensation, care and vouchers granted, and each payout's end",
    FIRST_NOTICES: "First notices, apart so that nothing is ever ahead of them",
    FLIGHT_NOTICES: "A flight's first notices, one message for the passengers of many bookings",
    NOTICES: "Every later notice: new plans, entitlements",
    NOTICE_DELIVERIES: "What became of each notice, per passenger and channel",
    AGENT_ACTIONS: "Each ops agent's action: who, when, what and why",
}


def all_payloads() -> list[type[Model]]:
    """Every payload class on any topic, once each, in topic order."""
    return list(dict.fromkeys(m for topic in ALL for m in CARRIES[topic]))


# A dead-letter copy carries the original record and its headers (those that are not text in
# base64, a third larger) plus the reason: room for all of that, so that a copy always fits.
DEAD_LETTER_MAX_BYTES = 2 * MAX_EVENT_BYTES


def configs(topic: str) -> dict[str, str]:
    """Each topic's own settings (the AsyncAPI document states them): the broker refuses a record
    over the limit at the producer, before any consumer meets it."""
    if topic.endswith(".dlq"):
        return {"cleanup.policy": "delete", "max.message.bytes": str(DEAD_LETTER_MAX_BYTES)}
    return {"cleanup.policy": "compact" if topic in COMPACTED else "delete",
            "max.message.bytes": str(MAX_EVENT_BYTES)}


def dead_letter(topic: str) -> str:
    return f"{topic}.dlq"


def name(settings: Settings, topic: str) -> str:
    return settings.topic_prefix + topic


async def ensure_topics(settings: Settings, attempts: int = 8) -> None:
    """Create every topic and its dead-letter topic; existing ones are left alone. Where the
    deployment creates them (`kafka_create_topics` off), nothing is asked of the cluster.
    Asked again, a few times, when the broker asked cannot answer yet: in a cluster that has just
    lost a broker, the metadata still names it until the controller fences it (seconds), and a
    service starting then must not fail for that."""
    if not settings.kafka_create_topics:
        return
    for attempt in range(1, attempts + 1):
        try:
            return await _create_missing_topics(settings)
        except KafkaError as error:
            if not error.retriable or attempt == attempts:
                raise
            log.warning("Kafka could not answer about the topics; asking again",
                        extra={"error": type(error).__name__, "attempt": attempt})
            await asyncio.sleep(min(0.25 * 2 ** attempt, 4))


async def _create_missing_topics(settings: Settings) -> None:
    admin = AIOKafkaAdminClient(**kafka.client_options(settings))
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        wanted, present = [], []
        for t in (t for topic in ALL for t in (topic, dead_letter(topic))):
            full = name(settings, t)
            if full in existing:
                present.append(ConfigResource(ConfigResourceType.TOPIC, full, configs(t)))
            else:
                wanted.append(NewTopic(full, settings.topic_partitions, settings.topic_replication,
                                       topic_configs=configs(t)))
        if wanted:
            try:
                await admin.create_topics(wanted)
            except TopicAlreadyExistsError:
                # Another process created some first (or they were made a moment ago and not yet
                # listed): brought to today's settings with the rest.
                present += [ConfigResource(ConfigResourceType.TOPIC, t.name, configs(t.name.removeprefix(
                    settings.topic_prefix))) for t in wanted]
            log.info("topics created", extra={"topics": [t.name for t in wanted]})
        if present:
            # Topics an earlier release made: brought to today's settings (the whole set, as
            # AlterConfigs replaces a topic's own settings).
            for response in await admin.alter_configs(present):
                for code, message, _, topic in response.resources:
                    if code:
                        log.warning("a topic's settings could not be brought up to date",
                                    extra={"topic": topic, "error": message or code})
    finally:
        await admin.close()
