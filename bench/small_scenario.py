"""A small scenario on the morning of the February 2013 blizzard: one cancelled JFK→BOS flight
with more passengers than its alternatives have seats.

    python -m bench.small_scenario      # load, cancel, wait, print every passenger's outcome

Schedule and bookings enter as the reservation system would send them: on the `schedule` and
`bookings` topics, without contact details; contact details go straight to notify's API. The
cancellation comes through the partner ingest API. The report reads the services' own tables,
as an auditor would."""

import argparse
import asyncio
import random
import sys
import time
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import asyncpg
import httpx
from aiokafka import AIOKafkaProducer

from shared import signing, topics
from shared.events import (
    BookingConfirmed,
    Envelope,
    FlightCancelled,
    FlightRef,
    FlightScheduled,
    Passenger,
    event_id,
    flight_id,
)
from shared.settings import Settings

SOURCE = "reservations/small-scenario"
EST = timedelta(hours=-5)
FIRST_NAMES = ["Ana", "Ben", "Chloe", "Dev", "Elif", "Femi", "Grace", "Hiro", "Ines", "Jon",
               "Kira", "Luis", "Maya", "Nils", "Omar", "Priya"]
SURNAMES = ["Okafor", "Lindqvist", "Moreau", "Tanaka", "Reyes", "Kowalski", "Haddad", "Brennan"]
# The development partner key (services.disruption.partners.DEVELOPMENT_PARTNER_KEYS).
DEMO_PARTNER_KEY = ("demo-dev", "dev-only-partner-secret")


@dataclass(frozen=True)
class Scenario:
    flights: list[FlightScheduled]
    bookings: list[BookingConfirmed]
    contacts: list[dict]
    cancellation: FlightCancelled
    disrupted_refs: list[str]

    @property
    def cancellation_flight_id(self) -> str:
        return self.flights[0].flight_id

    @property
    def disrupted_passengers(self) -> list[str]:
        refs = set(self.disrupted_refs)
        return [p.passenger_id for b in self.bookings if b.booking_ref in refs for p in b.passengers]


def _flight(carrier: str, number: str, origin: str, destination: str, day: date, hhmm: str,
            minutes: int, seats: int) -> FlightScheduled:
    local = datetime.combine(day, datetime.strptime(hhmm, "%H:%M").time())
    departure = (local - EST).replace(tzinfo=UTC)
    return FlightScheduled(
        flight_id=flight_id(carrier, number, day, origin), carrier=carrier, number=number,
        origin=origin, destination=destination, scheduled_departure=departure,
        scheduled_arrival=departure + timedelta(minutes=minutes), seats=seats,
    )


def build(run: int = 0, day: date = date(2013, 2, 8), seed: int = 2013) -> Scenario:
    """`run` (0–899) gives the scenario its own flight numbers and booking references, so it can
    be played again against services that remember the last time."""
    if not 0 <= run < 900:
        raise ValueError("run must be between 0 and 899")
    rng = random.Random(seed)
    base = 1000 + 10 * run
    cancelled = _flight("B6", str(base + 1), "JFK", "BOS", day, "17:40", 75, 20)
    later_same_day = _flight("B6", str(base + 3), "JFK", "BOS", day, "20:05", 75, 20)
    next_morning = _flight("B6", str(base + 5), "LGA", "BOS", day + timedelta(days=1), "09:15",
                           80, 20)
    flights = [cancelled, later_same_day, next_morning]

    counter = iter(range(100))

    def ref() -> str:
        return f"R{run:03d}{next(counter):02d}"

    bookings: list[BookingConfirmed] = []
    contacts: list[dict] = []

    def book(flight: FlightScheduled, party: int, with_contacts: bool) -> str:
        booking_ref = ref()
        surname = rng.choice(SURNAMES)
        given = [rng.choice(FIRST_NAMES) for _ in range(party)]
        passengers = [Passenger(passenger_id=f"{booking_ref}-{i + 1}", name=f"{surname}/{given[i]}",
                                fare=Decimal(rng.randrange(89, 420)))
                      for i in range(party)]
        bookings.append(BookingConfirmed(booking_ref=booking_ref, passengers=passengers,
                                         flight_ids=[flight.flight_id]))
        if with_contacts:
            for p, given_name in zip(passengers, given, strict=True):
                channels = rng.choice([["sms", "email"], ["email"], ["sms"]])
                contacts.append({
                    "passenger_id": p.passenger_id, "booking_ref": booking_ref,
                    "given_name": given_name,
                    "email": f"{p.passenger_id.lower()}@example.com",
                    "phone": f"+1212555{rng.randrange(10**4):04d}",
                    "channels": channels, "locale": "en",
                })
        return booking_ref

    # The cancelled flight: 17 passengers in 7 parties.
    disrupted = [book(cancelled, party, True) for party in (1, 2, 3, 1, 4, 2, 4)]
    # The alternatives are nearly full: 16 + 15 seats taken, 4 + 5 left.
    for flight, parties in ((later_same_day, (4, 4, 4, 4)), (next_morning, (5, 5, 5))):
        for party in parties:
            book(flight, party, False)
    cancellation = FlightCancelled(
        partner_event_id=f"nemo-{cancelled.flight_id}",
        flight=FlightRef(carrier="B6", number=cancelled.number, departure_date=day, origin="JFK"),
        reason="weather",
    )
    return Scenario(flights, bookings, contacts, cancellation, disrupted)


