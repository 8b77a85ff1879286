"""Partners plug in with the tools they already use, on the real stack: the official CloudEvents
SDK over HTTP in every mode and over Kafka through a second client (confluent-kafka, librdkafka),
in both content modes and with two partitioners; the partner's trace followed to the last notice;
and requests signed by the documented samples (docs/partners/) in Python, curl (openssl) and Java (javax.crypto)."""

import asyncio
import json
import re
import shutil
import sys
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import asyncpg
import httpx
import pytest
from cloudevents.core.bindings import http as ce_http
from cloudevents.core.bindings import kafka as ce_kafka
from cloudevents.core.formats.json import JSONFormat
from cloudevents.core.v1.event import CloudEvent
from confluent_kafka import Producer

from bench import small_scenario
from bench.small_scenario import DEMO_PARTNER_KEY
from shared import contract, signing, topics
from shared.events import BookingConfirmed, FlightScheduled, Passenger, flight_id
from tests.integration.conftest import eventually, publish

pytestmark = pytest.mark.integration

DAY = date(2013, 2, 11)  # no other test flies to Burlington (BTV) that day
SAMPLES = Path(__file__).parents[2] / "docs" / "partners"


def scheduled(number: str, departs: int, seats: int = 50, destination: str = "BTV") -> FlightScheduled:
    departure = datetime(DAY.year, DAY.month, DAY.day, departs, tzinfo=UTC)
    return FlightScheduled(flight_id=flight_id("B6", number, DAY, "JFK"), carrier="B6", number=number,
                           origin="JFK", destination=destination, scheduled_departure=departure,
                           scheduled_arrival=departure + timedelta(minutes=80), seats=seats)


def data(number: str, **more) -> dict:
    return {"flight": {"carrier": "B6", "number": number, "departure_date": DAY.isoformat(), "origin": "JFK"}} | more


@pytest.fixture
async def db(settings):
    conn = await asyncpg.connect(settings.database_url)
    yield conn
    await conn.close()


async def status(db, fid: str, wanted: str) -> bool:
    async def check():
        return await db.fetchval("SELECT status FROM disruption.flights WHERE flight_id = $1", fid) == wanted
    return await eventually(check)


async def signed_post(url: str, headers: dict[str, str], body: bytes) -> httpx.Response:
    async with httpx.AsyncClient(timeout=30) as client:
        return await client.post(f"{url}/v1/flight-events", content=body,
                                 headers=dict(headers) | signing.sign(*DEMO_PARTNER_KEY, body, "/v1/flight-events"))


async def test_cloudevents_over_http_in_every_mode_and_the_trace_followed_to_the_last_notice(stack, settings, db):
    # The last one is the only other flight to Burlington, so the rebooked go there, and never onto a
    # flight the events below cancel or delay (which would disrupt them again, in another trace).
    flights = [scheduled("2301", 9), scheduled("2303", 10, destination="ALB"), scheduled("2305", 11, destination="ALB"),
               scheduled("2307", 12, destination="ALB"), scheduled("2309", 18, seats=100)]
    booking = BookingConfirmed(booking_ref="CEHTTP", flight_ids=[flights[0].flight_id],
                               passengers=[Passenger(passenger_id="CEHTTP-1", fare=Decimal("129.00"))])
    await publish(settings, topics.SCHEDULE, flights)
    await publish(settings, topics.BOOKINGS, [booking])
    await eventually(lambda: db.fetchval("SELECT count(*) = 5 FROM disruption.flights WHERE flight_id = ANY($1)",
                                         [f.flight_id for f in flights]))
    await eventually(lambda: db.fetchval("SELECT true FROM disruption.manifest WHERE booking_ref = 'CEHTTP'"))
    await eventually(lambda: db.fetchval("SELECT true FROM rebooking.seats WHERE booking_ref = 'CEHTTP' LIMIT 1"))
    await eventually(lambda: db.fetchval("SELECT true FROM compensation.passengers WHERE booking_ref = 'CEHTTP'"))
    url = stack.url("disruption")
    trace = "00-5a1e00c0ffee5a1e00c0ffee5a1e0001-00f067aa0ba902b7-01"

    # Binary mode, as the SDK makes it: ce-* headers, the data as the body, no Content-Type at all.
    event = CloudEvent(attributes={"type": "com.example.ops.flight.cancelled", "source": "/partner/demo",
                                   "traceparent": trace, "partitionkey": "B62301"},
                       data=data("2301", reason="crew"))  # within the airline's control: a credit is owed
    message = ce_http.to_binary(event, JSONFormat())
    response = await signed_post(url, message.headers, message.body)
    assert response.status_code == 202, response.text
    assert await status(db, flights[0].flight_id, "cancelled")

    # Structured, with a charset and a schema; then a batch of two.
    event = CloudEvent(attributes={"type": "flight.cancelled", "source": "/partner/demo",
                                   "datacontenttype": "application/json; charset=utf-8",
                                   "dataschema": "https://example.com/flight-event.json"},
                       data=data("2303", reason="crew"))
    message = ce_http.to_structured(event, JSONFormat())
    assert (await signed_post(url, message.headers, message.body)).status_code == 202
    batch = [json.loads(ce_http.to_structured(CloudEvent(attributes={"type": "flight.delayed", "source": "/p"},
                                                         data=data(n, estimated_departure=f"{DAY}T20:00:00Z")),
                                              JSONFormat()).body) for n in ("2305", "2307")]
    response = await signed_post(url, {"Content-Type": "application/cloudevents-batch+json"},
                                 json.dumps(batch).encode())
    assert response.status_code == 202 and len(response.json()["event_ids"]) == 2
    assert await status(db, flights[1].flight_id, "cancelled")
    assert await status(db, flights[3].flight_id, "delayed")

    # The partner's trace is on every event that followed: the first notice, the new plan (decided
    # later, by rebooking's assignment round) and the entitlements.
    async def stages():
        rows = await db.fetch("SELECT DISTINCT stage, traceparent FROM notify.deliveries WHERE booking_ref = 'CEHTTP'")
        return {r["stage"]: r["traceparent"] for r in rows} if len(rows) >= 3 else None
    assert await eventually(stages, within_seconds=60) == {
        "first_notice": trace, "rebooking": trace, "entitlements": trace}
    # And the passenger's answer to the new plan, whenever it comes, follows from it too.
    assert await db.fetchval("SELECT traceparent FROM rebooking.rebookings WHERE booking_ref = 'CEHTTP'") == trace
    assert trace[3:35] in (stack.logs / "disruption.log").read_text()  # the logs name it too

    # A field error names the partner's own field.
    event = CloudEvent(attributes={"type": "flight.cancelled", "source": "/p"},
                       data=data("2301") | {"reason": "snow"})
    message = ce_http.to_binary(event, JSONFormat())
    refused = await signed_post(url, message.headers, message.body)
    assert refused.status_code == 422 and refused.headers["content-type"] == "application/problem+json"
    assert [(e["field"], e["pointer"]) for e in refused.json()["errors"]] == [("reason", "/reason")]


