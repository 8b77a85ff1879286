"""The fault harness: a real day replayed while Rebound's parts crash, restart and misbehave, and
partners' garbage arrives on every topic; then the independent audit.

    make faults          (python -m faults --per-kind 20)        every kind of fault at least 20 times
    make faults-short    (python -m faults --per-kind 2 --sample 8)   the same, briefly: CI runs it

It runs on a Kafka and a PostgreSQL of its own (ports 29092 and 25432, state in .local/faults),
which it restarts, so nothing else on the machine is disturbed. Two replicas of each service run
in one consumer group each, with fail points on (`shared.failpoints`). While the sampled day's
announcements are sent through the signed partner API, spread over the run, seeded lanes of
faults run at once:
- one lane per service: `kill` (SIGKILL at a random moment, then restart), `crash_mid_batch`,
  `crash_after_db_commit`, `crash_outbox_relay` (a fail point armed; the process dies there,
  then restarts), `replica_kill` (one replica killed: the other takes its partitions over in a
  rebalance; once its backlog is drained the replica returns, another rebalance) and
  `kill_mid_rebalance` (a replica started again, and while its group rebalances to take it in,
  one of the two is killed) and `rolling_upgrade` (the service rolled back to the previous
  release, contracts/release.json's, built from git, one replica at a time, then forward to this
  commit the same way, each replica stopped as a rollout stops it and the backlog drained at each
  step, so both releases read the same topics and tables: the database starts as the previous
  release's migrations left it, and this release's post-deploy migrations never run, as during a
  real rollout; poison waits while a previous-release replica runs, since that release cannot
  survive it: this release's fixes are why);
- Kafka, one fault at a time: `kafka_restart` (every broker at once, alternately a clean stop and
  a SIGKILL); on a cluster (`--brokers 3`, REBOUND_KAFKA_BROKERS) also `broker_kill` (one broker
  SIGKILLed, its partitions' leaders elected among the others once the controller misses its
  heartbeats, then restarted) and `broker_shutdown` (a controlled shutdown: leadership moves
  first). Topics then have three copies, min.insync.replicas 2, no unclean leader election;
- PostgreSQL: `postgres_restart` (alternately a fast shutdown and an immediate one, which
  recovers from WAL; on a cluster every node at once); on a Patroni cluster of three
  (`--postgres-nodes 3`, REBOUND_POSTGRES_NODES) also `postgres_primary_kill` (the primary's
  PostgreSQL SIGKILLed), `postgres_primary_partition` (the primary's Patroni and PostgreSQL
  SIGKILLed together, as if its machine vanished; started again once another node leads),
  `postgres_switchover` (a planned one, Patroni's) and `postgres_replica_kill`. Each records when a
  primary took writes again (`primary_s`: on a new timeline; for a replica, when it streams
  again), when every service process was ready again (`ready_s`: those no other lane restarted
  meanwhile), and when every node was back in the cluster (`rejoined_s`), all from the fault;
- providers: `sms_slow`, `sms_failing`, `payments_slow`, `payments_failing`, each a window of a
  few seconds;
- poison: `--poison-per-topic` records (1,000 by default) on every topic, every kind in
  `faults.poison` in turn: NUL, CR/LF and invalid UTF-8 in keys, values and headers, thousands of
  headers, a header name the Kafka client cannot read, values just under and at the topic's size
  limit, wrong CloudEvents attributes.
Each fault's recovery is timed from the restart (the process ready, the broker or the database
answering) to its backlog drained: the service's consumer groups stable again (with both
replicas as members: the rebalance done), their lag 0 and its outbox empty; for the
infrastructure, each service seen so once. A broker fault also records when no partition was
led by the lost broker any more (`elected_s`, from the fault) and when every partition had all
its replicas in sync again (`in_sync_s`, from the restart). Lanes run at once, so a time can
include another lane's fault. Then the harness sends what is left of the day, waits until
everything has settled, and audits: every invariant of `bench.audit`, with the dead-letter topics
holding the injected poison and nothing else, each poison message sent to a topic that a
service consumes found there with its reason, each record the Kafka client cannot read in the
parked table of every service that reads its topic, and each record over the topic's size limit
refused by the broker.

Writes faults/results/<date>-<seed>-<per kind>x[-<n>brokers].json, and exits 1 if any invariant
is broken or any kind of fault was injected fewer times than asked.
"""

import argparse
import asyncio
import contextlib
import json
import logging
import os
import random
import signal
import subprocess
import time
from collections import Counter
from collections.abc import AsyncIterator, Callable, Coroutine
from dataclasses import asdict, dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from tqdm import tqdm

from bench import audit, measure, replay, scenario
from bench.run import API_KEY
from bench.stack import ROOT, SERVICES, Stack
from deploy import postgres_access
from faults import poison, postgres, release
from services.compensation.sandbox import PaymentsSandboxSettings
from services.notify.sandbox import SandboxSettings
from shared import failpoints, system, topics
from shared.settings import Settings

RESULTS = ROOT / "faults" / "results"
STATE = ROOT / ".local" / "faults"
INFRA = {"REBOUND_LOCAL_STATE": str(STATE), "REBOUND_KAFKA_PORT": "29092", "REBOUND_KAFKA_CONTROLLER_PORT": "29093",
         "REBOUND_PG_PORT": "25432"}