async def load(settings: Settings, scenario: Scenario, notify_url: str, api_key: str) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap,
                                enable_idempotence=True, acks="all")
    await producer.start()
    try:
        for f in scenario.flights:
            env = Envelope.wrap(f, source=SOURCE, subject=f.flight_id,
                                id=event_id(SOURCE, f.flight_id))
            await producer.send(topics.name(settings, topics.SCHEDULE), env.to_bytes(),
                                key=f.flight_id.encode())
        for b in scenario.bookings:
            env = Envelope.wrap(b, source=SOURCE, subject=b.booking_ref,
                                id=event_id(SOURCE, b.booking_ref))
            await producer.send(topics.name(settings, topics.BOOKINGS), env.to_bytes(),
                                key=b.booking_ref.encode())
        await producer.flush()
    finally:
        await producer.stop()
    async with httpx.AsyncClient() as client:
        response = await client.put(f"{notify_url}/v1/contacts", json=scenario.contacts,
                                    headers={"Authorization": f"Bearer {api_key}"})
        response.raise_for_status()


async def wait_until_loaded(database_url: str, scenario: Scenario, within_seconds: float = 60) -> None:
    """The reservation data is on the topics; wait until every service has taken it in."""
    seats = sum(len(b.passengers) for b in scenario.bookings)
    refs = [b.booking_ref for b in scenario.bookings]
    checks = [
        ("SELECT count(*) FROM disruption.manifest WHERE booking_ref = ANY($1)", len(refs)),
        ("SELECT coalesce(sum(cardinality(passenger_ids)), 0) FROM rebooking.bookings"
         " WHERE booking_ref = ANY($1)", seats),
        ("SELECT count(*) FROM compensation.passengers WHERE booking_ref = ANY($1)", seats),
    ]
    conn = await asyncpg.connect(database_url)
    try:
        deadline = time.monotonic() + within_seconds
        while True:
            try:
                done = [await conn.fetchval(sql, refs) >= want for sql, want in checks]
            except asyncpg.UndefinedTableError:
                done = [False]
            if all(done):
                return
            if time.monotonic() > deadline:
                raise TimeoutError("the services did not take in the schedule and bookings")
            await asyncio.sleep(0.2)
    finally:
        await conn.close()


async def submit(disruption_url: str, body: bytes, *, path: str = "/v1/flight-events",
                 content_type: str = "application/json",
                 key: tuple[str, str] = DEMO_PARTNER_KEY) -> httpx.Response:
    """POST to the partner ingest API, signed as a partner signs."""
    headers = signing.sign(*key, body, path) | {"Content-Type": content_type}
    async with httpx.AsyncClient(timeout=30) as client:
        return await client.post(f"{disruption_url}{path}", content=body, headers=headers)


async def cancel(disruption_url: str, event: FlightCancelled) -> list[str]:
    response = await submit(disruption_url, event.model_dump_json().encode())
    response.raise_for_status()
    return response.json()["event_ids"]


async def outcomes(database_url: str, scenario: Scenario) -> list[dict]:
    """One row per disrupted passenger: notices sent, rebooking outcome, grants."""
    conn = await asyncpg.connect(database_url)
    try:
        rows = await conn.fetch(
            """SELECT p.passenger_id, p.booking_ref,
                      (SELECT array_agg(d.stage || ':' || d.channel || ':' || d.status
                                        ORDER BY d.stage, d.channel)
                       FROM notify.deliveries d WHERE d.passenger_id = p.passenger_id) AS notices,
                      r.outcome, f.carrier || ' ' || f.number AS new_flight,
                      f.origin AS new_origin, f.scheduled_departure AS new_departure,
                      (SELECT array_agg(g.kind || ' ' || (g.amount_minor / 100.0)::numeric(12, 2) || ' '
                                        || g.currency ORDER BY g.kind)
                       FROM compensation.grants g WHERE g.passenger_id = p.passenger_id) AS grants
               FROM unnest($1::text[], $2::text[]) AS p(passenger_id, booking_ref)
               LEFT JOIN rebooking.rebookings r ON r.booking_ref = p.booking_ref
               LEFT JOIN rebooking.flights f ON f.flight_id = r.to_flights[1]
               ORDER BY p.passenger_id""",
            scenario.disrupted_passengers,
            [pid.rsplit("-", 1)[0] for pid in scenario.disrupted_passengers],
        )
        return [dict(r) for r in rows]
    finally:
        await conn.close()


