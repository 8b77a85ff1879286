"""The benchmark: a real day replayed end to end, audited, against this machine's own ceiling.

    make bench DATE=2013-02-08 SPEED=burst SEED=2013     (python -m bench.run --date … --speed … --seed …)
    make demo                                            (… --speed 60 --running)

Runs its own four services and sandbox providers (separate processes, as `make services` does) on
a fresh database and topic prefix, so every run starts from nothing; with `--running`, it plays
against the services `make services` runs instead (the demo: `make demo` resets their data first,
and the ops board shows the day unfolding). In order:
1. the ceiling of this machine, in the same run: aiokafka produce→consume round trip (latency)
   and throughput with messages the size of Rebound's events; PostgreSQL single-row transactions
   per second (8 connections at once, and one alone) and batched rows per second;
2. the scenario (`bench.scenario`) loaded as a reservation system would send it;
3. the replay (`bench.replay`) at the chosen speed, until every affected passenger is told, has
   an outcome, and nothing is left to send;
4. the independent audit (`bench.audit`);
5. `bench/results/<date>-<speed>-<seed>.json` and a `.html` report beside it.

The throughput bound: per affected passenger, the run counts the Kafka messages produced, the
PostgreSQL transactions committed and the rows written between the first event and the end; the
machine allows at most ceiling ÷ cost passengers a second on each resource, and the bound is the
smallest of the three. The result is the measured throughput as a fraction of that bound.
"""

import argparse
import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
from datetime import UTC, date, datetime
from pathlib import Path

import asyncpg
from aiokafka import AIOKafkaConsumer, TopicPartition

from bench import audit, cpu, measure, replay, replies, report, scenario
from bench.stack import ROOT, SERVICES, Stack
from shared import topics
from shared.settings import Settings

API_KEY = "bench-key"
RESULTS = ROOT / "bench" / "results"
# The sandbox providers stand in for contracted SMS and email throughput; high, so that Rebound
# itself, not a configured rate, is what is measured.
PROVIDER_RATE = "5000"
SANDBOX = frozenset({"sandbox", "payments"})  # stand-ins for other companies' machines
SANDBOX_URL = "http://127.0.0.1:8090"  # the running services' sandbox providers (deploy/local/services.sh)


async def offsets(settings: Settings) -> int:
    """Messages ever produced to this run's topics."""
    consumer = AIOKafkaConsumer(bootstrap_servers=settings.kafka_bootstrap, group_id=None)
    await consumer.start()
    try:
        # Every topic is created with the configured partition count (shared.topics).
        partitions = [TopicPartition(topics.name(settings, t), p) for t in topics.ALL
                      for p in range(settings.topic_partitions)]
        return sum((await consumer.end_offsets(partitions)).values()) if partitions else 0
    finally:
        await consumer.stop()


async def database_work(database_url: str) -> tuple[int, int]:
    """Transactions committed and rows written in this run's database so far."""
    conn = await asyncpg.connect(database_url)
    try:
        row = await conn.fetchrow("SELECT xact_commit, tup_inserted + tup_updated + tup_deleted AS rows"
                                  " FROM pg_stat_database WHERE datname = current_database()")
        return row["xact_commit"], row["rows"]
    finally:
        await conn.close()


def machine() -> dict:
    memory = next(line for line in Path("/proc/meminfo").read_text().splitlines() if line.startswith("MemTotal"))
    return {"cores": os.cpu_count(), "memory_gib": round(int(memory.split()[1]) / 2**20, 1),
            "cpu": next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                         if line.startswith("model name")), None)}


