"""The restore drill: a backup is only proven by restoring it. On the PostgreSQL of
deploy/local/infra.sh (one server, or the Patroni cluster), whose every WAL segment pgBackRest
archives:

    make restore-drill      (python -m bench.restore_drill [--sample 8])

1. A run of its own (database, topic prefix) and the services on it; the sampled real day's
   schedule, bookings and contacts loaded; then a backup (incremental on the last full one).
2. The first half of the day's disrupted flights announced through the partner API and settled:
   every affected passenger told and given an outcome, every payout made. The audit of that half
   on the live database is clean.
3. What is acknowledged then is read: every outcome (rebooking), grant and paid payout
   (compensation), notice a provider took (notify) and announcement recorded (disruption). Then
   the target: PostgreSQL's clock, after all of it.
4. The second half announced and settled: the live database moves on past the target.
5. The archive made current (a WAL switch, seen archived), and the backup restored to the target
   into a fresh directory (only the run's database), started on its own port and promoted there.
6. On the restored copy: every acknowledged row is there, as it was; nothing committed after the
   target is; and the audit of the first half, run against it, is clean.

Writes bench/results/restore-drill-<date>-<seed>[-<n>pg].json; exits 1 if anything was lost.
"""

import argparse
import asyncio
import contextlib
import dataclasses
import json
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import asyncpg
from tqdm import tqdm

from bench import audit, measure, replay, scenario
from bench.run import API_KEY
from bench.stack import ROOT, Stack
from shared.settings import Settings

RESULTS = ROOT / "bench" / "results"
# What a service acknowledged, per table: the columns that stay as they were once acknowledged.
ACKNOWLEDGED = {
    "outcomes": "SELECT disruption_id, booking_ref, outcome, from_flight, to_flights, seats FROM rebooking.rebookings",
    "grants": "SELECT grant_id::text, passenger_id, kind, amount_minor, currency FROM compensation.grants",
    "payouts": "SELECT payout_id::text, grant_id::text, amount_minor, currency FROM compensation.payouts"
               " WHERE status = 'paid'",
    "deliveries": "SELECT id, passenger_id, disruption_id, stage, channel, provider_id FROM notify.deliveries"
                  " WHERE provider_id IS NOT NULL",
    "announcements": "SELECT event_id, flight_id, type FROM disruption.flight_events",
}


def infra(*args: str) -> str:
    """deploy/local/infra.sh (REBOUND_POSTGRES_NODES says which PostgreSQL); what it printed."""
    return subprocess.run([str(ROOT / "deploy" / "local" / "infra.sh"), *args], check=True,
                          stdout=subprocess.PIPE, text=True).stdout.strip()


def halves(s: scenario.Scenario) -> tuple[scenario.Scenario, scenario.Scenario]:
    """The scenario's announcements in two halves, in the order they were made, each a scenario
    of its own (its delays only its flights')."""
    cut = len(s.announcements) // 2

    def part(announcements: list[scenario.Announcement]) -> scenario.Scenario:
        flights = {a.flight_id for a in announcements}
        return dataclasses.replace(s, announcements=announcements,
                                   delays={f: m for f, m in s.delays.items() if f in flights})
    return part(s.announcements[:cut]), part(s.announcements[cut:])


async def acknowledged(database_url: str) -> dict[str, set[tuple[Any, ...]]]:
    conn = await asyncpg.connect(database_url)
    try:
        async with conn.transaction(isolation="repeatable_read", readonly=True):
            return {name: {tuple(r) for r in await conn.fetch(f"SELECT row_to_json(a)::text FROM ({sql}) a")}
                    for name, sql in ACKNOWLEDGED.items()}
    finally:
        await conn.close()


async def announce(settings: Settings, part: scenario.Scenario, so_far: scenario.Scenario, endpoints: replay.Endpoints,
                   played: replay.Played, sandbox: Path) -> float | None:
    """Every announcement of `part`, then wait until everything announced `so_far` has settled;
    seconds it took to settle."""
    async with replay.AnnouncementSender(settings, endpoints, "api") as deliver:
        for a in part.announcements:
            played.sent_at[a.flight_id] = datetime.now(UTC)
            await deliver([a])
            played.accepted_at[a.flight_id] = datetime.now(UTC)
    with tqdm(total=len(part.announcements), initial=len(part.announcements), desc="settling") as bar:
        return await replay.watch(settings, so_far, played, True, bar, sandbox, within_seconds=600)


@contextlib.asynccontextmanager
async def restored(target: str, database: str) -> AsyncIterator[str]:
    """The backup restored to `target` into a fresh directory, running; its connection to the
    run's database. Stopped and removed after."""
    directory = Path(tempfile.mkdtemp(prefix="rebound-restore-"))
    shutil.rmtree(directory)  # infra.sh makes it, owned by postgres
    try:
        url = await asyncio.to_thread(infra, "restore", target, str(directory), database)
        yield url
    finally:
        await asyncio.to_thread(infra, "restore-stop", str(directory))
        shutil.rmtree(directory, ignore_errors=True)


def providers_as_of(sandbox: Path, target: datetime, into: Path) -> Path:
    """The providers' records (messages taken, payouts paid) up to `target`, into `into`: what the
    restored copy is audited against. A provider that paid or sent after the target did so for
    work the restored copy has not done yet, and will do again under the same idempotency keys."""
    into.mkdir(parents=True, exist_ok=True)
    for path in sandbox.glob("*.jsonl"):
        with path.open() as records, (into / path.name).open("w") as kept:
            for line in records:
                record = json.loads(line)
                at = record.get("received_at") or record.get("created_at")
                if at is None or datetime.fromisoformat(at) <= target:
                    kept.write(line)
    return into