STAGES = {"first_notice": "first", "rebooking": "new plan", "entitlements": "what's owed"}
UNFINISHED = ("pending", "sending", "retrying")


def settled(rows: list[dict]) -> bool:
    """Every passenger has an outcome, and each notice due to them has been dealt with: the
    first notice, the rebooking notice, and one about entitlements if anything was granted; and
    whoever will not fly has their refund granted."""
    def finished(r: dict) -> bool:
        notices = [n.split(":") for n in r["notices"] or []]
        done = {stage for stage, _, status in notices if status not in UNFINISHED}
        due = {"first_notice", "rebooking"} | ({"entitlements"} if r["grants"] else set())
        unfinished = any(status in UNFINISHED for _, _, status in notices)
        refunded = any(g.startswith("refund") for g in r["grants"] or [])
        return r["outcome"] is not None and due <= done and not unfinished \
            and (refunded or r["outcome"] not in ("no_alternative", "refund_requested"))
    return bool(rows) and all(finished(r) for r in rows)


async def wait_until_settled(database_url: str, scenario: Scenario,
                             within_seconds: float = 60) -> list[dict]:
    deadline = time.monotonic() + within_seconds
    while True:
        rows = await outcomes(database_url, scenario)
        if settled(rows) or time.monotonic() > deadline:
            return rows
        await asyncio.sleep(0.25)


def print_report(rows: list[dict], out=sys.stdout) -> None:
    print(f"\n{'passenger':<10} {'notices sent':<52} {'outcome':<36} entitlements", file=out)
    for r in rows:
        sent: dict[str, list[str]] = {}
        for stage, channel, status in (n.split(":") for n in r["notices"] or []):
            if status == "sent":
                sent.setdefault(STAGES[stage], []).append(channel)
        told = ", ".join(f"{stage} ({'+'.join(sorted(sent[stage]))})"
                         for stage in STAGES.values() if stage in sent)
        if r["outcome"] == "rebooked":
            when = r["new_departure"].astimezone(UTC).strftime("%d %b %H:%MZ")
            outcome = f"rebooked: {r['new_flight']} {r['new_origin']} {when}"
        elif r["outcome"] == "no_alternative":
            outcome = "no seat within 72 h: refund"
        else:
            outcome = r["outcome"] or "(none yet)"
        print(f"{r['passenger_id']:<10} {told:<52} {outcome:<36} "
              f"{', '.join(r['grants'] or []) or '-'}", file=out)


async def unused_run(database_url: str) -> int:
    """A run whose flights no earlier run has loaded."""
    conn = await asyncpg.connect(database_url)
    try:
        try:
            used = {r[0] for r in await conn.fetch("SELECT flight_id FROM rebooking.flights")}
        except asyncpg.UndefinedTableError:
            used = set()
    finally:
        await conn.close()
    free = [run for run in range(900) if build(run).flights[0].flight_id not in used]
    if not free:
        raise RuntimeError("every run of the small scenario has been played; reset the database")
    return free[0]


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--disruption-url", default="http://127.0.0.1:8001")
    parser.add_argument("--notify-url", default="http://127.0.0.1:8004")
    parser.add_argument("--run", type=int, default=None,
                        help="0–899: which flight numbers to use (default: one not used yet)")
    args = parser.parse_args()
    settings = Settings()
    api_key = settings.access().all_keys[0]
    run = args.run if args.run is not None else await unused_run(settings.database_url)
    scenario = build(run)
    flight = scenario.cancellation.flight
    print(f"Loading {len(scenario.flights)} flights and {len(scenario.bookings)} bookings "
          f"({len(scenario.disrupted_passengers)} passengers on {flight.carrier} {flight.number} "
          f"{flight.origin}→BOS, {flight.departure_date:%d %b %Y})…")
    await load(settings, scenario, args.notify_url, api_key)
    await wait_until_loaded(settings.database_url, scenario)
    started = time.monotonic()
    ids = await cancel(args.disruption_url, scenario.cancellation)
    print(f"Cancelled {flight.carrier} {flight.number} (event {ids[0]}); "
          "waiting for every passenger's outcome…")
    rows = await wait_until_settled(settings.database_url, scenario)
    print_report(rows)
    ok = settled(rows)
    print(f"\n{'All' if ok else 'NOT all'} {len(rows)} passengers told and given an outcome "
          f"in {time.monotonic() - started:.1f} s.")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