# Every kind of fault, by where it strikes, with what it does (the documentation's fault-kind
# reference is made from this table).
FAULT_KINDS: dict[str, dict[str, str]] = {
    "a service": {
        "kill": "SIGKILL at a random moment, then restart",
        "crash_mid_batch": "a fail point armed halfway through a consumer batch: the process dies there, then "
                           "restarts, and the batch comes again",
        "crash_after_db_commit": "dies after the database commit and before the Kafka offsets are committed: the "
                                 "batch comes again, and the inbox drops it",
        "crash_outbox_relay": "dies in the outbox relay between publishing rows and deleting them: they are sent "
                              "again, and the readers' inboxes drop the copies",
        "replica_kill": "one replica killed: the other takes its partitions over in a rebalance; once its backlog "
                        "is drained the replica returns, another rebalance",
        "kill_mid_rebalance": "a replica started again, and one of the two killed while the group rebalances to "
                              "take it in",
        "rolling_upgrade": "the service rolled back to the previous release (contracts/release.json's), one "
                           "replica at a time, then forward to this commit the same way",
    },
    "Kafka": {
        "kafka_restart": "every broker at once, alternately a clean stop and a SIGKILL",
    },
    "PostgreSQL": {
        "postgres_restart": "alternately a fast shutdown and an immediate one, which recovers from WAL",
    },
    "a PostgreSQL node (cluster only)": {
        "postgres_primary_kill": "the primary's PostgreSQL SIGKILLed (postmaster and backends): Patroni promotes the "
                                 "synchronous standby, and the old primary rejoins as a replica (pg_rewind)",
        "postgres_primary_partition": "the primary's node gone at once, Patroni and PostgreSQL SIGKILLed as if its "
                                      "machine vanished: its leader key expires and the synchronous standby is "
                                      "promoted; then the node starts again and rejoins as a replica",
        "postgres_switchover": "a planned switchover (Patroni's, to the synchronous standby)",
        "postgres_replica_kill": "a replica's PostgreSQL SIGKILLed: Patroni starts it again, and the primary takes "
                                 "the other replica as its synchronous standby meanwhile",
    },
    "a Kafka broker (cluster only)": {
        "broker_kill": "one broker SIGKILLed: its partitions' leaders are elected among the others, then it "
                       "restarts and catches up",
        "broker_shutdown": "a controlled shutdown: leadership moves first",
    },
    "a provider": {
        "sms_slow": "the SMS provider answers slowly for a few seconds",
        "sms_failing": "the SMS provider fails every request for a few seconds",
        "payments_slow": "the payment provider answers slowly for a few seconds",
        "payments_failing": "the payment provider fails every payout for a few seconds",
    },
}
SERVICE_KINDS = tuple(FAULT_KINDS["a service"])
INFRA_KINDS = (*FAULT_KINDS["Kafka"], *FAULT_KINDS["PostgreSQL"])
BROKER_KINDS = tuple(FAULT_KINDS["a Kafka broker (cluster only)"])
PG_NODE_KINDS = tuple(FAULT_KINDS["a PostgreSQL node (cluster only)"])
PROVIDER_KINDS = tuple(FAULT_KINDS["a provider"])
POISON_KINDS = tuple(f"poison_{k}" for k in poison.KINDS)
REBALANCING = ("PreparingRebalance", "CompletingRebalance")
CRASH_POINT = {"crash_mid_batch": "mid_batch", "crash_after_db_commit": "after_db_commit",
               "crash_outbox_relay": "outbox_relay"}
# A fail point is reached only when the service has work: an armed process that has not died in
# this long is killed anyway (recorded as not fired), and lanes try again until the quota is met.
ARM_WAIT_S = 30
TOP_UPS_ALLOWED = 60  # further fail-point attempts, all lanes together, to reach the quota
RECOVERY_LIMIT_S = 180


@dataclass
class Fault:
    kind: str
    target: str
    at_s: float  # since the faults began
    fired: bool = True
    down_s: float | None = None  # injection → restart begun (or the window's length)
    restart_s: float | None = None  # restart begun → ready
    recovery_s: float | None = None  # ready → backlog drained
    elected_s: float | None = None  # a broker fault → no partition led by that broker
    in_sync_s: float | None = None  # the broker restarted → every partition's replicas in sync
    primary_s: float | None = None  # a PostgreSQL node fault → a primary on a new timeline (a replica: back)
    ready_s: float | None = None  # a PostgreSQL node fault → every service process ready again
    rejoined_s: float | None = None  # a PostgreSQL node fault → every node back in the cluster, streaming
    note: str = ""


@dataclass
class Run:
    settings: Settings
    stack: Stack
    brokers: int = 1
    postgres_nodes: int = 1
    began: float = field(default_factory=time.monotonic)
    faults: list[Fault] = field(default_factory=list)
    poison_sent: dict[bytes, str] = field(default_factory=dict)  # key → topic, of those to dead-letter
    poison_parked: dict[str, str] = field(default_factory=dict)  # topic/partition/offset → topic
    poison_refused: int = 0  # refused by the broker, as their kind expects
    planned: int = 0  # faults to inject, poison apart
    per_kind: int = 0
    top_ups: int = 0
    # An armed fail point waits for work to pass it: a lane sets this, and the sender sends the
    # next announcement at once (it keeps a few in reserve for that).
    need_traffic: asyncio.Event = field(default_factory=asyncio.Event)
    previous_release: Path = ROOT  # the previous release's tree (faults.release)
    # Poison and provider outages are held while any replica of the previous release runs (it
    # crash-loops on some poison, and gives a text up after six 503s), and a rollback waits for
    # the poison record being sent or the outage under way to end.
    previous_release_replicas: int = 0
    only_this_release: asyncio.Event = field(default_factory=asyncio.Event)
    landing: asyncio.Lock = field(default_factory=asyncio.Lock)

    def __post_init__(self) -> None:
        self.only_this_release.set()

    @contextlib.asynccontextmanager
    async def without_previous_release(self) -> AsyncIterator[None]:
        """Held while no replica of the previous release runs; a rollback waits for it to end."""
        while True:
            await self.only_this_release.wait()
            await self.landing.acquire()
            if self.only_this_release.is_set():  # no rollback began while the lock was awaited
                break
            self.landing.release()
        try:
            yield
        finally:
            self.landing.release()

    def fail_point_short(self) -> str | None:
        """A fail point reached fewer than `per_kind` times so far (an armed one is not reached
        when no work passes it in time), or a rebalance not caught, while attempts remain."""
        if self.top_ups >= TOP_UPS_ALLOWED:
            return None
        fired = Counter(f.kind for f in self.faults if f.fired)
        return next((kind for kind in (*CRASH_POINT, "kill_mid_rebalance") if fired[kind] < self.per_kind), None)

    def remaining_s(self, guess: float) -> float:
        """How long the faults will still take, judged by how long the ones so far took."""
        done = sum(1 for f in self.faults if not f.kind.startswith("poison"))
        if not done:
            return guess
        return max(0.0, (time.monotonic() - self.began) / done * (self.planned - done))

    def now(self) -> float:
        return round(time.monotonic() - self.began, 2)

    @property
    def kinds(self) -> tuple[str, ...]:
        return (SERVICE_KINDS + INFRA_KINDS + (BROKER_KINDS if self.brokers > 1 else ())
                + (PG_NODE_KINDS if self.postgres_nodes > 1 else ()) + PROVIDER_KINDS + POISON_KINDS)


