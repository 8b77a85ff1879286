"""Event → first notice at the provider: for 200-passenger cancellations one at a time, and for 50
flights cancelled at once, with this machine's raw Kafka and PostgreSQL figures in the same run.

    make bench        (python -m bench.first_notice_latency [--rounds 5] [--passengers 200] [--simultaneous 50])

Runs its own four services and sandbox providers (separate processes) on a fresh database and
topic prefix. Each flight is full and has no alternative, so every cancellation also sets off
rebooking and entitlement notices: the bulk the first notices must not wait behind. For every
passenger and chosen channel, the latency runs from the cancellation's acceptance (its CloudEvents
time, set by the ingest API before the 202) to the sandbox SMS API or SMTP server accepting the
first notice (its `received_at`). Provider rates are set to 1,000 messages/s each."""

import argparse
import asyncio
import random
import statistics
import time
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import asyncpg
import httpx
from aiokafka import AIOKafkaConsumer

from bench import measure, small_scenario
from bench.stack import ROOT, Stack
from shared import topics
from shared.events import (
    BookingConfirmed,
    Envelope,
    FlightCancelled,
    FlightRef,
    FlightScheduled,
    Passenger,
    flight_id,
    notice_requests,
)
from shared.settings import Settings

DAY = date(2013, 2, 10)
API_KEY = "bench-key"


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
    bookings: list[BookingConfirmed] = []
    contacts: list[dict[str, object]] = []
    left = passengers
    while left:
        party = min(left, rng.randint(1, 5))
        ref = f"Z{base36(number, 3)}{base36(len(bookings), 2)}"
        people = [Passenger(passenger_id=f"{ref}-{i + 1}", name=f"TRAVELLER/{i + 1}",
                            fare=Decimal(rng.randrange(89, 420))) for i in range(party)]
        bookings.append(BookingConfirmed(booking_ref=ref, passengers=people, flight_ids=[flight.flight_id]))
        contacts += [{"passenger_id": p.passenger_id, "booking_ref": ref, "given_name": "Sam",
                      "email": f"{p.passenger_id.lower()}@example.com",
                      "phone": f"+1212{number:04d}{len(contacts) + i:03d}",
                      "channels": rng.choice([["sms", "email"], ["email"], ["sms"]])} for i, p in enumerate(people)]
        left -= party
    cancellation = FlightCancelled(partner_event_id=f"bench-{flight.flight_id}", reason="weather",
                                   flight=FlightRef(carrier="B6", number=str(number), departure_date=DAY,
                                                    origin="JFK"))
    return small_scenario.Scenario([flight], bookings, contacts, cancellation,
                                   [b.booking_ref for b in bookings])


async def load(settings: Settings, stack: Stack, scenarios: list[small_scenario.Scenario]) -> None:
    whole = small_scenario.Scenario(
        [f for s in scenarios for f in s.flights], [b for s in scenarios for b in s.bookings],
        [c for s in scenarios for c in s.contacts], scenarios[0].cancellation,
        [r for s in scenarios for r in s.disrupted_refs])
    for i in range(0, len(whole.contacts), 1000):  # the contacts API takes 1,000 at a time
        part = small_scenario.Scenario(whole.flights if i == 0 else [], whole.bookings if i == 0 else [],
                                       whole.contacts[i:i + 1000], whole.cancellation, [])
        await small_scenario.load(settings, part, stack.url("notify"), API_KEY)
    await small_scenario.wait_until_loaded(settings.database_url, whole, within_seconds=120)


