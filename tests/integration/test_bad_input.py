"""Bad input at every interface of the running services: poison messages on every topic, and
schemathesis against every HTTP API's OpenAPI description.

Poison runs on a stack of its own (its own database and topics), so that "nothing changed" can be
checked strictly: each message lands on its topic's dead-letter topic with its reason, every
table but the outbox keeps its rows, and every consumer goes on to handle the next good message.
The count of inputs tried per interface is written to faults/results/bad-inputs.json."""

import asyncio
import json
import time
from collections import Counter
from datetime import date
from pathlib import Path

import asyncpg
import pytest
import requests
import schemathesis
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import negative_data_rejection, not_a_server_error
from schemathesis.generation.meta import negated_parameters

from bench import measure
from bench.small_scenario import DEMO_PARTNER_KEY
from bench.stack import Stack
from faults import poison
from shared import signing, system, topics
from shared.events import Envelope, FlightScheduled, flight_id
from shared.settings import Settings
from tests.integration.conftest import API_KEY, eventually

pytestmark = pytest.mark.integration
SCHEMAS = ("disruption", "rebooking", "compensation", "notify")
RESULTS = Path(__file__).resolve().parents[2] / "faults" / "results" / "bad-inputs.json"
TRIED: Counter = Counter()


@pytest.fixture(scope="module")
async def poison_stack(infrastructure, tmp_path_factory):
    base = Settings(kafka_bootstrap=infrastructure.kafka_bootstrap, database_url=infrastructure.admin_database_url)
    async with measure.fresh_run(base=base) as (_, own):
        stack = Stack(env={"REBOUND_KAFKA_BOOTSTRAP": own.kafka_bootstrap, "REBOUND_DATABASE_URL": own.database_url,
                           "REBOUND_TOPIC_PREFIX": own.topic_prefix, "REBOUND_ENVIRONMENT": "test",
                           "REBOUND_API_KEYS": API_KEY}, logs=tmp_path_factory.mktemp("poison"))
        await asyncio.to_thread(stack.start)
        try:
            yield stack, own
        finally:
            stack.stop()


async def table_rows(database_url: str) -> dict[str, int]:
    conn = await asyncpg.connect(database_url)
    try:
        tables = await conn.fetch("SELECT table_schema, table_name FROM information_schema.tables WHERE"
                                  " table_schema = ANY($1::text[]) AND table_name NOT IN ('outbox', 'parked')"
                                  " AND table_type = 'BASE TABLE'", list(SCHEMAS))
        return {f"{t['table_schema']}.{t['table_name']}": await conn.fetchval(
            f'SELECT count(*) FROM "{t["table_schema"]}"."{t["table_name"]}"') for t in tables}
    finally:
        await conn.close()


async def dead_letters(settings: Settings) -> dict[bytes, tuple[str, str]]:
    """Every dead-lettered message: key → (dead-letter topic, reason)."""
    consumer = AIOKafkaConsumer(bootstrap_servers=settings.kafka_bootstrap, group_id=None,
                                max_partition_fetch_bytes=8 * 1024 * 1024)
    await consumer.start()
    try:
        partitions = [TopicPartition(topics.name(settings, topics.dead_letter(t)), p)
                      for t in topics.ALL for p in range(settings.topic_partitions)]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        ends = await consumer.end_offsets(partitions)
        remaining, found = {tp for tp, end in ends.items() if end}, {}
        while remaining:
            for tp, records in (await consumer.getmany(*remaining, timeout_ms=1000)).items():
                for r in records:
                    found[r.key] = (tp.topic, dict(r.headers).get("reason", b"").decode())
                if records and records[-1].offset + 1 >= ends[tp]:
                    remaining.discard(tp)
        return found
    finally:
        await consumer.stop()


async def parked_origins(database_url: str) -> dict[str, set[str]]:
    """Each service's parked records, by origin (topic/partition/offset)."""
    conn = await asyncpg.connect(database_url)
    try:
        return {service: {r["origin"] for r in await conn.fetch(f'SELECT origin FROM "{service}".parked')}
                for service in SCHEMAS}
    finally:
        await conn.close()


