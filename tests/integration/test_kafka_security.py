"""Kafka as a real deployment runs it: one SASL_SSL listener (SCRAM-SHA-512, a certificate from a
CA of its own), an authorizer that denies what no ACL allows, and one principal per service with
the ACLs deploy/kafka_access.py grants from shared/topics.py. Each principal does its own job and
nothing else, and a real service runs on it end to end.

The broker's settings follow Kafka's own documentation of SASL/SCRAM and of the StandardAuthorizer
(kafka.apache.org/documentation/#security_sasl_scram, #security_authz)."""

import asyncio
import ssl
import subprocess
from datetime import date
from functools import partial

import asyncpg
import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.errors import (
    GroupAuthorizationFailedError,
    KafkaConnectionError,
    KafkaError,
    TopicAuthorizationFailedError,
)

from bench import measure, small_scenario
from bench.stack import ROOT, Stack, free_port
from deploy.kafka_access import prepare
from shared import kafka, system, topics
from shared.events import FlightCancelled, FlightRef
from shared.settings import Settings
from tests.integration.conftest import API_KEY, eventually

pytestmark = pytest.mark.integration
SCRIPT = ROOT / "deploy/local/secure-kafka.sh"
PREFIX = "secure."
SERVICES = ("disruption", "rebooking", "compensation", "notify")


@pytest.fixture(scope="module")
def broker(tmp_path_factory):
    state = tmp_path_factory.mktemp("secure-kafka")
    port, controller = free_port(), free_port()
    subprocess.run([SCRIPT, "start", state, str(port), str(controller)], check=True, timeout=300)
    try:
        credentials = dict(line.strip().split("=", 1) for line in (state / "credentials.env").read_text().splitlines())
        yield {"bootstrap": f"127.0.0.1:{port}", "ca": str(state / "tls/ca.pem"), "passwords": credentials}
    finally:
        subprocess.run([SCRIPT, "stop", state], check=True, timeout=60)


def as_principal(broker, who: str, **changes) -> Settings:
    return Settings(environment="test", kafka_bootstrap=broker["bootstrap"], kafka_security_protocol="SASL_SSL",
                    kafka_username=who, kafka_password=broker["passwords"][who], kafka_ca_file=broker["ca"],
                    topic_prefix=PREFIX, topic_partitions=2, topic_replication=1).model_copy(update=changes)


@pytest.fixture(scope="module")
async def granted(broker):
    """The deployment's step: topics created by the admin, every principal given its ACLs."""
    return await prepare(as_principal(broker, "admin"))


async def produce(settings: Settings, topic: str) -> None:
    producer = AIOKafkaProducer(**kafka.client_options(settings), enable_idempotence=True, acks="all",
                                request_timeout_ms=10000)
    try:  # stopped even when it never started: a client left behind keeps reconnecting in the loop
        await producer.start()
        await producer.send_and_wait(topics.name(settings, topic), b"{}", key=b"k")
    finally:
        await producer.stop()


async def consume(settings: Settings, topic: str, group: str) -> None:
    """Join `group` on `topic` and commit an offset, as a service's consumer does."""
    consumer = AIOKafkaConsumer(topics.name(settings, topic), **kafka.client_options(settings),
                                group_id=settings.topic_prefix + group, enable_auto_commit=False,
                                auto_offset_reset="earliest", request_timeout_ms=10000)
    try:
        await consumer.start()
        await consumer.getmany(timeout_ms=1000)
        await consumer.commit()
    finally:
        await consumer.stop()


async def allowed(action) -> bool:
    """ACLs take effect once the broker has applied their metadata records: wait for that."""
    async def attempt():
        try:
            await action()
            return True
        except KafkaError:
            return False
    return await eventually(attempt, within_seconds=20, every=0.5)


async def refused(action, *errors) -> bool:
    try:
        await action()
    except errors:
        return True
    return False