async def cancel_and_measure(settings: Settings, stack: Stack, scenarios: list[small_scenario.Scenario]
                             ) -> tuple[dict[str, list[float]], float]:
    """Cancel every flight of `scenarios` in one signed batch; return each first notice's latency
    to the provider, by channel, and how long the partner waited for the 202."""
    accepted_at: dict[str, datetime] = {}
    # A flight's first notices travel as one message for its passengers (flight-notices); a
    # booking's own, on first-notices.
    consumer = AIOKafkaConsumer(*(topics.name(settings, t) for t in (topics.FIRST_NOTICES, topics.FLIGHT_NOTICES)),
                                bootstrap_servers=settings.kafka_bootstrap, group_id=None, auto_offset_reset="latest")
    await consumer.start()
    try:
        await consumer.getmany(timeout_ms=500)  # assigned, positioned at the end
        body = "[" + ",".join(s.cancellation.model_dump_json() for s in scenarios) + "]"
        start = time.perf_counter()
        response = await small_scenario.submit(stack.url("disruption"), body.encode())
        response.raise_for_status()
        waited_ms = (time.perf_counter() - start) * 1000
        want, by_address = _expected([c for s in scenarios for c in s.contacts])
        deadline = time.monotonic() + 300
        latencies: dict[str, list[float]] = {"sms": [], "email": []}
        got: dict[tuple[str, str], str] = {}
        read = {"sms": 0, "mail": 0}
        async with httpx.AsyncClient(base_url=stack.url("sms"), timeout=30) as sandbox:
            while time.monotonic() < deadline:
                accepted_at |= await _accepted(consumer)
                got |= await _received(sandbox, read)
                if want <= got.keys() and all(by_address[k] in accepted_at for k in want):
                    for channel, address in want:
                        at = datetime.fromisoformat(got[(channel, address)])
                        latencies[channel].append((at - accepted_at[by_address[(channel, address)]]
                                                   ).total_seconds() * 1000)
                    return latencies, waited_ms
                await asyncio.sleep(1)
        raise TimeoutError(f"only {len(want & got.keys())} of {len(want)} first notices reached the providers")
    finally:
        await consumer.stop()


def _expected(contacts: list[dict]) -> tuple[set[tuple[str, str]], dict[tuple[str, str], str]]:
    """The (channel, address) each first notice should reach, and whose each address is."""
    want = {("sms", c["phone"]) for c in contacts if "sms" in c["channels"]} | \
           {("email", c["email"]) for c in contacts if "email" in c["channels"]}
    by_address = {("sms", c["phone"]): c["passenger_id"] for c in contacts} | \
                 {("email", c["email"]): c["passenger_id"] for c in contacts}
    return want, by_address


async def _accepted(consumer: AIOKafkaConsumer) -> dict[str, datetime]:
    """When each newly read first notice's event was accepted, by passenger."""
    accepted_at: dict[str, datetime] = {}
    for records in (await consumer.getmany(timeout_ms=200)).values():
        for r in records:
            for notice in notice_requests(Envelope.from_bytes(r.value).data):
                accepted_at |= {p: notice.occurred_at for p in notice.passenger_ids}
    return accepted_at


async def _received(sandbox: httpx.AsyncClient, read: dict[str, int]) -> dict[tuple[str, str], str]:
    """Cancellation notices the sandbox received since the last look, by (channel, address)."""
    # Only what is new since the last look: the measurement must not load the provider.
    sms = (await sandbox.get("/v1/sms", params={"since": read["sms"]})).json()
    mail = (await sandbox.get("/v1/mail", params={"since": read["mail"]})).json()
    read["sms"] += len(sms)
    read["mail"] += len(mail)
    return {("sms", m["to"]): m["received_at"] for m in sms if "cancelled" in m["body"]} | \
           {("email", m["rcpt_tos"][0]): m["received_at"] for m in mail if "cancelled" in m["subject"]}


def report(label: str, latencies: dict[str, list[float]]) -> list[float]:
    everyone = latencies["sms"] + latencies["email"]
    print(f"{label}: event → first notice at the provider {measure.describe(everyone)}")
    for channel, values in latencies.items():
        if values:
            print(f"    {channel:<5} {measure.describe(values)}")
    return everyone


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--passengers", type=int, default=200)
    parser.add_argument("--simultaneous", type=int, default=50, help="flights cancelled in one batch")
    parser.add_argument("--keep", action="store_true", help="keep the database, topics and services' logs")
    args = parser.parse_args()
    async with measure.fresh_run(args.keep) as (run, settings):
        await run_benchmark(args, run, settings)


