"""The small scenario played through the whole system in one process, in about a second: what each
disrupted booking was decided, granted and told, with each text its first passenger would read.

    make play        (or: python -m bench.play, with PostgreSQL running: make infra)

No Kafka and no services: every consumer group and every queue of the system's declaration, run by
shared/in_process.py on a scratch database that is dropped after. For trying a change to a handler,
a rule or a template in a second rather than a minute; `make demo-small` plays the same scenario
through the running services."""

import argparse
import asyncio
import time
import uuid

import asyncpg

from bench import small_scenario
from services.notify import templates
from shared import db, in_process, sealed, topics
from shared.events import EntitlementsGranted, NoticeRequested, RebookingDecided, notice_requests
from shared.notices import facts_of
from shared.notices import read as read_notice
from shared.settings import DEVELOPMENT_DATABASE_URL

CONFIGS = in_process.configs("development", rebooking={"batch_window_ms": 0, "batch_max_wait_ms": 0})


async def load(runner: in_process.Runner, scenario: small_scenario.Scenario) -> None:
    """The schedule and the bookings, as the reservation system sends them; the contact details,
    as the airline puts them to notify."""
    for f in scenario.flights:
        await runner.publish(topics.SCHEDULE, f, source=small_scenario.SOURCE)
    for b in scenario.bookings:
        await runner.publish(topics.BOOKINGS, b, source=small_scenario.SOURCE)
    await runner.connections["notify"].executemany(
        "INSERT INTO contacts (passenger_id, booking_ref, given_name, email, phone, channels, locale)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7)",
        [(c["passenger_id"], c["booking_ref"], c["given_name"], c["email"], c["phone"], c["channels"], c["locale"])
         for c in scenario.contacts])


def outcome(d: RebookingDecided | None) -> str:
    if d is None:
        return "NO OUTCOME"
    return (f"{len(d.passenger_ids)} pax  {d.outcome}" + "".join(f" onto {s.flight_id}" for s in d.segments)
            + (" (refund due)" if d.refund_due else ""))


def report(runner: in_process.Runner, scenario: small_scenario.Scenario, took: float) -> str:
    """Each disrupted booking: its outcome, its grants, and each text its first passenger reads."""
    opener = sealed.Opener.parse(sealed.DEVELOPMENT_PRIVATE_KEYS)
    decided = {d.booking_ref: d for d in runner.on(topics.REBOOKINGS) if isinstance(d, RebookingDecided)}
    grants: dict[str, list[str]] = {}
    for e in (e for e in runner.on(topics.ENTITLEMENTS) if isinstance(e, EntitlementsGranted)):
        grants.setdefault(e.booking_ref, []).extend(f"{g.kind} {g.amount} {g.currency} ({g.regime})" for g in e.grants)
    told: dict[str, list[NoticeRequested]] = {}
    for n in (n for t in (topics.FLIGHT_NOTICES, topics.FIRST_NOTICES, topics.NOTICES) for e in runner.on(t)
              for n in notice_requests(e)):
        told.setdefault(n.booking_ref, []).append(n)
    names = {(c["booking_ref"], c["passenger_id"]): c["given_name"] for c in scenario.contacts}
    lines = [f"{scenario.cancellation.flight.flight_id} cancelled: {len(scenario.disrupted_passengers)} passengers "
             f"in {len(scenario.disrupted_refs)} bookings, every outcome in {took * 1000:.0f} ms", ""]
    for ref in sorted(scenario.disrupted_refs):
        lines.append(f"{ref}  {outcome(decided.get(ref))}")
        lines += [f"    granted {g}" for g in sorted(set(grants.get(ref, [])))]
        for notice in told.get(ref, []):
            passenger = notice.passenger_ids[0]
            opened = read_notice(notice.template, opener.open_all(facts_of(notice.facts)))
            text = templates.render_notice(opened, "sms", "en", names.get((ref, passenger), "there"), passenger)
            lines.append(f"    {notice.stage} text: {text.body}")
    lines.append("")
    lines.append(f"published {len(runner.published)} events; dead-lettered {len(runner.dead_letters)}")
    return "\n".join(lines)


async def play(admin_url: str) -> str:
    scenario = small_scenario.build()
    async with db.scratch_database(admin_url, f"rebound_play_{uuid.uuid4().hex[:10]}") as url:
        await in_process.migrate(url)
        async with in_process.connections(url) as conns:
            return await _play(conns, scenario)


async def _play(conns: dict[str, asyncpg.Connection], scenario: small_scenario.Scenario) -> str:
    runner = in_process.Runner(conns, CONFIGS)
    await load(runner, scenario)
    started = time.perf_counter()
    await runner.publish(topics.FLIGHT_EVENTS, scenario.cancellation, source="partner/demo")
    return report(runner, scenario, time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database-url", default=DEVELOPMENT_DATABASE_URL,
                        help="a PostgreSQL role that may create databases (default: the local one, make infra)")
    args = parser.parse_args()
    print(asyncio.run(play(args.database_url)))


if __name__ == "__main__":
    main()