@pytest.mark.parametrize("service", SERVICES)
async def test_each_principal_writes_and_reads_only_its_own_topics_and_groups(broker, granted, service):
    assert granted > 40
    me = as_principal(broker, service)
    for topic in system.WRITES[service] + [topics.dead_letter(t) for t in system.READS[service]]:
        assert await allowed(partial(produce, me, topic)), f"{service} may not write {topic}"
    for topic in set(topics.ALL) - set(system.WRITES[service]):
        assert await refused(partial(produce, me, topic), TopicAuthorizationFailedError), f"{service} wrote {topic}"
    first_read = system.READS[service][0]
    assert await allowed(partial(consume, me, first_read, service))
    assert await allowed(partial(consume, me, first_read, f"{service}-priority"))
    for topic in sorted(set(topics.ALL) - set(system.READS[service]))[:3]:
        assert await refused(partial(consume, me, topic, service), TopicAuthorizationFailedError), \
            f"{service} read {topic}"
    other = next(s for s in SERVICES if s != service)
    assert await refused(partial(consume, me, first_read, other), GroupAuthorizationFailedError), \
        f"{service} joined {other}'s group"


async def test_no_one_gets_in_without_the_password_or_over_a_plain_or_unverified_connection(broker, granted):
    wrong_password = as_principal(broker, "notify", kafka_password="not-the-password")
    assert await refused(partial(produce, wrong_password, topics.NOTICE_DELIVERIES), KafkaError)
    plain = as_principal(broker, "notify", kafka_security_protocol="PLAINTEXT")
    assert await refused(lambda: asyncio.wait_for(produce(plain, topics.NOTICE_DELIVERIES), 15),
                         KafkaError, asyncio.TimeoutError)
    # The system's CAs never signed this broker's certificate: the client refuses to talk to it.
    unverified = as_principal(broker, "notify", kafka_ca_file="")
    assert await refused(partial(produce, unverified, topics.NOTICE_DELIVERIES),
                         KafkaConnectionError, ssl.SSLError, KafkaError)


async def test_a_service_runs_end_to_end_as_its_own_principal(broker, granted, infrastructure, tmp_path):
    """The disruption service on the SASL_SSL broker with its principal only: it consumes, writes
    its outbox's events, commits, and its partner API publishes an accepted event. On a database
    of its own: sharing one, its outbox relay would publish the other stack's events."""
    me = as_principal(broker, "disruption")
    base = Settings(environment="test", kafka_bootstrap=infrastructure.kafka_bootstrap,
                    database_url=infrastructure.admin_database_url)
    async with measure.fresh_run(base=base) as (_, own):
        stack = Stack(env={
            "REBOUND_ENVIRONMENT": "test", "REBOUND_DATABASE_URL": own.database_url, "REBOUND_API_KEYS": API_KEY,
            "REBOUND_KAFKA_BOOTSTRAP": me.kafka_bootstrap, "REBOUND_TOPIC_PREFIX": PREFIX,
            "REBOUND_KAFKA_SECURITY_PROTOCOL": "SASL_SSL", "REBOUND_KAFKA_USERNAME": "disruption",
            "REBOUND_KAFKA_PASSWORD": me.kafka_password, "REBOUND_KAFKA_CA_FILE": me.kafka_ca_file,
            "REBOUND_KAFKA_CREATE_TOPICS": "false", "REBOUND_TOPIC_PARTITIONS": "2"},
            logs=tmp_path, services=("disruption",))
        await asyncio.to_thread(stack.start)
        try:
            event = FlightCancelled(partner_event_id="secure-1", reason="weather", flight=FlightRef(
                carrier="B6", number="2901", departure_date=date(2013, 2, 9), origin="JFK"))
            response = await small_scenario.submit(stack.url("disruption"), event.model_dump_json().encode())
            assert response.status_code == 202, response.text
            (event_id,) = response.json()["event_ids"]
            db = await asyncpg.connect(own.database_url)
            try:
                async def recorded():
                    return await db.fetchval("SELECT effect FROM disruption.flight_events WHERE event_id = $1",
                                             event_id)
                assert await eventually(recorded, within_seconds=60) == "unmatched: flight not in the schedule"
            finally:
                await db.close()
            assert "AuthorizationFailed" not in (tmp_path / "disruption.log").read_text(errors="replace")
        finally:
            stack.stop()
