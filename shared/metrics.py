"""Prometheus metrics shared by every service (base units, `_total` counters)."""

from prometheus_client import Counter, Gauge, Histogram

MESSAGES_CONSUMED = Counter(
    "rebound_messages_consumed_total",
    "Kafka messages taken from a topic, by what became of them.",
    ["service", "topic", "outcome"],  # processed | duplicate | dead_lettered | parked
)
BATCH_SECONDS = Histogram(
    "rebound_consumer_batch_duration_seconds",
    "Time to process one consumed batch in one database transaction.",
    ["service"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
)
BATCH_RETRIES = Counter(
    "rebound_consumer_batch_retries_total",
    "Batches rolled back on a transient error and retried.",
    ["service"],
)
OUTBOX_RELAYED = Counter(
    "rebound_outbox_relayed_total", "Outbox rows published to Kafka.", ["service", "topic"]
)
PARKED = Counter(
    "rebound_parked_total",
    "Records set aside in the service's parked table with their reason: consumed ones that could be "
    "neither handled nor dead-lettered (stage consumer), outbox rows the broker will not take (stage relay).",
    ["service", "stage", "topic"],
)
CONSUMER_LAG = Gauge(
    "rebound_consumer_lag",
    "Messages on a topic the consumer group has not read yet (the high watermark less its position, "
    "as of its last fetch; 0 once a fetch finds nothing new).",
    ["group", "topic"],
)
EVENT_AGE_SECONDS = Histogram(
    "rebound_event_age_seconds",
    "Age of an event (now minus its CloudEvents time) when a consumer processes it.",
    ["service", "topic"],
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300),
)
PRIMARY_REACHABLE = Gauge(
    "rebound_database_primary_reachable",
    "1 while the service reaches a primary PostgreSQL node that takes writes; 0 while none does (the "
    "database is down, or a failover is choosing the next primary): the service waits, not ready.",
    ["service"],
)
