"""Rebooking benchmark: every flight cancelled on 8 February 2013 (the "Nemo" blizzard), its
passengers rebooked onto the real later flights out of New York.

    make bench-rebooking        (or: python -m bench.rebooking_nemo [--days 4] [--keep])

Runs its own disruption and rebooking services (separate processes) on a fresh database and topic
prefix, so it never meets the demo's data. It loads the real schedule of 8 February and the days
after (the 72-hour horizon), synthesized bookings filling each flight to 80–90 %, then sends the
day's real cancellations through the signed partner API in one batch, as an airline's operations
system would, and waits until every disrupted booking has an outcome.

Reports: passengers rebooked / without an alternative / needing an agent; each assignment round's
solve time; each booking's time from the cancellation's acceptance to its rebooking decision
(p50/p99/max) and the time until the last one; oversold cabins (must be 0); and this machine's raw
Kafka round trip and PostgreSQL transaction rate, measured in the same run.
"""

import argparse
import asyncio
import json
import statistics
import time
from collections import Counter
from datetime import UTC, date, datetime
from pathlib import Path

import asyncpg

from bench import replay, scenario, small_scenario
from bench.measure import describe, fresh_run, percentile, postgres_baseline, round_trip_baseline
from bench.stack import ROOT, Stack
from shared import topics
from shared.events import FlightCancelled, FlightRef
from shared.settings import Settings


async def wait_for(db: asyncpg.Connection, what: str, query: str, want: int, within: float,
                   *args) -> float:
    start = time.monotonic()
    last = -1
    while True:
        have = await db.fetchval(query, *args)
        if have >= want:
            return time.monotonic() - start
        if time.monotonic() - start > within:
            raise TimeoutError(f"{what}: {have} of {want} after {within:.0f} s")
        if have != last:
            print(f"  {what}: {have}/{want}", flush=True)
            last = have
        await asyncio.sleep(2)


def solve_rounds(log: Path) -> list[dict]:
    rounds = []
    for line in log.read_text(errors="replace").splitlines():
        if '"assigned"' in line:
            entry = json.loads(line)
            if entry.get("message") == "assigned":
                rounds.append(entry)
    return rounds


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--day", type=date.fromisoformat, default=date(2013, 2, 8))
    parser.add_argument("--keep", action="store_true", help="keep the database, topics and services' logs")
    args = parser.parse_args()

    async with fresh_run(args.keep) as (run, settings):
        await run_benchmark(args, run, settings)


