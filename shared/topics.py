"""Topic names, and their creation at start-up."""

import logging

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import TopicAlreadyExistsError

from shared import kafka
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
NOTICE_DELIVERIES = "notice-deliveries"

# Reservation data is state, keyed by flight or booking: only the latest value per key matters.
COMPACTED = {SCHEDULE, BOOKINGS, FLIGHT_STATUS}
ALL = [SCHEDULE, BOOKINGS, FLIGHT_EVENTS, FLIGHT_STATUS, PASSENGER_DISRUPTIONS, REBOOKINGS, ENTITLEMENTS,
       FIRST_NOTICES, NOTICES, NOTICE_DELIVERIES]


# Who reads and who writes each topic. The deployment's Kafka ACLs are made from this
# (deploy/kafka_access.py), so each service's principal can touch its own topics and nothing else;
# `reservations` (schedules and bookings) and `operations` (the airline's own flight events) are
# the systems that feed Rebound. A service also writes the dead-letter topic of each it reads.
READS = {
    "disruption": [SCHEDULE, BOOKINGS, FLIGHT_EVENTS, REBOOKINGS, ENTITLEMENTS, NOTICE_DELIVERIES],
    "rebooking": [SCHEDULE, BOOKINGS, FLIGHT_STATUS, PASSENGER_DISRUPTIONS],
    "compensation": [SCHEDULE, BOOKINGS, PASSENGER_DISRUPTIONS, REBOOKINGS],
    "notify": [FIRST_NOTICES, NOTICES],
}
WRITES = {
    "disruption": [FLIGHT_EVENTS, PASSENGER_DISRUPTIONS, FLIGHT_STATUS, FIRST_NOTICES],
    "rebooking": [REBOOKINGS, NOTICES],
    "compensation": [ENTITLEMENTS, NOTICES],
    "notify": [NOTICE_DELIVERIES],
    "reservations": [SCHEDULE, BOOKINGS],
    "operations": [FLIGHT_EVENTS],
}


def dead_letter(topic: str) -> str:
    return f"{topic}.dlq"


def name(settings: Settings, topic: str) -> str:
    return settings.topic_prefix + topic


async def ensure_topics(settings: Settings) -> None:
    """Create every topic and its dead-letter topic; existing ones are left alone. Where the
    deployment creates them (`kafka_create_topics` off), nothing is asked of the cluster."""
    if not settings.kafka_create_topics:
        return
    admin = AIOKafkaAdminClient(**kafka.client_options(settings))
    await admin.start()
    try:
        existing = set(await admin.list_topics())
        wanted = []
        for topic in ALL:
            configs = {"cleanup.policy": "compact"} if topic in COMPACTED else {}
            for t, cfg in ((topic, configs), (dead_letter(topic), {})):
                full = name(settings, t)
                if full not in existing:
                    wanted.append(NewTopic(full, settings.topic_partitions,
                                           settings.topic_replication, topic_configs=cfg))
        if wanted:
            try:
                await admin.create_topics(wanted)
            except TopicAlreadyExistsError:
                pass  # another service created them first
            log.info("topics created", extra={"topics": [t.name for t in wanted]})
    finally:
        await admin.close()