async def test_a_json_batch_names_the_event_at_fault(stack):
    good = {"type": "flight.cancelled", "partner_event_id": "x", "reason": "weather"} | data("2301")
    bad = good | {"flight": good["flight"] | {"number": "12345"}}
    response = await small_scenario.submit(stack.url("disruption"), json.dumps([good, good, good, bad]).encode())
    assert response.status_code == 422
    assert [(e["field"], e["pointer"]) for e in response.json()["errors"]] == [
        ("events[3].flight.number", "/3/flight/number")]
    assert "tagged-union" not in response.text and "function-after" not in response.text


def confluent(settings, partitioner: str) -> Producer:
    return Producer({"bootstrap.servers": settings.kafka_bootstrap, "partitioner": partitioner,
                     "enable.idempotence": True, "acks": "all"})


def produce(producer: Producer, topic: str, message) -> int:
    """Publish one SDK-made message; the partition it landed on."""
    landed = []
    producer.produce(topic, value=message.value, key=message.key, headers=list(message.headers.items()),
                     on_delivery=lambda error, record: landed.append(error or record.partition()))
    producer.flush(30)
    assert landed and isinstance(landed[0], int), landed
    return landed[0]


async def test_cloudevents_on_kafka_from_librdkafka_in_both_modes(stack, settings, db):
    flights = [scheduled("2311", 13), scheduled("2313", 14)]
    await publish(settings, topics.SCHEDULE, flights)
    await eventually(lambda: db.fetchval("SELECT count(*) = 2 FROM disruption.flights WHERE flight_id = ANY($1)",
                                         [f.flight_id for f in flights]))
    topic = topics.name(settings, topics.FLIGHT_EVENTS)
    producer = confluent(settings, "consistent_random")
    binary = CloudEvent(attributes={"type": "flight.cancelled", "source": "/ops/flight-control",
                                    "partitionkey": "B62311", "sequence": "1"}, data=data("2311", reason="technical"))
    produce(producer, topic, ce_kafka.to_binary(binary, JSONFormat()))
    structured = CloudEvent(attributes={"type": "aero.example.flight.delayed", "source": "/ops/flight-control",
                                        "partitionkey": "B62313"},
                            data=data("2313", estimated_departure=f"{DAY}T16:00:00Z"))
    produce(producer, topic, ce_kafka.to_structured(structured, JSONFormat()))
    assert await status(db, flights[0].flight_id, "cancelled")
    assert await status(db, flights[1].flight_id, "delayed")
    row = await db.fetchrow("SELECT source, payload FROM disruption.flight_events WHERE flight_id = $1",
                            flights[0].flight_id)
    assert row["source"] == "/ops/flight-control" and json.loads(row["payload"])["partner_event_id"] == binary.get_id()