def infra(*args: str) -> str:
    """deploy/local/infra.sh on the harness's ports (REBOUND_KAFKA_BROKERS says how many brokers,
    REBOUND_POSTGRES_NODES how many PostgreSQL nodes); what it printed."""
    return subprocess.run([str(ROOT / "deploy" / "local" / "infra.sh"), *args], env=os.environ | INFRA,
                          check=True, stdout=subprocess.PIPE, text=True).stdout.strip()


class Backlog:
    """Consumer-group lag and outbox rows, read from Kafka and PostgreSQL as an operator would."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._admin: AIOKafkaAdminClient | None = None
        self._consumer: AIOKafkaConsumer | None = None

    async def _clients(self) -> tuple[AIOKafkaAdminClient, AIOKafkaConsumer]:
        if self._admin is None:
            # Short timeouts: a broker just restarted is asked again soon, not waited on.
            self._admin = AIOKafkaAdminClient(bootstrap_servers=self._settings.kafka_bootstrap,
                                              request_timeout_ms=3000)
            await self._admin.start()
            self._consumer = AIOKafkaConsumer(bootstrap_servers=self._settings.kafka_bootstrap, group_id=None,
                                              request_timeout_ms=3000)
            await self._consumer.start()
        return self._admin, self._consumer

    async def close(self) -> None:
        admin, consumer, self._admin, self._consumer = self._admin, self._consumer, None, None
        stops = ([admin.close] if admin is not None else []) + ([consumer.stop] if consumer is not None else [])
        for stop in stops:
            try:
                await stop()
            except (Exception, asyncio.CancelledError):  # a client of a broker that went away:
                pass  # nothing to keep (aiokafka's consumer can raise a stray CancelledError)

    async def _caught_up(self, service: str, members: int | None) -> bool:
        """The service's groups stable (with `members` members, if given), their lag 0, and its
        outbox empty."""
        admin, consumer = await self._clients()
        groups = [service] + (["notify-priority"] if service == "notify" else [])
        for group_id in (self._settings.topic_prefix + g for g in groups):
            group = await measure.group_lag(admin, consumer, group_id)
            if group.state != "Stable" or (members is not None and group.members != members) or group.lag:
                return False
        conn = await asyncpg.connect(self._settings.database_url)
        try:
            return not await conn.fetchval(f"SELECT count(*) FROM {service}.outbox")
        finally:
            await conn.close()

    async def group_state(self, service: str) -> str | None:
        admin, _ = await self._clients()
        described = (await admin.describe_consumer_groups([self._settings.topic_prefix + service]))[0].groups
        return described[0][2] if described else None

    async def rebalancing(self, service: str, limit_s: float = 60) -> str | None:
        """The service's group state as soon as it is rebalancing (None: not within the limit)."""
        deadline = time.monotonic() + limit_s
        while time.monotonic() < deadline:
            try:
                state = await asyncio.wait_for(self.group_state(service), timeout=3)
                if state in REBALANCING:
                    return state
            except Exception:
                await self.close()
            await asyncio.sleep(0.05)
        return None

    async def drained(self, services: tuple[str, ...], members: int | None = None,
                      limit_s: float = RECOVERY_LIMIT_S) -> float | None:
        """Seconds until each service has been seen caught up (None: not within the limit). Each
        is checked on its own: other lanes' faults keep some group rebalancing most of the time."""
        started, waiting = time.monotonic(), set(services)
        while time.monotonic() - started < limit_s:
            for service in sorted(waiting):
                try:
                    if await asyncio.wait_for(self._caught_up(service, members), timeout=5):
                        waiting.discard(service)
                except Exception:  # Kafka or PostgreSQL not answering yet
                    await self.close()
            if not waiting:
                return round(time.monotonic() - started, 2)
            await asyncio.sleep(0.2)
        return None


