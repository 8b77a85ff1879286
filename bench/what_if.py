"""What-if previews on the storm day's live state: how long a plan of 50 flights takes to preview,
and whether previews slow the live path.

    make bench-what-if     (python -m bench.what_if [--date 2013-02-08] [--flights 50] [--previews 20] [--probes 30])

Runs its own four services (separate processes) on a fresh database and topic prefix, loads the
day's schedule, bookings and contacts as `make bench` does, and then:

1. **Previews, alone.** The plan: cancel the `--flights` flights of the day with the most
   passengers booked (of those the day itself disrupted: the only ones the scenario books). It is
   previewed `--previews` times through `POST /v1/what-if`, one after another; each answer's
   `seconds` (the service's own) and the round trip are kept, and every answer must be whole
   (`missing` empty).
2. **The live path, with and without previews.** Other flights of the day are cancelled one at a
   time through the signed partner API (`--probes` of them, one every `--every` seconds): first with
   nothing else running, then while previews of the plan run back to back (the day's other
   cancelled flights, taken alternately for the two halves, so both hold flights of like sizes). For each passenger, the
   time from the cancellation's acceptance to its first notice handed to the provider (notify's
   `sent_at` less disruption's `accepted_at`).

Results: `bench/results/what-if-<date>.json`, with this machine's Kafka and PostgreSQL ceiling
measured in the same run and the CPU each preview cost the services and PostgreSQL."""

import argparse
import asyncio
import json
import time
from datetime import date
from pathlib import Path

import asyncpg
import httpx

from bench import cpu, measure, replay, scenario
from bench.run import API_KEY, RESULTS, _ceiling, _stack, machine, start_stack
from bench.small_scenario import submit
from shared.events import FlightCancelled, FlightRef
from shared.settings import Settings


async def busiest_flights(database_url: str, candidates: set[str], n: int) -> tuple[list[str], int]:
    """The `n` flights among `candidates` with the most passengers booked, and how many that is."""
    conn = await asyncpg.connect(database_url)
    try:
        rows = await conn.fetch(
            """SELECT flight_id, sum(cardinality(passenger_ids)) AS passengers FROM disruption.manifest
               WHERE flight_id = ANY($1::text[]) GROUP BY flight_id ORDER BY 2 DESC, 1 LIMIT $2""",
            sorted(candidates), n)
    finally:
        await conn.close()
    return [r["flight_id"] for r in rows], sum(r["passengers"] for r in rows)


async def preview(client: httpx.AsyncClient, plan: dict) -> dict:
    started = time.monotonic()
    answer = await client.post("/v1/what-if", json=plan)
    answer.raise_for_status()
    shown = answer.json()
    return {"round_trip_s": time.monotonic() - started, "seconds": shown["seconds"], "missing": shown["missing"],
            "by_part": shown["seconds_by_part"], "waited_s": shown["waited_for_first_notices_s"],
            "passengers": shown["hit"]["passengers"], "rebooked": (shown["rebooking"] or {}).get("rebooked")}


async def probe(disruption_url: str, database_url: str, flights: list[str], every: float) -> list[float]:
    """Cancel each flight in turn, `every` seconds apart; each passenger's seconds from the
    cancellation's acceptance to a first notice with the provider."""
    ids = []
    for flight_id in flights:
        carrier_number, day, origin = flight_id.split("/")
        event = FlightCancelled(partner_event_id=f"probe-{flight_id}", reason="weather", flight=FlightRef(
            carrier=carrier_number[:2], number=carrier_number[2:], departure_date=date.fromisoformat(day),
            origin=origin))
        sent = await submit(disruption_url, event.model_dump_json().encode())
        sent.raise_for_status()
        ids += sent.json()["event_ids"]
        await asyncio.sleep(every)
    conn = await asyncpg.connect(database_url)
    try:
        for _ in range(600):
            # A passenger with no contact details on file (the scenario gives them to the
            # replayed day's passengers only) is shown to an agent, not told: left out.
            rows = await conn.fetch(
                """SELECT extract(epoch FROM min(d.sent_at) - min(r.accepted_at)) AS s,
                          coalesce(bool_and(d.status = 'undeliverable'), false) AS unreachable
                   FROM disruption.recovery r LEFT JOIN notify.deliveries d
                     ON d.disruption_id = r.disruption_id AND d.booking_ref = r.booking_ref
                    AND d.passenger_id = r.passenger_id AND d.stage = 'first_notice'
                   WHERE r.disruption_id = ANY($1::text[]) GROUP BY r.disruption_id, r.booking_ref, r.passenger_id""",
                ids)
            if rows and all(r["s"] is not None or r["unreachable"] for r in rows):
                return [float(r["s"]) for r in rows if r["s"] is not None]
            await asyncio.sleep(0.5)
        raise TimeoutError("the probes' first notices did not all go within 5 minutes")
    finally:
        await conn.close()