async def test_order_does_not_depend_on_the_partitioner(stack, settings, db):
    """librdkafka's default partitioner (CRC32) and Java's and Rebound's (murmur2) put one flight's
    key on different partitions. A newer cancellation published through one and an older delay
    through the other: the flight ends cancelled, the delay is history."""
    topic = topics.name(settings, topics.FLIGHT_EVENTS)
    crc32, murmur2 = confluent(settings, "consistent"), confluent(settings, "murmur2")
    number = "2321"
    flight = scheduled(number, 15)
    await publish(settings, topics.SCHEDULE, [flight])
    await eventually(lambda: db.fetchval("SELECT true FROM disruption.flights WHERE flight_id = $1", flight.flight_id))
    t = datetime.now(UTC)

    def message(kind: str, at: datetime, sequence: int, **more):
        event = CloudEvent(attributes={"type": kind, "source": "/ops/flight-control", "partitionkey": f"B6{number}",
                                       "time": at}, data=data(number, sequence=sequence, **more))
        return ce_kafka.to_binary(event, JSONFormat())

    newer = produce(crc32, topic, message("flight.cancelled", t, 2, reason="weather"))
    assert await status(db, flight.flight_id, "cancelled")
    older = produce(murmur2, topic, message("flight.delayed", t - timedelta(minutes=30), 1,
                                            estimated_departure=f"{DAY}T17:00:00Z"))
    assert newer != older, "the two partitioners agreed on this key: the test would prove nothing"

    async def both_seen():
        effects = [r["effect"] for r in await db.fetch(
            "SELECT effect FROM disruption.flight_events WHERE flight_id = $1 ORDER BY recorded_at", flight.flight_id)]
        return effects if len(effects) == 2 else None
    effects = await eventually(both_seen)
    assert effects[0].startswith("cancelled") and effects[1].startswith("stale"), effects
    assert await status(db, flight.flight_id, "cancelled")


SAMPLE_RUNS = {
    "python": [sys.executable, str(SAMPLES / "sign.py")],
    "curl": ["bash", str(SAMPLES / "sign.sh")],
    "java": ["java", str(SAMPLES / "Sign.java")],
}


@pytest.mark.parametrize("language, number, form", [
    ("python", "2331", "json"), ("curl", "2333", "structured"), ("java", "2335", "binary")])
async def test_the_readme_signing_samples_each_send_an_event(stack, settings, db, tmp_path, language, number, form):
    assert shutil.which(SAMPLE_RUNS[language][0]), f"{language}: its runtime is not installed"
    flight = scheduled(number, 16)
    await publish(settings, topics.SCHEDULE, [flight])
    await eventually(lambda: db.fetchval("SELECT true FROM disruption.flights WHERE flight_id = $1", flight.flight_id))
    body, headers = tmp_path / "event.json", []
    if form == "json":
        content_type = "application/json"
        body.write_text(json.dumps({"type": "flight.cancelled", "partner_event_id": f"sample-{language}",
                                    "reason": "crew"} | data(number)))
    elif form == "structured":
        content_type = "application/cloudevents+json"
        body.write_text(json.dumps({"specversion": "1.0", "id": f"sample-{language}", "source": "/samples",
                                    "type": "flight.cancelled", "data": data(number, reason="crew")}))
    else:
        content_type = "application/json"
        body.write_text(json.dumps(data(number, reason="crew")))
        headers = ["ce-specversion: 1.0", f"ce-id: sample-{language}", "ce-source: /samples",
                   "ce-type: flight.cancelled"]
    run = await asyncio.create_subprocess_exec(
        # A query string, percent-encoded, which each sample signs with the rest (the route ignores it).
        *SAMPLE_RUNS[language], f"{stack.url('disruption')}/v1/flight-events?sample={language}%20run",
        *DEMO_PARTNER_KEY, str(body),
        content_type, *headers, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    output = (await asyncio.wait_for(run.communicate(), 120))[0].decode()
    assert run.returncode == 0, output
    assert "202" in output and "event_ids" in output
    assert await status(db, flight.flight_id, "cancelled")


async def test_the_contract_is_served_beside_the_docs(stack):
    async with httpx.AsyncClient(base_url=stack.url("disruption")) as client:
        served = (await client.get("/asyncapi.json")).json()
        openapi = (await client.get("/openapi.json")).json()
    assert served == contract.asyncapi(served["info"]["version"])
    bodies = openapi["paths"]["/v1/flight-events"]["post"]["requestBody"]["content"]
    assert set(bodies) == {"application/json", "application/cloudevents+json", "application/cloudevents-batch+json"}
    named = set(re.findall(r"#/components/schemas/(\w+)", json.dumps(openapi)))
    assert named <= set(openapi["components"]["schemas"])  # every schema a body names is there