def compare(before: dict[str, set[tuple[Any, ...]]], restored_rows: dict[str, set[tuple[Any, ...]]]
            ) -> dict[str, dict[str, int]]:
    """Per table: acknowledged rows, those missing from the restored copy, and those it has that
    were not acknowledged by the target (committed after it)."""
    return {name: {"acknowledged": len(rows), "lost": len(rows - restored_rows[name]),
                   "after_target": len(restored_rows[name] - rows)} for name, rows in before.items()}


async def drill(base: Settings, day: date, seed: int, sample: int, logs: Path) -> dict[str, Any]:
    """The drill on the Kafka and PostgreSQL of `base`; its figures (`clean`: nothing lost)."""
    s = scenario.build(day, 1, seed, sample)
    first, second = halves(s)
    async with measure.fresh_run(base=base) as (run_id, settings):
        database = urlsplit(settings.database_url).path.lstrip("/")
        stack = Stack(env={"REBOUND_KAFKA_BOOTSTRAP": settings.kafka_bootstrap,
                           "REBOUND_DATABASE_URL": settings.database_url,
                           "REBOUND_TOPIC_PREFIX": settings.topic_prefix, "REBOUND_ENVIRONMENT": "test",
                           "REBOUND_TOPIC_REPLICATION": str(settings.topic_replication),
                           "REBOUND_API_KEYS": API_KEY, "REBOUND_REBOOKING_PARTNERS": scenario.PARTNERS_2013,
                           "REBOUND_PARTNER_RATE_PER_SECOND": "1000", "REBOUND_PARTNER_BURST": "1000"},
                      logs=logs / run_id)
        sandbox = logs / run_id / "sandbox"
        await asyncio.to_thread(stack.start)
        try:
            endpoints = replay.Endpoints(disruption=stack.url("disruption"), notify=stack.url("notify"),
                                         api_key=API_KEY)
            await replay.load(settings, s, endpoints)
            started = time.monotonic()
            await asyncio.to_thread(infra, "backup")
            backup_s = round(time.monotonic() - started, 1)
            played = replay.Played()
            await announce(settings, first, first, endpoints, played, sandbox)
            live_audit = await audit.audit(settings, first, played.sent_at, sandbox, logs / run_id)
            before = await acknowledged(settings.database_url)
            conn = await asyncpg.connect(settings.database_url)
            try:
                target: datetime = await conn.fetchval("SELECT clock_timestamp()")
            finally:
                await conn.close()
            await announce(settings, second, s, endpoints, played, sandbox)
            after = await acknowledged(settings.database_url)
            await asyncio.to_thread(infra, "archive-now")
            started = time.monotonic()
            async with restored(str(target), database) as url:  # as PostgreSQL writes it
                restore_s = round(time.monotonic() - started, 1)
                copy = settings.model_copy(update={"database_url": url})
                restored_rows = await acknowledged(url)
                restored_audit = await audit.audit(copy, first, played.sent_at,
                                                   providers_as_of(sandbox, target, logs / run_id / "as-of-target"))
        finally:
            stack.stop()
    tables = compare(before, restored_rows)
    moved_on = {name: len(after[name]) - len(rows) for name, rows in before.items()}
    clean = (live_audit["clean"] and restored_audit["clean"] and sum(moved_on.values()) > 0
             and not any(t["lost"] or t["after_target"] for t in tables.values()))
    return {"scenario": {"date": day.isoformat(), "seed": seed, "sample": sample, "run": run_id,
                         "postgres_nodes": int(os.environ.get("REBOUND_POSTGRES_NODES", "1"))},
            "first_half": len(first.announcements), "second_half": len(second.announcements),
            "passengers_affected_by_target": len(first.affected), "target": target.isoformat(),
            "backup_s": backup_s, "restore_s": restore_s, "tables": tables, "written_after_target": moved_on,
            "audit_live": {"clean": live_audit["clean"], **live_audit["invariants"],
                           "examples": live_audit["examples"]},
            "audit_restored": {"clean": restored_audit["clean"], **restored_audit["invariants"],
                               "examples": restored_audit["examples"]},
            "clean": clean}


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--date", type=date.fromisoformat, default=date(2013, 2, 8))
    parser.add_argument("--seed", type=int, default=scenario.SEED)
    parser.add_argument("--sample", type=int, default=8, help="disrupted flights of the day, in two halves")
    args = parser.parse_args()
    await asyncio.to_thread(infra, "start")
    base = Settings(kafka_bootstrap=await asyncio.to_thread(infra, "bootstrap"),
                    topic_replication=int(await asyncio.to_thread(infra, "replication")),
                    database_url=await asyncio.to_thread(infra, "database-url"))
    results = await drill(base, args.date, args.seed, args.sample, ROOT / ".local" / "restore-drill")
    nodes = results["scenario"]["postgres_nodes"]
    path = RESULTS / f"restore-drill-{args.date}-{args.seed}{f'-{nodes}pg' if nodes > 1 else ''}.json"
    path.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps({k: results[k] for k in ("tables", "written_after_target", "backup_s", "restore_s")}, indent=1))
    print(f"{'clean: nothing acknowledged was lost' if results['clean'] else 'LOST OR WRONG'}; results: {path}")
    return 0 if results["clean"] else 1


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))
