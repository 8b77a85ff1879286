"""Ingest → first-notice-request latency for a 200-passenger cancellation, with this machine's
raw Kafka and PostgreSQL figures measured in the same run.

    make services && python -m bench.first_notice_latency [--rounds 5] [--passengers 200]

Each round loads a fresh 200-seat flight, full, and cancels it through the signed partner API.
For every passenger, the latency is from the event's acceptance (its CloudEvents time, set by
the ingest API before the 202) to its first-notice request landing on the `notices` topic (the
Kafka record's timestamp, set as the outbox relay publishes it)."""

import argparse
import asyncio
import random
import statistics
import time
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import asyncpg
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic

from bench import small_scenario
from shared import topics
from shared.events import (
    BookingConfirmed,
    Envelope,
    FlightCancelled,
    FlightRef,
    FlightScheduled,
    Passenger,
    flight_id,
)
from shared.settings import Settings

DAY = date(2013, 2, 10)


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(p / 100 * len(ordered)) - 1))]


def describe(values: list[float], unit: str = "ms") -> str:
    return (f"n={len(values)} p50={statistics.median(values):.1f} {unit} "
            f"p99={percentile(values, 99):.1f} {unit} max={max(values):.1f} {unit}")


def base36(n: int, width: int) -> str:
    digits = ""
    for _ in range(width):
        n, d = divmod(n, 36)
        digits = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"[d] + digits
    return digits


def full_flight(number: int, passengers: int, rng: random.Random) -> small_scenario.Scenario:
    departure = datetime(2013, 2, 10, 22, 40, tzinfo=UTC)
    flight = FlightScheduled(flight_id=flight_id("B6", str(number), DAY, "JFK"), carrier="B6",
                             number=str(number), origin="JFK", destination="BOS",
                             scheduled_departure=departure,
                             scheduled_arrival=departure + timedelta(minutes=75), seats=passengers)
    bookings, contacts, left = [], [], passengers
    while left:
        party = min(left, rng.randint(1, 5))
        ref = f"Z{base36(number, 3)}{base36(len(bookings), 2)}"
        people = [Passenger(passenger_id=f"{ref}-{i + 1}", name=f"TRAVELLER/{i + 1}",
                            fare=Decimal(rng.randrange(89, 420))) for i in range(party)]
        bookings.append(BookingConfirmed(booking_ref=ref, passengers=people, flight_ids=[flight.flight_id]))
        contacts += [{"passenger_id": p.passenger_id, "booking_ref": ref, "given_name": "Sam",
                      "email": f"{p.passenger_id.lower()}@example.com",
                      "phone": f"+1212555{rng.randrange(10**4):04d}",
                      "channels": rng.choice([["sms", "email"], ["email"], ["sms"]])} for p in people]
        left -= party
    cancellation = FlightCancelled(partner_event_id=f"bench-{flight.flight_id}", reason="weather",
                                   flight=FlightRef(carrier="B6", number=str(number), departure_date=DAY,
                                                    origin="JFK"))
    return small_scenario.Scenario([flight], bookings, contacts, cancellation,
                                   [b.booking_ref for b in bookings])


async def round_trip_baseline(settings: Settings, n: int = 300) -> list[float]:
    """aiokafka produce (acks=all, idempotent) → consume, one message at a time."""
    topic = topics.name(settings, "bench-baseline")
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)
    await admin.start()
    try:
        if topic not in await admin.list_topics():
            await admin.create_topics([NewTopic(topic, 1, settings.topic_replication)])
            await asyncio.sleep(1)  # let the new partition's leader settle
    finally:
        await admin.close()
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap, acks="all",
                                enable_idempotence=True)
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=settings.kafka_bootstrap, group_id=None,
                                auto_offset_reset="latest")
    await producer.start()
    await consumer.start()
    try:
        await producer.send_and_wait(topic, b"warm-up")
        await consumer.getmany(timeout_ms=1000)
        times = []
        for i in range(n):
            start = time.perf_counter()
            await producer.send_and_wait(topic, str(i).encode())
            while not any((await consumer.getmany(timeout_ms=1000)).values()):
                pass
            times.append((time.perf_counter() - start) * 1000)
        return times
    finally:
        await consumer.stop()
        await producer.stop()


async def postgres_baseline(database_url: str, seconds: float = 3) -> tuple[float, list[float]]:
    """Single-row INSERT transactions, committed one by one: rate and per-transaction time."""
    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute("CREATE TEMP TABLE bench (id bigserial PRIMARY KEY, at timestamptz)")
        times, deadline = [], time.monotonic() + seconds
        while time.monotonic() < deadline:
            start = time.perf_counter()
            async with conn.transaction():
                await conn.execute("INSERT INTO bench (at) VALUES (now())")
            times.append((time.perf_counter() - start) * 1000)
        return len(times) / seconds, times
    finally:
        await conn.close()


async def first_notice_latencies(settings: Settings, scenario: small_scenario.Scenario,
                                 disruption_url: str) -> tuple[list[float], float]:
    topic = topics.name(settings, topics.NOTICES)
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=settings.kafka_bootstrap, group_id=None,
                                auto_offset_reset="latest")
    await consumer.start()
    try:
        await consumer.getmany(timeout_ms=500)  # assigned, positioned at the end
        start = time.perf_counter()
        [disruption_id] = await small_scenario.cancel(disruption_url, scenario.cancellation)
        accepted_ms = (time.perf_counter() - start) * 1000
        want = len(scenario.disrupted_passengers)
        latencies: list[float] = []
        deadline = time.monotonic() + 60
        while len(latencies) < want and time.monotonic() < deadline:
            for records in (await consumer.getmany(timeout_ms=500)).values():
                for r in records:
                    notice = Envelope.from_bytes(r.value).data
                    if notice.disruption_id != disruption_id or notice.stage != "first_notice":
                        continue
                    took = r.timestamp - notice.occurred_at.timestamp() * 1000
                    latencies += [took] * len(notice.passenger_ids)
        if len(latencies) < want:
            raise TimeoutError(f"only {len(latencies)} of {want} first notices were requested")
        return latencies, accepted_ms
    finally:
        await consumer.stop()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--disruption-url", default="http://127.0.0.1:8001")
    parser.add_argument("--notify-url", default="http://127.0.0.1:8004")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--passengers", type=int, default=200)
    args = parser.parse_args()
    settings = Settings()
    api_key = settings.api_key_list[0]
    rng = random.Random(2013)
    first = 5000 + int(time.time()) % 4000  # fresh flight numbers on every run

    print("baseline (this machine, this run):")
    rtt = await round_trip_baseline(settings)
    print(f"  kafka produce→consume round trip (acks=all): {describe(rtt)}")
    rate, tx = await postgres_baseline(settings.database_url)
    print(f"  postgresql single-row transactions: {rate:.0f}/s, {describe(tx)}")

    everyone, accepts = [], []
    for n in range(args.rounds):
        scenario = full_flight(first + n, args.passengers, rng)
        await small_scenario.load(settings, scenario, args.notify_url, api_key)
        await small_scenario.wait_until_loaded(settings.database_url, scenario)
        latencies, accepted_ms = await first_notice_latencies(settings, scenario, args.disruption_url)
        everyone += latencies
        accepts.append(accepted_ms)
        print(f"round {n + 1}: {args.passengers} passengers, 202 after {accepted_ms:.1f} ms; "
              f"first-notice requests {describe(latencies)}")
    print(f"all rounds: ingest → first-notice request {describe(everyone)}")
    print(f"  partner's wait for the 202 (acks=all): {describe(accepts)}")


if __name__ == "__main__":
    asyncio.run(main())