async def run_benchmark(args: argparse.Namespace, run: str, settings: Settings) -> None:
    database_url = settings.database_url
    logs = ROOT / ".local" / "bench" / run
    stack = Stack(env={"REBOUND_KAFKA_BOOTSTRAP": settings.kafka_bootstrap, "REBOUND_DATABASE_URL": database_url,
                       "REBOUND_TOPIC_PREFIX": settings.topic_prefix, "REBOUND_ENVIRONMENT": "test",
                       "REBOUND_PARTNER_RATE_PER_SECOND": "100000", "REBOUND_PARTNER_BURST": "100000",
                       "REBOUND_REBOOKING_PARTNERS": scenario.PARTNERS_2013, "REBOUND_LOG_LEVEL": "INFO"},
                  logs=logs, services=("disruption", "rebooking"))
    results: dict = {"run": run, "day": args.day.isoformat()}
    try:
        print("baseline (this machine, this run):")
        rtt = await round_trip_baseline(settings)
        rate, tx = await postgres_baseline(database_url)
        print(f"  kafka produce→consume round trip (acks=all): {describe(rtt)}")
        print(f"  postgresql single-row transactions: {rate:.0f}/s, {describe(tx)}")
        results["baseline"] = {"kafka_round_trip_ms": {"p50": statistics.median(rtt), "p99": percentile(rtt, 99)},
                               "postgres_tx_per_second": rate}

        print(f"scenario: the real schedule of {args.day} and the 3 days after, bookings synthesized")
        whole = scenario.build(args.day)
        flights, bookings = whole.flights, whole.bookings
        cancelled_ids = set(whole.cancelled)
        cancelled = [whole.flight_by_id[f] for f in sorted(cancelled_ids)]
        disrupted = [b for b in bookings if b.flight_ids[0] in cancelled_ids]
        passengers = sum(len(b.passengers) for b in disrupted)
        print(f"  {len(flights)} flights, {len(bookings)} bookings, "
              f"{sum(len(b.passengers) for b in bookings)} passengers; "
              f"{len(cancelled)} flights cancelled on {args.day}: {len(disrupted)} bookings, {passengers} passengers")
        results["scenario"] = {"flights": len(flights), "bookings": len(bookings),
                               "cancelled_flights": len(cancelled), "disrupted_bookings": len(disrupted),
                               "disrupted_passengers": passengers}

        stack.start()
        started = time.monotonic()
        await replay.publish(settings, topics.SCHEDULE, flights, lambda f: f.flight_id, replay.RESERVATIONS)
        await replay.publish(settings, topics.BOOKINGS, bookings, lambda b: b.booking_ref, replay.RESERVATIONS)
        db = await asyncpg.connect(database_url)
        try:
            await wait_for(db, "rebooking: bookings", "SELECT count(*) FROM rebooking.bookings", len(bookings), 900)
            await wait_for(db, "rebooking: flights", "SELECT count(DISTINCT flight_id) FROM rebooking.cabins",
                           len(flights), 300)
            await wait_for(db, "disruption: bookings", "SELECT count(*) FROM disruption.itineraries",
                           len(bookings), 900)
            results["load_seconds"] = time.monotonic() - started
            print(f"  loaded in {results['load_seconds']:.0f} s")

            events = [FlightCancelled(partner_event_id=f"nemo-{f.flight_id}", reason="weather",
                                      flight=FlightRef(carrier=f.carrier, number=f.number,
                                                       departure_date=args.day, origin=f.origin))
                      for f in cancelled]
            sent_at = datetime.now(UTC)
            for i in range(0, len(events), 500):
                body = "[" + ",".join(e.model_dump_json() for e in events[i:i + 500]) + "]"
                response = await small_scenario.submit(stack.url("disruption"), body.encode())
                response.raise_for_status()
            accepted_after = (datetime.now(UTC) - sent_at).total_seconds()
            print(f"  {len(events)} cancellations accepted (202) after {accepted_after * 1000:.0f} ms")

            await wait_for(db, "disruption: bookings disrupted",
                           "SELECT count(*) FROM disruption.disruptions WHERE flight_id = ANY($1::text[])",
                           len(disrupted), 600, list(cancelled_ids))
            # Settled: every disrupted booking decided, none waiting (a booking first moved to a
            # flight cancelled in the same batch is disrupted, and decided, again).
            await wait_for(db, "rebooking: bookings decided",
                           """SELECT count(DISTINCT r.booking_ref) - (SELECT count(*) FROM rebooking.pending)
                              FROM rebooking.rebookings r JOIN disruption.disruptions d
                              USING (disruption_id, booking_ref) WHERE d.flight_id = ANY($1::text[])""",
                           len(disrupted), 900, list(cancelled_ids))
            await asyncio.sleep(3)
            await wait_for(db, "rebooking: nothing pending", "SELECT 1 - count(*) FROM rebooking.pending", 1, 300)
            rows = await db.fetch(
                """SELECT DISTINCT ON (r.booking_ref) r.outcome, r.seats, r.downgraded, r.to_flights,
                          r.arrival_delay_minutes, r.decided_at, r.reason,
                          (SELECT count(*) FROM rebooking.rebookings a WHERE a.booking_ref = r.booking_ref) AS decisions
                   FROM rebooking.rebookings r
                   WHERE r.booking_ref = ANY($1::text[])
                   ORDER BY r.booking_ref, r.decided_at DESC""", [b.booking_ref for b in disrupted])
            oversold = await db.fetchval(
                """SELECT count(*) FROM rebooking.cabins c
                   WHERE c.sold > c.capacity OR c.sold <> (SELECT count(*) FROM rebooking.seats s
                                                           WHERE s.flight_id = c.flight_id AND s.cabin = c.cabin)""")
            seats_taken = await db.fetchval(
                "SELECT count(*) FROM rebooking.seats WHERE flight_id <> ALL($1::text[])"
                " AND booking_ref IN (SELECT booking_ref FROM rebooking.rebookings WHERE outcome = 'rebooked')",
                list(cancelled_ids))
        finally:
            await db.close()
        report(results, rows, oversold, seats_taken, sent_at, solve_rounds(logs / "rebooking.log"))
        out = ROOT / ".local" / "bench" / f"rebooking_nemo-{run}.json"
        out.write_text(json.dumps(results, indent=2, default=str))
        print(f"results: {out}")
    finally:
        stack.stop()