class Partitions:
    """The leaders and in-sync replicas of the run's partitions and of the consumer offsets, from
    the cluster's metadata, as `kafka-topics --describe` shows them."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings

    async def describe(self) -> list[dict[str, Any]]:
        admin = AIOKafkaAdminClient(bootstrap_servers=self._settings.kafka_bootstrap, request_timeout_ms=3000)
        await admin.start()
        try:
            names = [t for t in await admin.list_topics()
                     if t.startswith(self._settings.topic_prefix) or t == "__consumer_offsets"]
            return [p for topic in await admin.describe_topics(names) for p in topic["partitions"]]
        finally:
            await admin.close()

    async def led_by(self, node: int) -> int:
        return sum(1 for p in await self.describe() if p["leader"] == node)

    async def until(self, holds: Callable[[list[dict[str, Any]]], bool], limit_s: float = RECOVERY_LIMIT_S,
                    ) -> float | None:
        """Seconds until the partitions are as `holds` says (None: not within the limit)."""
        started = time.monotonic()
        while time.monotonic() - started < limit_s:
            try:
                if holds(await asyncio.wait_for(self.describe(), timeout=10)):
                    return round(time.monotonic() - started, 2)
            except Exception:  # the broker asked is the one going away
                pass
            await asyncio.sleep(0.2)
        return None


async def restart(run: Run, name: str, root: Path | None = None) -> float:
    """Start the process again, as a supervisor would, until it is ready: while Kafka or
    PostgreSQL is down (the infrastructure lane), a starting service exits and is started again.
    From the code at `root` (another release's) from now on, if given."""
    started = time.monotonic()
    for attempt in range(30):
        try:
            await asyncio.to_thread(run.stack.restart, name, 60, root)
            break
        except RuntimeError:
            if name in run.stack.processes:
                await asyncio.to_thread(run.stack.kill, name)
            if attempt == 29:
                raise
            await asyncio.sleep(1)
    return round(time.monotonic() - started, 2)


async def service_lane(run: Run, service: str, kinds: list[str], rng: random.Random, backlog: Backlog) -> None:
    """Faults on one service's two processes, one at a time, in a seeded order."""
    names = [service, f"{service}-2"]
    while True:
        if kinds:
            kind = kinds.pop(0)
        elif short := run.fail_point_short():  # lanes done with their own share help the others
            kind = short
            run.top_ups += 1
            run.planned += 1
        else:
            break
        await asyncio.sleep(rng.uniform(0.5, 3))
        name = rng.choice(names)
        fault = Fault(kind, name, run.now())
        process = run.stack.processes[name]
        began = time.monotonic()
        if kind == "kill":
            await asyncio.to_thread(run.stack.kill, name)
        elif kind in CRASH_POINT:
            os.kill(process.pid, failpoints.signal_for(CRASH_POINT[kind]))
            for wait_s in (5, ARM_WAIT_S - 5):
                try:
                    await asyncio.to_thread(process.wait, wait_s)
                    break
                except subprocess.TimeoutExpired:
                    run.need_traffic.set()
            fault.fired = process.poll() == -signal.SIGKILL
            await asyncio.to_thread(run.stack.kill, name)  # if not fired: the armed point must not stay armed
            if not fault.fired:
                fault.note = f"{CRASH_POINT[kind]} not reached in {ARM_WAIT_S} s; killed instead"
        elif kind == "replica_kill":
            await asyncio.to_thread(run.stack.kill, name)
            taken_over = await backlog.drained((service,), members=1)
            fault.note = (f"the other replica drained the backlog alone in {taken_over} s" if taken_over is not None
                          else "the other replica had not drained the backlog alone")
        elif kind == "kill_mid_rebalance":
            name = await _kill_mid_rebalance(run, service, name, names, rng, backlog, fault)
        elif kind == "rolling_upgrade":
            await _rolling_upgrade(run, service, names, backlog, fault)
            run.faults.append(fault)
            continue
        fault.down_s = round(time.monotonic() - began, 2)
        fault.restart_s = await restart(run, name)
        fault.recovery_s = await backlog.drained((service,), members=len(names))
        run.faults.append(fault)


async def _rolling_upgrade(run: Run, service: str, names: list[str], backlog: Backlog, fault: Fault) -> None:
    """Roll the service back to the previous release a replica at a time, then forward to this
    commit: each replica stopped as a rollout stops it (SIGTERM, then SIGKILL after the grace
    period), started from the other release, and the group's backlog drained before the next, so
    the two releases share the topics and the tables at every step. `down_s` is the whole
    rollout; `restart_s` the last replica's start; `recovery_s` its backlog drained."""
    began = time.monotonic()
    run.previous_release_replicas += len(names)
    run.only_this_release.clear()
    try:
        async with run.landing:  # the poison record on its way, or the outage under way, ends first
            pass
        await backlog.drained((service,), members=len(names))  # and is read by this release
        for root in (run.previous_release, ROOT):
            for name in names:
                await asyncio.to_thread(run.stack.stop_process, name)
                fault.restart_s = await restart(run, name, root)
                fault.recovery_s = await backlog.drained((service,), members=len(names))
    finally:
        run.previous_release_replicas -= len(names)
        if not run.previous_release_replicas:
            run.only_this_release.set()
    fault.down_s = round(time.monotonic() - began, 2)
    fault.note = f"{', '.join(names)} to {run.previous_release.name[:8]} and back, one at a time"


async def _kill_mid_rebalance(run: Run, service: str, name: str, names: list[str], rng: random.Random,
                              backlog: Backlog, fault: Fault) -> str:
    """Kill `name`, start it again, and while its group rebalances to take it back in, kill one of
    the two replicas: the one to start again."""
    await asyncio.to_thread(run.stack.kill, name)
    await backlog.drained((service,), members=1, limit_s=60)  # the group settled without it
    run.stack.start_again(name)
    state = await backlog.rebalancing(service)
    victim = rng.choice(names)
    if victim != name and victim in run.stack.processes:
        await asyncio.to_thread(run.stack.kill, victim)
        try:  # the one that was joining
            await asyncio.to_thread(run.stack.wait_ready, name)
        except RuntimeError:  # it exited while Kafka or PostgreSQL was down: started again
            await restart(run, name)
    else:
        victim = name
        await asyncio.to_thread(run.stack.kill, name)
    fault.target, fault.fired = victim, state is not None
    fault.note = (f"{victim} killed while the group was {state}" if state is not None
                  else f"no rebalance seen in 60 s; {victim} killed anyway")
    return victim


async def infra_lane(run: Run, kinds: list[str], rng: random.Random, backlog: Backlog) -> None:
    """Kafka's or PostgreSQL's faults, one at a time in a seeded order."""
    counts: Counter = Counter()
    partitions = Partitions(run.settings)
    for kind in kinds:
        await asyncio.sleep(rng.uniform(1, 4))
        hard = counts[kind] % 2 == 1
        counts[kind] += 1
        if kind in BROKER_KINDS:
            fault = await _broker_fault(run, kind, rng, partitions)
        elif kind in PG_NODE_KINDS:
            fault = await _postgres_node_fault(run, kind, rng)
        else:
            fault = await _restart_fault(run, kind, hard, rng)
        await backlog.close()  # its connections were to the old broker
        fault.recovery_s = await backlog.drained(SERVICES)
        run.faults.append(fault)


async def _restart_fault(run: Run, kind: str, hard: bool, rng: random.Random) -> Fault:
    """Every broker, or PostgreSQL, stopped (or crashed) and started again."""
    component = "kafka" if kind == "kafka_restart" else "postgres"
    fault = Fault(kind, component, run.now(), note="crash (SIGKILL / immediate)" if hard else "clean stop")
    began = time.monotonic()
    await asyncio.to_thread(infra, "crash" if hard else "stop", component)
    await asyncio.sleep(rng.uniform(0.5, 3))  # down for a moment
    fault.down_s = round(time.monotonic() - began, 2)
    began = time.monotonic()
    for attempt in range(3):  # as a supervisor would: a start that met a race is tried again
        try:
            await asyncio.to_thread(infra, "start", component)
            break
        except subprocess.CalledProcessError:
            if attempt == 2:
                raise
            fault.note += f"; start {attempt + 1} failed, tried again"
    fault.restart_s = round(time.monotonic() - began, 2)
    return fault


async def _broker_fault(run: Run, kind: str, rng: random.Random, partitions: Partitions) -> Fault:
    """One broker of the cluster SIGKILLed or shut down in a controlled way; it stays down until
    its partitions have new leaders, then starts again and catches up."""
    node = rng.randint(1, run.brokers)
    led = await partitions.led_by(node)
    fault = Fault(kind, f"broker {node}", run.now())
    began = time.monotonic()
    await asyncio.to_thread(infra, "crash" if kind == "broker_kill" else "stop", "broker", str(node))
    if await partitions.until(lambda ps: all(p["leader"] not in (node, -1) for p in ps)) is not None:
        fault.elected_s = round(time.monotonic() - began, 2)
    await asyncio.sleep(rng.uniform(0.5, 3))  # down a moment longer
    fault.down_s = round(time.monotonic() - began, 2)
    began = time.monotonic()
    await asyncio.to_thread(infra, "start", "broker", str(node))
    fault.restart_s = round(time.monotonic() - began, 2)
    if await partitions.until(lambda ps: all(len(p["isr"]) == len(p["replicas"]) for p in ps)) is not None:
        fault.in_sync_s = round(time.monotonic() - began, 2)
    fault.note = f"led {led} partitions when it went"
    return fault


async def _postgres_node_fault(run: Run, kind: str, rng: random.Random) -> Fault:
    """One node of the PostgreSQL cluster, the primary or a replica, crashed (or the primary
    switched over), once the cluster is whole; timed until a primary takes writes again, every
    service is ready again, and every node is back."""
    cluster = postgres.Patroni((await asyncio.to_thread(infra, "patroni-endpoints")).split(","))
    await cluster.until(postgres.whole(run.postgres_nodes), RECOVERY_LIMIT_S)
    members = await cluster.members()
    leader = postgres.leading(members)
    assert leader is not None, "no primary after the last fault's recovery limit"
    replicas = [m for m in members if m is not leader]
    target = rng.choice(replicas) if kind == "postgres_replica_kill" else leader
    node = postgres.node_of(target)
    fault = Fault(kind, f"node-{node} ({'replica' if target is not leader else 'primary'})", run.now())
    began = time.monotonic()
    action = {"postgres_primary_kill": ("crash", "pg-postgres", str(node)),
              "postgres_replica_kill": ("crash", "pg-postgres", str(node)),
              "postgres_primary_partition": ("crash", "pg-node", str(node)),
              "postgres_switchover": ("switchover",)}[kind]
    await asyncio.to_thread(infra, *action)
    if kind == "postgres_replica_kill":  # the primary never changed: the replica streaming again
        back = await cluster.until(postgres.whole(run.postgres_nodes), RECOVERY_LIMIT_S)
    else:
        back = await cluster.until(postgres.promoted_after(int(leader.get("timeline") or 0)), RECOVERY_LIMIT_S)
    fault.primary_s = round(time.monotonic() - began, 2) if back is not None else None
    if kind == "postgres_primary_partition":
        await asyncio.sleep(rng.uniform(0.5, 3))  # the machine gone a moment longer
        fault.down_s = round(time.monotonic() - began, 2)
        await asyncio.to_thread(infra, "start", "pg-node", str(node))
    def service_processes() -> dict[str, tuple[int, str]]:
        return {name: (process.pid, run.stack.url(name)) for name, process in list(run.stack.processes.items())
                if name in run.stack.services or name in run.stack.service_of}
    if await postgres.all_ready(service_processes, RECOVERY_LIMIT_S) is not None:
        fault.ready_s = round(time.monotonic() - began, 2)
    if await cluster.until(postgres.whole(run.postgres_nodes), RECOVERY_LIMIT_S) is not None:
        fault.rejoined_s = round(time.monotonic() - began, 2)
    fault.note = f"timeline {leader.get('timeline')} led by {leader['name']} when it began"
    return fault


async def provider_lane(run: Run, kinds: list[str], rng: random.Random) -> None:
    sms, payments = SandboxSettings(), PaymentsSandboxSettings()
    async with httpx.AsyncClient(timeout=10) as client:
        async def control(kind: str, body: dict[str, object]) -> None:
            if kind.startswith("sms"):
                response = await client.post(f"{run.stack.url('sms')}/v1/control", json=body,
                                             auth=(sms.account, sms.token))
            else:
                response = await client.post(f"{run.stack.url('payments')}/v1/control", json=body,
                                             headers={"Authorization": f"Bearer {payments.payments_key}"})
            response.raise_for_status()

        for kind in kinds:
            await asyncio.sleep(rng.uniform(1, 4))
            delay_ms = rng.randrange(1000, 4000)
            bodies: dict[str, dict[str, object]] = {
                "sms_slow": {"delay_ms": delay_ms}, "sms_failing": {"down": True},
                "payments_slow": {"delay_ms": delay_ms}, "payments_failing": {"fail_next": 1_000_000}}
            body = bodies[kind]
            async with run.without_previous_release():
                fault = Fault(kind, "sms" if kind.startswith("sms") else "payments", run.now(),
                              note=f"{delay_ms} ms a request" if "slow" in kind else "every request refused (503)")
                await control(kind, body)
                hold = rng.uniform(2, 6)
                await asyncio.sleep(hold)
                await control(kind, {})
            fault.down_s = round(hold, 2)
            run.faults.append(fault)


async def poison_lane(run: Run, rounds: int, rng: random.Random, spread_s: float) -> None:
    """`rounds` poison messages of each kind on each topic, spread over the run; where each landed
    (or that the broker refused it) is kept for the audit."""
    plan = [(kind, topic) for _ in range(rounds) for kind in poison.KINDS for topic in topics.ALL]
    rng.shuffle(plan)
    producer = AIOKafkaProducer(bootstrap_servers=run.settings.kafka_bootstrap, acks="all")
    await producer.start()
    try:
        for n, (kind, topic) in enumerate(plan):
            await asyncio.sleep(spread_s / len(plan))
            message = poison.message(kind, n)
            full = topics.name(run.settings, topic)
            async with run.without_previous_release():
                while True:  # the broker may be restarting
                    try:
                        landed = await asyncio.wait_for(poison.send(producer, full, message), timeout=30)
                        break
                    except Exception:
                        await asyncio.sleep(1)
            if message.ends == poison.DEAD_LETTERED:
                run.poison_sent[message.key] = full
            elif landed is None:
                run.poison_refused += 1
            else:
                run.poison_parked[f"{landed.topic}/{landed.partition}/{landed.offset}"] = full
            run.faults.append(Fault(f"poison_{kind}", topic, run.now()))
    finally:
        await producer.stop()


async def send_announcements(run: Run, s: scenario.Scenario, endpoints: replay.Endpoints, guess_s: float,
                             faults_over: asyncio.Event) -> replay.Played:
    """One announcement at a time, spread evenly over the time the faults will still take (so work
    flows through every fault); a reserve of them only when a lane needs traffic to reach a fail
    point; the rest at once when the faults are over."""
    played = replay.Played()
    reserve = max(3, len(s.announcements) // 6)
    async with replay.AnnouncementSender(run.settings, endpoints, "api") as deliver:
        for n, a in enumerate(s.announcements):
            left = len(s.announcements) - n
            if not faults_over.is_set():
                paced = left > reserve
                gap = run.remaining_s(guess_s) / max(left - reserve, 1) if paced else None
                wake = [asyncio.create_task(faults_over.wait()), asyncio.create_task(run.need_traffic.wait())]
                await asyncio.wait(wake, timeout=min(max(gap, 0.5), 30) if gap is not None else None,
                                   return_when=asyncio.FIRST_COMPLETED)
                for task in wake:
                    task.cancel()
                run.need_traffic.clear()
            played.sent_at[a.flight_id] = datetime.now(UTC)
            await deliver([a])
            played.accepted_at[a.flight_id] = datetime.now(UTC)
    return played


async def consumed_topics(settings: Settings) -> set[str]:
    """Topics some service's consumer group has committed offsets on."""
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)
    await admin.start()
    try:
        found = set()
        for group, _ in await admin.list_consumer_groups():
            if group.startswith(settings.topic_prefix):
                found |= {tp.topic for tp in await admin.list_consumer_group_offsets(group)}
        return found
    finally:
        await admin.close()


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--date", type=date.fromisoformat, default=date(2013, 2, 8))
    parser.add_argument("--seed", type=int, default=scenario.SEED)
    parser.add_argument("--sample", type=int, default=60, help="disrupted flights of the day to announce")
    parser.add_argument("--per-kind", type=int, default=20, help="faults of each kind, at least")
    parser.add_argument("--poison-per-topic", type=int, default=1000,
                        help="poison records on each topic, at least (every kind of faults.poison in turn)")
    parser.add_argument("--brokers", type=int, default=int(os.environ.get("REBOUND_KAFKA_BROKERS", "1")),
                        help="Kafka brokers: 3 is a cluster with every topic in three copies")
    parser.add_argument("--postgres-nodes", type=int, default=int(os.environ.get("REBOUND_POSTGRES_NODES", "1")),
                        help="PostgreSQL nodes: 3 is a Patroni cluster with a synchronous standby")
    args = parser.parse_args()
    # infra.sh starts, stops and crashes that many
    os.environ["REBOUND_KAFKA_BROKERS"] = str(args.brokers)
    os.environ["REBOUND_POSTGRES_NODES"] = str(args.postgres_nodes)
    os.environ.pop("REBOUND_DATABASE_URL", None)  # make's, for its own PostgreSQL: the harness has its own
    # The harness's own Kafka clients complain at every broker restart it causes.
    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)
    rng = random.Random(args.seed)
    per_service = -(-args.per_kind // len(SERVICES))  # each service's share, rounded up
    poison_rounds = -(-args.poison_per_topic // len(poison.KINDS))

    await asyncio.to_thread(infra, "start")
    base = Settings(kafka_bootstrap=await asyncio.to_thread(infra, "bootstrap"),
                    topic_replication=int(await asyncio.to_thread(infra, "replication")),
                    database_url=await asyncio.to_thread(infra, "database-url"))
    try:
        async with measure.fresh_run(base=base) as (run_id, settings):
            return await faults_run(args, rng, per_service, poison_rounds, run_id, settings)
    finally:
        await asyncio.to_thread(infra, "stop")


async def faults_run(args: argparse.Namespace, rng: random.Random, per_service: int, poison_rounds: int,
                     run_id: str, settings: Settings) -> int:
    logs = STATE / "runs" / run_id
    stack = _stack(settings, logs)
    s = scenario.build(args.date, 1, args.seed, args.sample)
    print(scenario.summary(s), flush=True)
    previous = await asyncio.to_thread(release.source)
    await as_previous_release_left_it(settings, previous)
    await asyncio.to_thread(stack.start)
    run = Run(settings, stack, brokers=args.brokers, postgres_nodes=args.postgres_nodes, previous_release=previous)
    backlog = Backlog(settings)
    try:
        for service in SERVICES:
            await asyncio.to_thread(stack.add_replica, service, 2)
        endpoints = replay.Endpoints(disruption=stack.url("disruption"),
                                     disruption_replicas=(stack.url("disruption-2"),),
                                     notify=stack.url("notify"), api_key=API_KEY)
        load_s = await replay.load(settings, s, endpoints)
        print(f"loaded in {load_s:.0f} s; faults begin ({args.per_kind} or more of each kind)", flush=True)
        # Roughly how long the faults take on this machine, until their own pace is known.
        spread_s = args.per_kind * 25.0
        run.began = time.monotonic()
        run.per_kind = args.per_kind
        run.planned = (len(SERVICES) * len(SERVICE_KINDS) * per_service
                       + sum(1 for k in run.kinds if k not in SERVICE_KINDS + POISON_KINDS) * args.per_kind)
        faults_over = asyncio.Event()
        sending = asyncio.create_task(send_announcements(run, s, endpoints, spread_s, faults_over))
        await _inject(run, _lanes(run, rng, args.per_kind, per_service, poison_rounds, spread_s, backlog))
        faults_s = run.now()
        faults_over.set()
        played = await sending
        with tqdm(total=len(s.announcements), initial=len(s.announcements), desc="settling") as bar:
            settle_s = await replay.watch(settings, s, played, True, bar, logs / "sandbox", within_seconds=1200)
        print("auditing…", flush=True)
        found = await audit.audit(settings, s, played.sent_at, logs / "sandbox", logs, frozenset(run.poison_sent))
    finally:
        await backlog.close()
        stack.stop()
    consumed = await consumed_topics(settings)
    missed = _poison_missed(run, found, consumed) + await _parked_findings(run, settings)
    timing = {"faults_s": faults_s, "settle_s": round(settle_s, 1) if settle_s is not None else None}
    return _report(args, _results(args, run, s, found, missed, consumed, run_id, timing), found, missed)


def _results(args: argparse.Namespace, run: Run, s: scenario.Scenario, found: dict[str, Any], missed: list[str],
             consumed: set[str], run_id: str, timing: dict[str, Any]) -> dict[str, Any]:
    settings = run.settings
    return {
        "scenario": {"date": args.date.isoformat(), "seed": args.seed, "sample": args.sample, "run": run_id,
                     "per_kind": args.per_kind, "brokers": args.brokers, "postgres_nodes": args.postgres_nodes,
                     "topic_replication": settings.topic_replication},
        "passengers_affected": len(s.affected), "announcements": len(s.announcements), **timing,
        **_fault_figures(run),
        "audit": {"clean": found["clean"] and not missed, **found["invariants"],
                  "poison_not_dead_lettered": len(missed),
                  "examples": found["examples"] | ({"poison_not_dead_lettered": missed[:5]} if missed else {})},
        "poison": {"injected": len(run.poison_sent) + len(run.poison_parked) + run.poison_refused,
                   "per_topic": -(-args.poison_per_topic // len(poison.KINDS)) * len(poison.KINDS),
                   "to_dead_letter": len(run.poison_sent), "to_park": len(run.poison_parked),
                   "refused_by_broker": run.poison_refused, "dead_letter_copies": len(found["poison_dead_lettered"]),
                   "reasons": sorted({d.reason.split(":")[0] for d in found["poison_dead_lettered"]}),
                   "topics_consumed": sorted(t.removeprefix(settings.topic_prefix) for t in consumed)},
        "outcomes": found["outcomes"], "notices_at_providers": found["notices_at_providers"],
        "deliveries": found["deliveries"],
        "grants": found["grants"], "payouts": found["payouts"], "topic_messages_audited": found["topic_messages_read"],
        "faults": [asdict(f) for f in run.faults if not f.kind.startswith("poison")],
    }


def _report(args: argparse.Namespace, results: dict[str, Any], found: dict[str, Any], missed: list[str]) -> int:
    """The results written and summed up; 1 if anything failed."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / (f"{args.date}-{args.seed}-{args.per_kind}x"
                      + (f"-{args.brokers}brokers" if args.brokers > 1 else "")
                      + (f"-{args.postgres_nodes}pg" if args.postgres_nodes > 1 else "") + ".json")
    path.write_text(json.dumps(results, indent=2) + "\n")
    print(audit.describe(found))
    print(f"  poison_not_dead_lettered     {len(missed)}")
    print(json.dumps({k: results[k] for k in ("faults_injected", "recovery_s", "faults_s", "settle_s")}, indent=1))
    short = {k: n for k, n in results["faults_injected"].items() if n < args.per_kind}
    if short:
        print(f"fewer than {args.per_kind} faults of these kinds: {short}")
    # The last line names what failed, with examples: CI keeps only a run's tail.
    clean = results["audit"]["clean"]
    failed = {name: n for name, n in results["audit"].items() if name not in ("clean", "examples") and n}
    print(f"{'clean' if clean else 'VIOLATIONS ' + json.dumps(failed)}; results: {path}", flush=True)
    if not clean:
        print("examples: " + json.dumps(results["audit"]["examples"])[:2000], flush=True)
    return 0 if clean and not short else 1


async def as_previous_release_left_it(settings: Settings, previous: Path) -> None:
    """Each service's schema migrated by the previous release's own code, as its own role: this
    release's start is then an upgrade (its post-deploy migrations wait, as in a rollout), never a
    new schema."""
    for service in SERVICES:
        await release.migrate(postgres_access.service_url(settings.database_url, service), service, previous)


async def _parked_findings(run: Run, settings: Settings) -> list[str]:
    """Each poison record the Kafka client cannot read that is missing from the parked table of a
    service reading its topic, and anything parked that is not such poison."""
    conn = await asyncpg.connect(settings.database_url)
    try:
        parked = {service: [(r["stage"], r["origin"], r["reason"]) for r in await conn.fetch(
                      f'SELECT stage, origin, reason FROM "{service}".parked')] for service in SERVICES}
    finally:
        await conn.close()
    missing = [f"{origin} not parked by {service}" for origin, topic in run.poison_parked.items()
               for service in SERVICES if topic.removeprefix(settings.topic_prefix) in system.READS[service]
               and origin not in {o for _, o, _ in parked[service]}]
    unexpected = [f"{service} parked {stage} {origin}: {reason[:120]}" for service, rows in parked.items()
                  for stage, origin, reason in rows if origin not in run.poison_parked]
    return missing + unexpected


def _poison_missed(run: Run, found: dict[str, Any], consumed: set[str]) -> list[str]:
    """Each poison message sent to a topic some service reads that did not reach a dead-letter
    topic with its reason."""
    caught = {d.key for d in found["poison_dead_lettered"] if d.reason}
    return [f"{key.decode()} on {topic}" for key, topic in run.poison_sent.items()
            if topic in consumed and key not in caught]


def _stack(settings: Settings, logs: Path) -> Stack:
    """The services, two of each, with their fail points on and fast retries."""
    return Stack(env={"REBOUND_KAFKA_BOOTSTRAP": settings.kafka_bootstrap,
                      "REBOUND_DATABASE_URL": settings.database_url,
                      "REBOUND_TOPIC_PREFIX": settings.topic_prefix, "REBOUND_ENVIRONMENT": "test",
                      "REBOUND_TOPIC_REPLICATION": str(settings.topic_replication),
                      "REBOUND_API_KEYS": API_KEY, "REBOUND_FAILPOINTS": "on",
                      "REBOUND_PARTNER_RATE_PER_SECOND": "1000", "REBOUND_PARTNER_BURST": "1000",
                      "REBOUND_REBOOKING_PARTNERS": scenario.PARTNERS_2013,
                      "REBOUND_PAYOUT_BACKOFF_SECONDS": "0.5", "REBOUND_PAYOUT_LEASE_SECONDS": "5",
                      "REBOUND_BREAKER_COOLDOWN_SECONDS": "2"}, logs=logs)


def _lanes(run: Run, rng: random.Random, per_kind: int, per_service: int, poison_rounds: int, spread_s: float,
           backlog: Backlog) -> list[Coroutine[Any, Any, None]]:
    """A lane of faults per service, one for Kafka (its brokers one at a time, or all at once), one
    for PostgreSQL, one for the providers, one of poison messages: each kind in a seeded order."""
    lanes = [service_lane(run, service, rng.sample(list(SERVICE_KINDS) * per_service,
                                                   len(SERVICE_KINDS) * per_service),
                          random.Random(rng.random()), backlog) for service in SERVICES]
    kafka = [k for k in run.kinds if k == "kafka_restart" or k in BROKER_KINDS]
    pg = [k for k in run.kinds if k == "postgres_restart" or k in PG_NODE_KINDS]
    return lanes + [
        infra_lane(run, rng.sample(kafka * per_kind, len(kafka) * per_kind), random.Random(rng.random()),
                   Backlog(run.settings)),
        infra_lane(run, rng.sample(pg * per_kind, len(pg) * per_kind), random.Random(rng.random()),
                   Backlog(run.settings)),
        provider_lane(run, rng.sample(list(PROVIDER_KINDS) * per_kind, len(PROVIDER_KINDS) * per_kind),
                      random.Random(rng.random())),
        poison_lane(run, poison_rounds, random.Random(rng.random()), spread_s)]


async def _inject(run: Run, lanes: list[Coroutine[Any, Any, None]]) -> None:
    """Every lane to its end, with a progress bar of the faults fired."""
    with tqdm(total=run.planned, desc="faults", unit="fault", mininterval=5) as bar:
        async def tick() -> None:
            while True:
                bar.n = sum(1 for f in run.faults if not f.kind.startswith("poison"))
                bar.set_postfix_str(", ".join(f"{k} {n}" for k, n in sorted(Counter(
                    f.kind for f in run.faults if f.fired).items()) if not k.startswith("poison")))
                bar.refresh()
                await asyncio.sleep(5)
        ticking = asyncio.create_task(tick())
        try:
            await asyncio.gather(*lanes)
        finally:
            ticking.cancel()


def _timings(faults: list[Fault], kinds: tuple[str, ...], measured: str) -> dict[str, dict[str, float]]:
    """p50/p99/max of one of the faults' timings (`recovery_s`, …), per kind."""
    return {k: measure.summary([t for f in faults if f.kind == k and (t := getattr(f, measured)) is not None], 2)
            for k in kinds}


def _fault_figures(run: Run) -> dict[str, object]:
    """How many faults of each kind fired, and how long each kind took to recover from."""
    fired = [f for f in run.faults if f.fired]
    timed = tuple(k for k in run.kinds if k in SERVICE_KINDS + INFRA_KINDS + BROKER_KINDS + PG_NODE_KINDS)
    return {
        "faults_injected": {k: sum(1 for f in fired if f.kind == k) for k in run.kinds},
        "fail_points_not_reached": sum(1 for f in run.faults if not f.fired),
        "recovery_s": _timings(fired, timed, "recovery_s"),
        "recovery_not_within_limit": sum(1 for f in fired if f.kind in timed and f.recovery_s is None),
        "restart_s": _timings(fired, timed, "restart_s"),
        **(_cluster_figures(fired) if run.brokers > 1 else {}),
        **(_postgres_figures(fired) if run.postgres_nodes > 1 else {}),
    }


def _cluster_figures(fired: list[Fault]) -> dict[str, object]:
    """How long the cluster took to elect new leaders after a broker fault, and to be in sync again."""
    brokers = [f for f in fired if f.kind in BROKER_KINDS]
    return {"leaders_elected_s": _timings(brokers, BROKER_KINDS, "elected_s"),
            "replicas_in_sync_s": _timings(brokers, BROKER_KINDS, "in_sync_s"),
            "broker_faults_not_settled": sum(1 for f in brokers if f.elected_s is None or f.in_sync_s is None)}



def _postgres_figures(fired: list[Fault]) -> dict[str, object]:
    """How long the PostgreSQL cluster took to have a primary again, the services to be ready
    again, and every node to be back, after each kind of node fault."""
    nodes = [f for f in fired if f.kind in PG_NODE_KINDS]
    return {"postgres_primary_s": _timings(nodes, PG_NODE_KINDS, "primary_s"),
            "postgres_services_ready_s": _timings(nodes, PG_NODE_KINDS, "ready_s"),
            "postgres_nodes_rejoined_s": _timings(nodes, PG_NODE_KINDS, "rejoined_s"),
            "postgres_faults_not_settled": sum(1 for f in nodes if None in (f.primary_s, f.ready_s, f.rejoined_s))}


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))