async def test_poison_on_every_topic_ends_where_its_kind_says_and_changes_nothing(poison_stack):
    """Every kind of faults.poison on every topic: dead-lettered with its reason, or parked by every
    service that reads the topic (a record the Kafka client cannot read), or refused by the broker
    (over the topic's size limit); no table but the outbox and the parked table changes."""
    stack, own = poison_stack
    before = await table_rows(own.database_url)
    sent, parked = {}, {}
    producer = AIOKafkaProducer(bootstrap_servers=own.kafka_bootstrap, acks="all")
    await producer.start()
    try:
        for n, (topic, kind) in enumerate((t, k) for t in topics.ALL for k in poison.KINDS):
            message = poison.message(kind, n)
            landed = await poison.send(producer, topics.name(own, topic), message)
            if message.ends == poison.DEAD_LETTERED:
                sent[message.key] = topics.name(own, topics.dead_letter(topic))
            elif landed is not None:
                parked[f"{landed.topic}/{landed.partition}/{landed.offset}"] = topic
            TRIED[f"kafka:{topic}"] += 1
    finally:
        await producer.stop()

    async def all_dead_lettered():
        found = await dead_letters(own)
        return found if all(k in found for k in sent) else None

    found = await eventually(all_dead_lettered, within_seconds=60)
    assert found, "not every poison message reached a dead-letter topic"
    assert set(found) == set(sent), "only the poison is dead-lettered"
    for key, (dead_letter_topic, reason) in found.items():
        assert dead_letter_topic == sent[key]
        assert reason.startswith("undecodable: ") and len(reason) > len("undecodable: ") + 10, reason

    async def all_parked():
        origins = await parked_origins(own.database_url)
        return all(origin in origins[s] for origin, t in parked.items() for s, read in system.READS.items()
                   if t in read and s in SCHEMAS)
    assert parked and await eventually(all_parked, within_seconds=60)
    assert await table_rows(own.database_url) == before

    # Every consumer is still at work: a good schedule message after the poison is taken in.
    flight = FlightScheduled(flight_id=flight_id("ZZ", 1, date(2013, 2, 8), "JFK"), carrier="ZZ", number="1",
                             origin="JFK", destination="BOS", scheduled_departure="2013-02-08T15:00:00Z",
                             scheduled_arrival="2013-02-08T16:15:00Z", seats=50)
    producer = AIOKafkaProducer(bootstrap_servers=own.kafka_bootstrap, acks="all")
    await producer.start()
    try:
        env = Envelope.wrap(flight, source="reservations/test", subject=flight.flight_id)
        await producer.send_and_wait(topics.name(own, topics.SCHEDULE), env.to_bytes(), key=flight.flight_id.encode())
    finally:
        await producer.stop()

    async def taken_in():
        rows = await table_rows(own.database_url)
        return [t for t in ("rebooking.cabins", "compensation.flights", "disruption.flights")
                if rows.get(t, 0) > before.get(t, 0)]
    assert await eventually(taken_in, within_seconds=30)


# --- schemathesis: every operation of every service's OpenAPI ------------------------------------

class PartnerSignature(requests.auth.AuthBase):
    """A partner's signature over the body as sent (harmless where no signature is asked)."""

    def __call__(self, request: requests.PreparedRequest) -> requests.PreparedRequest:
        body = request.body or b""
        assert isinstance(body, str | bytes), "a request body sent whole"
        target = signing.target_of(request.url or "/")
        request.headers.update(signing.sign(*DEMO_PARTNER_KEY, body.encode() if isinstance(body, str) else body,
                                            target))
        return request


SIGNED, UNSIGNED = requests.Session(), requests.Session()
SIGNED.auth = PartnerSignature()
CREDENTIALS = {"authorization", signing.KEY_ID_HEADER.lower(), signing.SIGNATURE_HEADER.lower()}


@schemathesis.check
def problem_details(ctx, response, case):
    """A refusal says what is wrong, as RFC 9457 problem details."""
    if 400 <= response.status_code < 500:
        content_type = (response.headers.get("content-type") or [""])[0]  # schemathesis: a list per header
        assert content_type.startswith("application/problem+json"), f"{response.status_code} with {content_type}"
        body = response.json()
        assert body.get("title") and "status" in body, body


EXAMPLES = settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck), database=None)


@pytest.mark.parametrize("service", SCHEMAS)
@pytest.mark.parametrize("mode", list(GenerationMode), ids=str)
def test_every_operation_answers_bad_input_with_a_clear_refusal(stack, service, mode):
    """Data that fits the schema and data that does not, on every operation: never a 5xx, every
    refusal a problem document, and nothing that breaks the schema accepted."""
    schema = schemathesis.openapi.from_url(f"{stack.url(service)}/openapi.json")
    operations = [result.ok() for result in schema.get_all_operations()]
    assert operations
    for operation in operations:
        @given(case=operation.as_strategy(generation_mode=mode))
        @EXAMPLES
        def exercise(case):
            TRIED[f"http:{service} {case.method} {case.path}"] += 1
            checks = [not_a_server_error, problem_details]
            if mode == GenerationMode.NEGATIVE:
                checks.append(negative_data_rejection)
            # Valid credentials, unless the case is about spoiling them (the refusal is then the point).
            spoiled = {name.lower() for name, _ in negated_parameters(case.meta)} & CREDENTIALS
            case.call_and_validate(session=UNSIGNED if spoiled else SIGNED, checks=checks,
                                   headers={} if spoiled else {"Authorization": f"Bearer {API_KEY}"})

        try:
            exercise()
        except Unsatisfiable:
            assert mode == GenerationMode.NEGATIVE  # nothing in this operation can be made invalid


def test_write_the_count_of_bad_inputs_tried():
    """Runs last in this module: the figures for the record."""
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps({"written_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
                                   "inputs_tried": dict(sorted(TRIED.items()))}, indent=2) + "\n")
    assert TRIED