def report(results: dict, rows, oversold: int, seats_taken: int, sent_at: datetime, rounds: list[dict]) -> None:
    by_outcome: Counter[str] = Counter()
    for r in rows:
        by_outcome[r["outcome"]] += r["seats"]
    rebooked = [r for r in rows if r["outcome"] == "rebooked"]
    latency = [(r["decided_at"] - sent_at).total_seconds() for r in rows]
    makespan = (max(r["decided_at"] for r in rows) - sent_at).total_seconds()
    delays = [r["arrival_delay_minutes"] / 60 for r in rebooked]
    solve = [x["seconds"] for x in rounds]
    passengers = sum(r["seats"] for r in rows)
    two_flights = sum(r["seats"] for r in rebooked if len(r["to_flights"]) > 1)
    downgraded = sum(r["seats"] for r in rebooked if r["downgraded"])
    again = sum(r["seats"] for r in rows if r["decisions"] > 1)
    _print_report(by_outcome, passengers, two_flights, downgraded, delays, solve, rounds, again, latency, makespan,
                  seats_taken, oversold)
    results.update({
        "passengers_by_outcome": dict(by_outcome),
        "rebooked_on_two_flights": two_flights,
        "rebooked_downgraded": downgraded,
        **_distributions(delays, solve, rounds, latency),
        "passengers_moved_twice": again,
        "makespan_seconds": makespan, "passengers_per_second": passengers / makespan,
        "seats_taken": seats_taken, "oversold_cabins": oversold,
    })


def _distributions(delays: list[float], solve: list[float], rounds: list[dict], latency: list[float]
                   ) -> dict[str, dict]:
    return {
        "arrival_delay_hours": {"median": statistics.median(delays) if delays else None,
                                "p90": percentile(delays, 90) if delays else None},
        "solve_seconds": {"rounds": len(solve), "p50": statistics.median(solve), "p99": percentile(solve, 99),
                          "max": max(solve), "methods": dict(Counter(x["method"] for x in rounds))},
        "decision_latency_seconds": {"p50": statistics.median(latency), "p99": percentile(latency, 99),
                                     "max": max(latency)},
    }


def _print_report(by_outcome: Counter[str], passengers: int, two_flights: int, downgraded: int, delays: list[float],
                  solve: list[float], rounds: list[dict], again: int, latency: list[float], makespan: float,
                  seats_taken: int, oversold: int) -> None:
    print("outcome, passengers:")
    for outcome, n in by_outcome.most_common():
        print(f"  {outcome:15} {n:6}  ({n / passengers:.1%})")
    print(f"  of those rebooked: {two_flights} on two flights (a stop, or a party split), {downgraded} in a lower"
          f" cabin, arrival later than planned by median {statistics.median(delays):.1f} h,"
          f" p90 {percentile(delays, 90):.1f} h" if delays else "  nobody rebooked")
    largest = max(x["bookings"] for x in rounds)
    print(f"solve time per assignment round: {len(solve)} rounds, {describe([s * 1000 for s in solve])}; "
          f"methods {dict(Counter(x['method'] for x in rounds))}; largest round {largest} bookings")
    print(f"  {again} passengers were first moved to a flight cancelled in the same batch, and moved again")
    print(f"cancellations sent → each booking's final decision: {describe([s * 1000 for s in latency])}")
    print(f"first cancellation sent → last booking decided: {makespan:.1f} s "
          f"({passengers / makespan:.0f} passengers/s)")
    print(f"seats taken on alternatives: {seats_taken}; oversold cabins: {oversold}")


if __name__ == "__main__":
    asyncio.run(main())
