"""How every Kafka client of ours connects: plain on a developer's loopback, TLS and SASL/SCRAM as
a real deployment runs it (one principal per service, allowed its own topics and groups only;
see deploy/kafka_access.py)."""

import ssl
from typing import Any

from aiokafka.helpers import create_ssl_context

from shared.settings import Settings


def client_options(settings: Settings) -> dict[str, Any]:
    """Keyword arguments for AIOKafkaProducer, AIOKafkaConsumer and AIOKafkaAdminClient."""
    options: dict[str, Any] = {"bootstrap_servers": settings.kafka_bootstrap,
                               "security_protocol": settings.kafka_security_protocol}
    if settings.kafka_security_protocol in ("SSL", "SASL_SSL"):
        # The brokers' certificates are checked, host name included, against the given CA (or the
        # system's trusted ones).
        context = create_ssl_context(cafile=settings.kafka_ca_file or None)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        options["ssl_context"] = context
    if settings.kafka_security_protocol.startswith("SASL_"):
        options |= {"sasl_mechanism": settings.kafka_sasl_mechanism,
                    "sasl_plain_username": settings.kafka_username,
                    "sasl_plain_password": settings.kafka_password}
    return options