async def probe_while_previewing(client: httpx.AsyncClient, plan: dict, disruption_url: str, database_url: str,
                                 flights: list[str], every: float) -> tuple[list[float], list[dict]]:
    """`probe`, while previews of the plan run back to back; and those previews."""
    busy: list[dict] = []
    done = asyncio.Event()

    async def previews_meanwhile() -> None:
        while not done.is_set():
            busy.append(await preview(client, plan))
    running = asyncio.create_task(previews_meanwhile())
    try:
        return await probe(disruption_url, database_url, flights, every), busy
    finally:
        done.set()
        await running


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--date", type=date.fromisoformat, default=date(2013, 2, 8))
    parser.add_argument("--seed", type=int, default=scenario.SEED)
    parser.add_argument("--flights", type=int, default=50)
    parser.add_argument("--previews", type=int, default=20)
    parser.add_argument("--probes", type=int, default=30)
    parser.add_argument("--every", type=float, default=1.0)
    args = parser.parse_args()
    async with measure.fresh_run() as (run, settings):
        results = await benchmark(args, run, settings, Path(".local") / "bench" / run)
    RESULTS.mkdir(parents=True, exist_ok=True)
    out = RESULTS / f"what-if-{args.date}.json"
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps({k: results[k] for k in ("plan", "preview_alone_s", "live_first_notice_s")}, indent=1))
    print(f"results: {out}")


async def benchmark(args: argparse.Namespace, run: str, settings: Settings, logs: Path) -> dict:
    stack = _stack(settings, logs)
    try:
        ceiling = await _ceiling(settings)
        s = scenario.build(args.date, 1, args.seed, None)
        print(scenario.summary(s), flush=True)
        endpoints = start_stack(stack, 1)
        load_s = await replay.load(settings, s, endpoints)
        planned, passengers = await busiest_flights(settings.database_url, set(s.cancelled), args.flights)
        # Alternate flights to each half, so that both halves hold flights of the same sizes.
        probes = sorted(set(s.cancelled) - set(planned))[:2 * args.probes]
        alone_probes, busy_probes = probes[0::2], probes[1::2]
        plan = {"name": f"cancel the {len(planned)} fullest", "changes": [
            {"action": "cancel", "flights": planned, "cause": "weather"}]}
        print(f"plan: cancel {len(planned)} flights, {passengers:,} passengers booked", flush=True)
        pids = {name: p.pid for name, p in stack.processes.items()}
        async with httpx.AsyncClient(base_url=endpoints.disruption, timeout=120,
                                     headers={"Authorization": f"Bearer {API_KEY}"}) as client:
            await preview(client, plan)  # the first: connections opened, code warmed
            before = cpu.snapshot(pids)
            alone = [await preview(client, plan) for _ in range(args.previews)]
            spent = cpu.per_passenger(before, cpu.snapshot(pids), len(alone), frozenset({"sandbox", "payments"}))
            print(f"previews alone: {measure.describe([a['seconds'] * 1000 for a in alone])}", flush=True)
            quiet = await probe(endpoints.disruption, settings.database_url, alone_probes, args.every)
            print(f"first notices, nothing else running: {measure.describe([q * 1000 for q in quiet])}", flush=True)
            loaded_probe, busy = await probe_while_previewing(client, plan, endpoints.disruption,
                                                              settings.database_url, busy_probes, args.every)
            print(f"first notices, previews running: {measure.describe([q * 1000 for q in loaded_probe])}; "
                  f"{len(busy)} previews meanwhile: {measure.describe([b['seconds'] * 1000 for b in busy])}",
                  flush=True)
    finally:
        stack.stop()
    return {"scenario": {"date": args.date.isoformat(), "seed": args.seed, "run": run, "load_s": round(load_s, 1)},
            "plan": {"flights": len(planned), "passengers_booked": passengers,
                     "passengers_hit": alone[0]["passengers"], "rebooked": alone[0]["rebooked"]},
            **_figures(alone, busy, quiet, loaded_probe), "cpu_ms_per_preview": spent,
            "live_first_notice_setup": {"probes": args.probes, "every_s": args.every},
            "ceiling": ceiling, "machine": machine()}


def _figures(alone: list[dict], busy: list[dict], quiet: list[float], loaded: list[float]) -> dict:
    return {
        "preview_alone_s": measure.summary([a["seconds"] for a in alone], 3),
        "preview_alone_by_part_s": {part: measure.summary([a["by_part"][part] for a in alone], 3)
                                    for part in alone[0]["by_part"]},
        "preview_round_trip_s": measure.summary([a["round_trip_s"] for a in alone], 3),
        "previews_whole": sum(not a["missing"] for a in alone), "previews": len(alone),
        "live_first_notice_s": {"alone": measure.summary(quiet, 3), "with_previews": measure.summary(loaded, 3)},
        "preview_during_probe_s": measure.summary([b["seconds"] for b in busy], 3),
        "preview_during_probe_waited_s": measure.summary([b["waited_s"] for b in busy], 3),
    }


if __name__ == "__main__":
    asyncio.run(main())