@contextlib.contextmanager
def profiles(stack: Stack | None, directory: Path, enabled: bool):
    """py-spy profiles of each service (of a stack of the run's own) while the replay runs, as
    collapsed stacks: one line per stack with its sample count, which flame graph tools draw."""
    spies = []
    if enabled and stack:
        directory.mkdir(parents=True, exist_ok=True)
        for name in ("disruption", "rebooking", "compensation", "notify", "sandbox", "payments"):
            spies.append(subprocess.Popen(
                [str(Path(sys.executable).parent / "py-spy"), "record", "--pid", str(stack.processes[name].pid),
                 "--rate", "50", "--nonblocking", "--format", "raw", "--output", str(directory / f"{name}.txt")],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
    try:
        yield
    finally:
        for spy in spies:
            spy.send_signal(signal.SIGINT)
        for spy in spies:
            spy.wait(timeout=60)


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--date", type=date.fromisoformat, default=date(2013, 2, 8))
    parser.add_argument("--days", type=int, default=1)
    parser.add_argument("--speed", default="burst", help="burst, 60, 1 …")
    parser.add_argument("--seed", type=int, default=scenario.SEED)
    parser.add_argument("--max-quiet", type=float, default=None, metavar="SECONDS",
                        help="a stretch of the day with no announcement takes at most this long (default: the "
                             "day's own pace)")
    parser.add_argument("--sample", type=int, default=None, help="only this many disrupted flights")
    parser.add_argument("--via", choices=("api", "topic"), default="api",
                        help="the signed partner API, or straight onto the flight-events topic")
    parser.add_argument("--profile", action="store_true", help="py-spy profiles of each service")
    parser.add_argument("--keep", action="store_true", help="keep the database, topics and logs")
    parser.add_argument("--replicas", type=int, default=1,
                        help="processes of each service, each in its service's consumer groups")
    parser.add_argument("--running", action="store_true",
                        help="play against the services of `make services` (ports 8001–8004)")
    args = parser.parse_args()
    speed = replay.parse_speed(args.speed)
    if args.running:
        settings = Settings()
        print(f"Ops board: http://127.0.0.1:8001/ops (token {settings.access().all_keys[0]}): watch the day there.",
              flush=True)
        results = await benchmark(args, speed, "local", settings, None)
    else:
        async with measure.fresh_run(args.keep) as (run, settings):
            results = await benchmark(args, speed, run, settings, ROOT / ".local" / "bench" / run)
    return 0 if results["audit"]["clean"] else 1


def start_stack(stack: Stack, replicas: int) -> replay.Endpoints:
    """The stack started with `replicas` processes of each service, and where to send to it."""
    stack.start()
    for service in SERVICES:
        for index in range(2, replicas + 1):
            stack.add_replica(service, index)
    return replay.Endpoints(disruption=stack.url("disruption"), notify=stack.url("notify"), api_key=API_KEY,
                            disruption_replicas=tuple(stack.url(f"disruption-{i}") for i in range(2, replicas + 1)))


def results_stem(args: argparse.Namespace, demo: bool) -> str:
    """The results' file name: the demo's never overwrites the benchmark's."""
    return (f"{args.date}-{args.speed}-{args.seed}" + (f"-sample{args.sample}" if args.sample is not None else "")
            + (f"-replicas{args.replicas}" if args.replicas > 1 else "")
            + (f"-{postgres_nodes()}pg" if postgres_nodes() > 1 else "") + ("-demo" if demo else ""))


def postgres_nodes() -> int:
    """How many PostgreSQL nodes the run's database has (deploy/local/infra.sh)."""
    return int(os.environ.get("REBOUND_POSTGRES_NODES", "1"))


def _stack(settings: Settings, logs: Path) -> Stack:
    """The benchmark's own services, on the run's database and topics, the providers' rates raised."""
    return Stack(env={"REBOUND_KAFKA_BOOTSTRAP": settings.kafka_bootstrap,
                      "REBOUND_DATABASE_URL": settings.database_url, "REBOUND_TOPIC_PREFIX": settings.topic_prefix,
                      "REBOUND_TOPIC_REPLICATION": str(settings.topic_replication),
                      "REBOUND_ENVIRONMENT": "test", "REBOUND_API_KEYS": API_KEY,
                      "REBOUND_PARTNER_RATE_PER_SECOND": "1000", "REBOUND_PARTNER_BURST": "1000",
                      "REBOUND_SMS_RATE_PER_SECOND": PROVIDER_RATE, "REBOUND_EMAIL_RATE_PER_SECOND": PROVIDER_RATE,
                      "REBOUND_PUSH_RATE_PER_SECOND": PROVIDER_RATE,
                      "REBOUND_REBOOKING_PARTNERS": scenario.PARTNERS_2013, "REBOUND_LOG_LEVEL": "WARNING"},
                 logs=logs)


async def _ceiling(settings: Settings) -> dict:
    """This machine's Kafka and PostgreSQL, measured in this run: what the results read against."""
    print("ceiling (this machine, this run):", flush=True)
    rtt = await measure.round_trip_baseline(settings)
    kafka_rate = await measure.kafka_throughput(settings)
    serial_tx_rate, tx_ms = await measure.postgres_baseline(settings.database_url)
    tx_rate = await measure.postgres_transactions(settings.database_url)
    rows_rate = await measure.postgres_rows(settings.database_url)
    print(f"  kafka round trip {measure.describe(rtt)}; {kafka_rate:,.0f} msgs/s; postgresql "
          f"{tx_rate:,.0f} tx/s (8 connections; {serial_tx_rate:,.0f} on one), {rows_rate:,.0f} rows/s "
          "(batched)", flush=True)
    return {"kafka_roundtrip_ms": measure.summary(rtt), "kafka_roundtrip_msgs_per_s": round(kafka_rate),
            "pg_tx_per_s": round(tx_rate), "pg_tx_per_s_one_connection": round(serial_tx_rate),
            "pg_tx_ms": measure.summary(tx_ms), "pg_rows_per_s": round(rows_rate)}


async def benchmark(args: argparse.Namespace, speed: float | None, run: str, settings: Settings,
                    logs: Path | None) -> dict:
    """With `logs`, on a stack of its own logging there; without, on the running services."""
    stack = None if logs is None else _stack(settings, logs)
    try:
        ceiling = await _ceiling(settings)
        kafka_rate, tx_rate, rows_rate = (ceiling["kafka_roundtrip_msgs_per_s"], ceiling["pg_tx_per_s"],
                                          ceiling["pg_rows_per_s"])
        s = scenario.build(args.date, args.days, args.seed, args.sample)
        print(scenario.summary(s), flush=True)
        if stack and logs:
            endpoints = start_stack(stack, args.replicas)
            sandbox = logs / "sandbox"
        else:
            endpoints = replay.Endpoints(api_key=settings.access().all_keys[0])
            logs, sandbox = ROOT / ".local" / "logs", ROOT / ".local" / "sandbox"
        load_s = await replay.load(settings, s, endpoints)
        messages_before, (tx_before, rows_before) = await offsets(settings), await database_work(settings.database_url)
        pids = {name: p.pid for name, p in stack.processes.items()} if stack else {}
        cpu_before, statements_before = cpu.snapshot(pids), await cpu.statements(settings.database_url)
        # What the machine had spent by the moment everyone was told: the price of telling them
        # (with whatever rebooking and compensation did meanwhile).
        cpu_told: dict[str, float] = {}
        # The demo's passengers answer their texts now and then; the benchmark's never do.
        async with replies.during_demo(SANDBOX_URL, demo=stack is None):
            with profiles(stack, RESULTS / f"{args.date}-{args.speed}-{args.seed}-profiles", args.profile):
                played = await replay.replay(settings, s, speed, endpoints, sandbox, args.via,
                                             all_told=lambda: cpu_told.update(cpu.snapshot(pids)),
                                             max_quiet=args.max_quiet)
        cpu_after, statements_after = cpu.snapshot(pids), await cpu.statements(settings.database_url)
        peak_memory = cpu.peak_memory_mb(pids)
        messages = await offsets(settings) - messages_before
        stages = await cpu.first_notice_stages(settings.database_url)
        tx_after, rows_after = await database_work(settings.database_url)
        print("auditing…", flush=True)
        found = await audit.audit(settings, s, played.sent_at, sandbox, logs)
        print(audit.describe(found), flush=True)
    finally:
        if stack:
            stack.stop()

    affected = len(s.affected)
    start = played.first_sent or datetime.now(UTC)  # a day with nothing to announce has no first event
    complete_s = (max(found["outcome_at"]) - start).total_seconds() if found["outcome_at"] else None
    cost = {"kafka_messages": messages / max(affected, 1), "pg_transactions": (tx_after - tx_before) / max(affected, 1),
            "pg_rows": (rows_after - rows_before) / max(affected, 1)}
    bound = min(kafka_rate / max(cost["kafka_messages"], 1e-9), tx_rate / max(cost["pg_transactions"], 1e-9),
                rows_rate / max(cost["pg_rows"], 1e-9))
    outcome_s = [(at - start).total_seconds() for at in found["outcome_at"]]
    results = {
        "scenario": {"date": args.date.isoformat(), "days": args.days, "speed": args.speed, "seed": args.seed,
                     "max_quiet_s": args.max_quiet, "sample": args.sample, "run": run, "replicas": args.replicas,
                     "kafka_brokers": len(settings.kafka_bootstrap.split(",")), "postgres_nodes": postgres_nodes(),
                     "topic_replication": settings.topic_replication},
        "flights": s.replayed_flights, "cancelled": len(s.cancelled), "delayed": len(s.delayed),
        "delays_announced": len(s.delays), "passengers_affected": affected,
        "bookings_loaded": len(s.bookings), "load_s": round(load_s, 1),
        "first_notice_ms": measure.summary(found["first_notice_ms"]),
        "first_notice_stages_s": stages,
        "outcome_complete_s": round(complete_s, 1) if complete_s else None,
        "outcome_s_after_first_event": measure.summary(outcome_s),
        "outcomes": found["outcomes"], "stranded_at_connection": found["stranded_at_connection"],
        **_throughput(affected, complete_s, bound),
        "cost_per_passenger": {k: round(v, 2) for k, v in cost.items()},
        "cpu_ms_per_passenger": cpu.per_passenger(cpu_before, cpu_after, affected, SANDBOX),
        "cpu_ms_per_passenger_until_all_told": cpu.per_passenger(cpu_before, cpu_told, affected, SANDBOX)
        if cpu_told else None,
        "postgresql_statements": cpu.busiest(statements_before, statements_after, affected),
        "peak_memory_mb": peak_memory,
        "audit": {"clean": found["clean"], **found["invariants"], "examples": found["examples"]},
        "notices_at_providers": found["notices_at_providers"], "grants": found["grants"],
        "payouts": found["payouts"], "topic_messages_audited": found["topic_messages_read"],
        "ceiling": ceiling, "machine": machine(),
    }
    RESULTS.mkdir(parents=True, exist_ok=True)
    stem = results_stem(args, demo=stack is None)
    (RESULTS / f"{stem}.json").write_text(json.dumps(results, indent=2) + "\n")
    report.write(RESULTS / f"{stem}.html", results, start, found)
    headline = ("first_notice_ms", "first_notice_stages_s", "outcome_complete_s", "throughput_pax_per_s",
                "throughput_share_of_bound", "outcomes", "cpu_ms_per_passenger")
    print(json.dumps({k: results[k] for k in headline}), flush=True)
    print(f"results: {RESULTS / stem}.json and .html", flush=True)
    return results


def _throughput(affected: int, complete_s: float | None, bound: float) -> dict[str, float | None]:
    """Passengers per second until every outcome, against the bound the machine's ceiling sets."""
    throughput = affected / complete_s if complete_s else None
    return {"throughput_pax_per_s": round(throughput, 1) if throughput else None,
            "throughput_bound_pax_per_s": round(bound, 1),
            "throughput_share_of_bound": round(throughput / bound, 3) if throughput else None}


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))