async def run_benchmark(args: argparse.Namespace, run: str, settings: Settings) -> None:
    database_url = settings.database_url
    stack = Stack(env={"REBOUND_KAFKA_BOOTSTRAP": settings.kafka_bootstrap, "REBOUND_DATABASE_URL": database_url,
                       "REBOUND_TOPIC_PREFIX": settings.topic_prefix, "REBOUND_ENVIRONMENT": "test",
                       "REBOUND_API_KEYS": API_KEY, "REBOUND_PARTNER_RATE_PER_SECOND": "100000",
                       "REBOUND_PARTNER_BURST": "100000", "REBOUND_SMS_RATE_PER_SECOND": "1000",
                       "REBOUND_EMAIL_RATE_PER_SECOND": "1000", "REBOUND_LOG_LEVEL": "WARNING"},
                  logs=ROOT / ".local" / "bench" / run)
    rng = random.Random(2013)
    try:
        stack.start()
        print("baseline (this machine, this run):")
        rtt = await measure.round_trip_baseline(settings)
        print(f"  kafka produce→consume round trip (acks=all): {measure.describe(rtt)}")
        rate, tx = await measure.postgres_baseline(database_url)
        print(f"  postgresql single-row transactions: {rate:.0f}/s, {measure.describe(tx)}")

        number = 5000
        one_at_a_time: dict[str, list[float]] = {"sms": [], "email": []}
        for n in range(args.rounds):
            scenario = full_flight(number, args.passengers, rng)
            number += 1
            await load(settings, stack, [scenario])
            latencies, waited = await cancel_and_measure(settings, stack, [scenario])
            for channel, values in latencies.items():
                one_at_a_time[channel] += values
            report(f"round {n + 1}, {args.passengers} passengers (202 after {waited:.0f} ms)", latencies)
            await quiet(database_url)  # each cancellation meets a system at rest
        single = report(f"all {args.rounds} rounds", one_at_a_time)

        scenarios = [full_flight(number + i, args.passengers, rng) for i in range(args.simultaneous)]
        await load(settings, stack, scenarios)
        latencies, waited = await cancel_and_measure(settings, stack, scenarios)
        passengers = sum(len(s.contacts) for s in scenarios)
        burst = report(f"{args.simultaneous} cancellations at once, {passengers} passengers "
                       f"(202 after {waited:.0f} ms)", latencies)
        span = max(burst) / 1000
        print(f"    {len(burst)} first notices in {span:.1f} s: {len(burst) / span:.0f} notices/s")
        print("summary: first notice at the provider, "
              f"single 200-passenger cancellation p50 {statistics.median(single):.0f} ms, "
              f"p99 {measure.percentile(single, 99):.0f} ms, max {max(single):.0f} ms; "
              f"{args.simultaneous} at once p50 {statistics.median(burst):.0f} ms, "
              f"p99 {measure.percentile(burst, 99):.0f} ms, max {max(burst):.0f} ms")
        outcomes = Counter(m for m in await deliveries_by_status(database_url))
        print(f"  deliveries by stage and status at the end: {dict(outcomes)}")
    finally:
        stack.stop()


async def quiet(database_url: str, within_seconds: float = 300) -> None:
    """Wait until every notice has been dealt with (the rebooking and entitlement notices too)."""
    conn = await asyncpg.connect(database_url)
    try:
        deadline = time.monotonic() + within_seconds
        while time.monotonic() < deadline:
            busy = await conn.fetchval(
                "SELECT count(*) FROM notify.deliveries WHERE status IN ('pending', 'retrying', 'sending')")
            await asyncio.sleep(0.5 if busy else 1)  # once idle, a second more for whatever those set off
            if not busy:
                return
    finally:
        await conn.close()


async def deliveries_by_status(database_url: str) -> list[str]:
    conn = await asyncpg.connect(database_url)
    try:
        return [f"{r['stage']}:{r['status']}" for r in await conn.fetch("SELECT stage, status FROM notify.deliveries")]
    finally:
        await conn.close()


if __name__ == "__main__":
    asyncio.run(main())
