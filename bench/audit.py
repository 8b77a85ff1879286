"""The independent audit of a replay: every promise checked from the data itself, not from the
services' own counters.

    python -m bench.audit [--date 2013-02-08] [--seed 2013] [--sample N]    (against `make services`)

Who was affected comes from rebuilding the scenario (same date, seed and sample), not from the
services. What passengers were sent comes from the providers' own records: the sandbox SMS API's
log, the SMTP sink's mailbox and the push gateway's log (each message carries its notice's
idempotency key: disruption, passenger, stage, revision, channel), and the payment sandbox's log
of payouts. Outcomes, seats and grants come from the services' tables; the topics are read end to
end for contact details.

Invariants, each reported with its count of violations (0 is clean):
- first_notice_missing: an affected passenger with a usable channel has no first notice about
  their own disruption on it (unless notify recorded that channel as fallen back and another
  channel carried it);
- unreachable_not_recorded: an affected passenger with no usable contact is not recorded as
  undeliverable (an agent must see them);
- duplicate_notices: the same notice (disruption, passenger, stage, revision, channel) reached a
  provider more than once;
- outcome_missing: once the pipeline is quiet, an affected passenger is neither rebooked,
  refunded, handed to an agent, nor kept on a flight that still operates (each example names the
  booking's last decision);
- outcome_notice_missing: a passenger rebooked, refunded or handed to an agent was not told so;
- oversold_cabins: a cabin with more seats sold than it has, or a count that disagrees with the
  seats held;
- duplicate_grants: a passenger granted the same kind of entitlement twice under one regime for one
  journey, or under a journey their booking does not have (journeys rebuilt from the scenario);
- overpaid: more paid out to a passenger for a kind than was granted, or a payout paid twice;
- refunds_exceed_fare: refunds granted or paid for a booking add up to more than its passengers
  paid (the fares come from the scenario, the payments from the payment provider's log);
- events_not_processed: an announcement accepted but not recorded by the disruption service;
- outbox_not_drained: an event written but never published;
- dead_lettered: a message on a dead-letter topic that is not a poison message the run injected
  on purpose (the replay itself sends nothing malformed, so each one is a message a service could
  not handle);
- contact_details_on_topics (and _in_logs): a phone number or email address of a passenger found
  in a Kafka message (or a service's log);
- secrets_on_topics: a working choice link or a voucher code in the clear in a Kafka message
  (they travel sealed for notify).
"""

import argparse
import asyncio
import json
import re
import statistics
from collections import Counter, defaultdict
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

import asyncpg
from aiokafka import AIOKafkaConsumer, ConsumerRecord, TopicPartition

from bench import scenario as scenarios
from bench.measure import percentile
from shared import journeys, topics
from shared.consumer import UNREADABLE
from shared.settings import Settings

INVARIANTS = ("first_notice_missing", "unreachable_not_recorded", "duplicate_notices", "outcome_missing",
              "outcome_notice_missing", "oversold_cabins", "duplicate_grants", "overpaid", "refunds_exceed_fare",
              "events_not_processed",
              "outbox_not_drained", "dead_lettered", "contact_details_on_topics", "contact_details_in_logs",
              "secrets_on_topics")
OUTCOMES = ("rebooked", "refunded", "needs_agent", "kept", "none")
SCHEMAS = ("disruption", "rebooking", "compensation", "notify")
EMAIL = re.compile(rb"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+")
PHONE = re.compile(rb"\+[1-9][0-9]{6,14}")
SECRET = re.compile(rb"/choice/[A-Za-z0-9_-]{20,}\.[A-Za-z0-9_-]{20,}|RB-[A-Z2-7]{4}-[A-Z2-7]{4}")
CHANNELS = {"sms": "phone", "email": "email"}


# --- pure: what the records say -----------------------------------------------------------------


@dataclass(frozen=True)
class Sent:
    """One message as a provider received it."""

    disruption_id: str
    passenger_id: str
    stage: str
    revision: int
    channel: str
    received_at: datetime


def parse_key(key: str | None, received_at: str) -> Sent | None:
    """A notice's idempotency key, `<disruption>:<booking>:<passenger>:<stage>:<revision>:<channel>`,
    or the previous release's `<disruption>.<passenger>.<stage>.<revision>.<channel>` (which notify
    still gives during an upgrade from it), as the provider logged it (an email's Message-ID wraps
    it in <…@rebound.notify>)."""
    if not key:
        return None
    key = key.strip("<>").split("@", 1)[0]
    parts = key.rsplit(":", 5)
    if len(parts) == 6 and parts[4].isdigit():
        disruption, _, passenger, stage, revision, channel = parts
    elif len(previous := key.rsplit(".", 4)) == 5 and previous[3].isdigit():
        disruption, passenger, stage, revision, channel = previous
    else:
        return None
    return Sent(disruption, passenger, stage, int(revision), channel, datetime.fromisoformat(received_at))


def final_outcome(decisions: list[tuple[str, datetime]], refunded_at: datetime | None
                  ) -> tuple[str, datetime | None]:
    """A passenger's outcome from the rebooking decisions about their booking (any order) and the
    time of their refund grant, if any: the latest decision that moved, refunded or handed them on
    (a later `kept` only says the new flight still operates), else `kept`; `no_alternative` and
    `returned` (flown back to where the journey began) count as refunded once the refund is granted."""
    ordered = sorted(decisions, key=lambda d: d[1])
    acting = [d for d in ordered if d[0] != "kept"]
    if not acting:
        return ("kept", ordered[-1][1]) if ordered else ("none", None)
    outcome, at = acting[-1]
    if outcome in ("rebooked", "accepted", "changed"):
        return "rebooked", at
    if outcome == "needs_agent":
        return "needs_agent", at
    if outcome in ("no_alternative", "returned", "refund_requested", "no_response"):
        return ("refunded", max(at, refunded_at)) if refunded_at else ("none", None)
    return "none", None


def duplicate_grants(s: scenarios.Scenario, grants: list[dict]) -> list[str]:
    """Grants given twice for one disrupted journey: the same kind twice under one regime, or a
    grant filed under a journey the booking does not have (a journey is keyed by its first flight;
    the booking's journeys are rebuilt from the scenario: a stopover or a turnaround ends one)."""
    starts: dict[str, set[str]] = {}
    for b in s.bookings:
        legs = sorted((s.flight_by_id[f] for f in b.flight_ids), key=lambda f: f.scheduled_departure)
        spans = journeys.journey_spans([(f.origin, f.destination, f.scheduled_departure, f.scheduled_arrival)
                                        for f in legs])
        starts[b.booking_ref] = {legs[span.start].flight_id for span in spans}
    copies = Counter((g["passenger_id"], g["regime"], g["kind"], g["disruption"]) for g in grants)
    found = [f"{p} {regime} {kind} ×{n} for {journey}" for (p, regime, kind, journey), n in copies.items() if n > 1]
    return found + [f"{g['passenger_id']} {g['regime']} {g['kind']} under {g['disruption']}, not a journey of it"
                    for g in grants if g["booking_ref"] in starts
                    and g["disruption"].split("/", 1)[-1] not in starts[g["booking_ref"]]]


def usable_channels(contact: dict) -> list[str]:
    """The channels a notice can go by: chosen, with an address, not refused."""
    return [c for c in contact["channels"]
            if c not in contact.get("opted_out", []) and (c == "push" or contact.get(CHANNELS[c]))]


def original_first_notices(sent: list[Sent], affected: dict[str, str]) -> dict[str, list[Sent]]:
    """Each affected passenger's first notices about their own disruption: the disruption of the
    earliest first notice they were sent (a later one is about a flight they were moved to)."""
    first: dict[str, list[Sent]] = defaultdict(list)
    for s in sent:
        if s.stage == "first_notice" and s.passenger_id in affected:
            first[s.passenger_id].append(s)
    original = {}
    for passenger, notices in first.items():
        disruption = min(notices, key=lambda s: s.received_at).disruption_id
        original[passenger] = [s for s in notices if s.disruption_id == disruption]
    return original


def notice_findings(sent: list[Sent], affected: dict[str, str], contacts: dict[str, dict],
                    fallen_back: set[tuple[str, str]]) -> dict[str, list]:
    """Duplicates; and affected passengers without a first notice about their own disruption on a
    usable channel (unless notify recorded that channel as fallen back and another carried it)."""
    copies = Counter((s.disruption_id, s.passenger_id, s.stage, s.revision, s.channel) for s in sent)
    original = original_first_notices(sent, affected)
    missing = []
    for passenger in affected:
        contact = contacts.get(passenger)
        channels = {s.channel for s in original.get(passenger, [])}
        for channel in usable_channels(contact) if contact else []:
            excused = (passenger, channel) in fallen_back and channels
            if channel not in channels and not excused:
                missing.append((passenger, channel))
    return {"duplicate_notices": [k for k, n in copies.items() for _ in range(n - 1)],
            "first_notice_missing": missing}


def first_notice_latency_ms(sent: list[Sent], affected: dict[str, str], sent_at: dict[str, datetime]
                            ) -> list[float]:
    """For each affected passenger and channel that carried their first notice: the event's sending
    → the provider's acceptance of it."""
    latencies = []
    for passenger, notices in original_first_notices(sent, affected).items():
        if affected[passenger] not in sent_at:
            continue
        earliest: dict[str, datetime] = {}
        for s in notices:
            earliest[s.channel] = min(earliest.get(s.channel, s.received_at), s.received_at)
        latencies += [(at - sent_at[affected[passenger]]).total_seconds() * 1000 for at in earliest.values()]
    return latencies


def contact_strings(contacts: list[dict]) -> set[bytes]:
    return {c[field].encode() for c in contacts for field in ("email", "phone") if c.get(field)}


def leaked(blob: bytes, known: set[bytes]) -> list[bytes]:
    """The passengers' phone numbers and email addresses found in `blob`."""
    found = [m.group() for pattern in (EMAIL, PHONE) for m in pattern.finditer(blob)]
    return [f for f in found if f in known]


# --- reading the records --------------------------------------------------------------------------


def read_sandbox(directory: Path) -> list[Sent]:
    sent = []
    for name, key in (("sms.jsonl", "idempotency_token"), ("mail.jsonl", "message_id"),
                      ("push.jsonl", "idempotency_key")):
        path = directory / name
        if not path.exists():
            continue
        with path.open() as f:
            for line in f:
                record = json.loads(line)
                # An email sent through SendGrid carries the key as a custom argument.
                parsed = parse_key(record.get(key) or (record.get("custom_args") or {}).get("rebound_key"),
                                   record["received_at"])
                if parsed:
                    sent.append(parsed)
    return sent


def read_payouts(directory: Path) -> list[dict]:
    path = directory / "payouts.jsonl"
    return [json.loads(line) for line in path.open()] if path.exists() else []


async def _outcomes(conn: asyncpg.Connection, s: scenarios.Scenario) -> dict[str, tuple[str, datetime | None]]:
    booking_of = s.booking_of
    passengers = list(s.affected)
    decisions: dict[str, list] = defaultdict(list)
    # Joined here, not in SQL: the planner takes an array of 50,000 for 100 rows and nests loops.
    party: dict[str, list[str]] = defaultdict(list)
    for p in passengers:
        party[booking_of[p]].append(p)
    for r in await conn.fetch("SELECT booking_ref, passenger_ids, outcome, decided_at FROM rebooking.rebookings"
                              " WHERE booking_ref = ANY($1::text[])", list(party)):
        for p in party[r["booking_ref"]]:
            if not r["passenger_ids"] or p in r["passenger_ids"]:
                decisions[p].append((r["outcome"], r["decided_at"]))
    refunds = {r["passenger_id"]: r["at"] for r in await conn.fetch(
        """SELECT passenger_id, max(granted_at) AS at FROM compensation.grants
           WHERE kind = 'refund' AND passenger_id = ANY($1::text[]) GROUP BY passenger_id""", passengers)}
    return {p: final_outcome(decisions.get(p, []), refunds.get(p)) for p in passengers}


@dataclass
class Progress:
    affected: int
    told: int
    bookings: int
    bookings_decided: int
    queued: int  # notices waiting to be sent
    busy: int  # bookings waiting for a rebooking round, payouts due, outbox rows unpublished
    outcomes: int  # affected passengers with an outcome
    settled: bool


class Told:
    """The affected passengers told so far, read from the providers' own logs as they grow (each
    read takes only the lines added since the last), with those nobody can reach counted as told
    (notify records them so; the audit checks it): asking the services' tables instead costs the
    database a core's share during a storm, and is too slow to read every quarter second."""

    _KEY = re.compile(rb'"(?:idempotency_token|message_id|idempotency_key|rebound_key)": "([^"]+)"')

    def __init__(self, directory: Path, s: scenarios.Scenario) -> None:
        self._directory = directory
        self._affected = set(s.affected)
        contacts = {c["passenger_id"]: c for c in s.contacts}
        self._told = {p for p in s.affected if not (contacts.get(p) and usable_channels(contacts[p]))}
        self._read: dict[str, int] = {}  # bytes read of each log

    def __call__(self) -> int:
        for name in ("sms.jsonl", "mail.jsonl", "push.jsonl"):
            path = self._directory / name
            if not path.exists():
                continue
            with path.open("rb") as f:
                f.seek(self._read.get(name, 0))
                lines = f.read().split(b"\n")
            # The last piece is a line still being written (or empty): read it whole next time.
            self._read[name] = self._read.get(name, 0) + sum(len(line) + 1 for line in lines[:-1])
            for line in lines[:-1]:
                for key in self._KEY.findall(line):
                    sent = parse_key(key.decode(), "2000-01-01T00:00:00+00:00")
                    if sent and sent.stage == "first_notice" and sent.passenger_id in self._affected:
                        self._told.add(sent.passenger_id)
        return len(self._told)


async def progress(conn: asyncpg.Connection, s: scenarios.Scenario, told: int) -> Progress:
    """How far the replay has got, for the progress bar, once everyone is `told`: cheap counts from
    the services' tables while work remains (this database holds this replay only), and the full
    outcome check once they say it is done."""
    decided = await conn.fetchval("SELECT count(DISTINCT booking_ref) FROM rebooking.rebookings")
    queued = await conn.fetchval("SELECT count(*) FROM notify.deliveries WHERE status IN ('pending', 'retrying', "
                                 "'sending')")
    busy = await conn.fetchval(
        "SELECT (SELECT count(*) FROM rebooking.pending) + (SELECT count(*) FROM compensation.payouts"
        " WHERE status = 'pending') + " + " + ".join(f"(SELECT count(*) FROM {s}.outbox)" for s in SCHEMAS))
    bookings = len(set(s.booking_of.values()))
    outcomes = 0
    if told >= len(s.affected) and decided >= bookings and not queued and not busy:
        outcomes = sum(o != "none" for o, _ in (await _outcomes(conn, s)).values())
    return Progress(len(s.affected), told, bookings, decided, queued, busy, outcomes,
                    settled=outcomes == len(s.affected))


@dataclass(frozen=True)
class DeadLetter:
    topic: str
    offset: int
    key: bytes | None
    reason: str

    def __str__(self) -> str:
        return f"{self.topic}@{self.offset}: {self.reason[:160]}"


async def _scan_topics(settings: Settings, known: set[bytes]) -> tuple[int, list[str], list[str], list[DeadLetter]]:
    """Read every topic of this deployment end to end; return messages read, contact details
    found, secrets found in the clear, and the dead-lettered messages with their reasons."""
    names = [topics.name(settings, t) for topic in topics.ALL for t in (topic, topics.dead_letter(topic))]
    consumer = AIOKafkaConsumer(bootstrap_servers=settings.kafka_bootstrap, group_id=None, enable_auto_commit=False,
                                max_partition_fetch_bytes=8 * 1024 * 1024, fetch_max_bytes=64 * 1024 * 1024)
    await consumer.start()
    read = 0
    found: list[str] = []
    secrets: list[str] = []
    dead: list[DeadLetter] = []
    try:
        # Every topic is created with the configured partition count (shared.topics).
        partitions = [TopicPartition(t, p) for t in names for p in range(settings.topic_partitions)]
        if not partitions:
            return 0, [], [], []
        ends = await consumer.end_offsets(partitions)
        # A partition at a time: a record the client cannot read fails only its own partition's
        # fetch, and is stepped past (`_read_partition`).
        for tp in (tp for tp, end in ends.items() if end > 0):
            consumer.assign([tp])
            await consumer.seek_to_beginning(tp)
            async for r in _read_partition(consumer, tp, ends[tp]):
                read += 1
                _scan_record(r, known, found, secrets, dead)
    finally:
        await consumer.stop()
    return read, found, secrets, dead


async def _read_partition(consumer: AIOKafkaConsumer, tp: TopicPartition, end: int) -> AsyncIterator[ConsumerRecord]:
    """Every record of one partition up to `end`, stepping past any the Kafka client cannot read
    (poison whose header name is not UTF-8: the services park it)."""
    position = 0
    while position < end:
        try:
            batch = await consumer.getmany(tp, timeout_ms=1000, max_records=5000)
        except UNREADABLE:
            try:  # a record at a time, up to the one that cannot be read
                batch = await consumer.getmany(tp, timeout_ms=1000, max_records=1)
            except UNREADABLE:
                position = await consumer.position(tp) + 1
                consumer.seek(tp, position)
                continue
        for r in batch.get(tp, []):
            position = r.offset + 1
            yield r


def _scan_record(r: ConsumerRecord, known: set[bytes], found: list[str], secrets: list[str],
                 dead: list[DeadLetter]) -> None:
    """Contact details or secrets in one record, and the reason if it is a dead letter."""
    if r.topic.endswith(".dlq"):
        dead.append(DeadLetter(r.topic, r.offset, r.key, dict(r.headers or []).get("reason", b"").decode()))
    blob = (r.value or b"") + (r.key or b"")
    if b"@" in blob or b"+" in blob:
        found += [f"{r.topic}@{r.offset}: {x.decode()[:3]}…" for x in leaked(blob, known)]
    secrets += [f"{r.topic}@{r.offset}: {m.group()[:9].decode()}…" for m in SECRET.finditer(blob)]


def _scan_logs(logs: Path, known: set[bytes]) -> list[str]:
    found = []
    for path in sorted(logs.glob("*.log")):
        with path.open("rb") as f:
            for n, line in enumerate(f, 1):
                if b"@" in line or b"+" in line:
                    found += [f"{path.name}:{n}: {x.decode()[:3]}…" for x in leaked(line, known)]
    return found


async def audit(settings: Settings, s: scenarios.Scenario, sent_at: dict[str, datetime], sandbox: Path,
                logs: Path | None = None, poison: frozenset[bytes] = frozenset()) -> dict:
    """Check every invariant; return the counts of violations, a few examples of each, the
    outcomes, and the latencies measured from the providers' records. `poison`: the keys of the
    malformed messages injected on purpose, which belong on the dead-letter topics."""
    contacts = {c["passenger_id"]: c for c in s.contacts}
    sent = read_sandbox(sandbox)
    payouts = read_payouts(sandbox)
    conn = await asyncpg.connect(settings.database_url)
    try:
        findings = await _notice_findings(conn, s, sent, contacts)
        outcomes = await _outcomes(conn, s)
        findings |= await _outcome_findings(conn, s, outcomes, sent, contacts)
        findings |= await _ledger_findings(conn, s, payouts)
        findings |= await _pipeline_findings(conn, s)
        lost, grants_by_kind, deliveries = await _tallies(conn)
    finally:
        await conn.close()
    messages_read, dead = await _leaks(settings, s, findings, logs, poison)
    stranded = {p for p in s.affected if s.booking_of[p] in lost}
    return {
        **_verdict(findings),
        **_outcome_counts(s, outcomes),
        "stranded_at_connection": {"passengers": len(stranded),
                                   "outcomes": dict(Counter(outcomes[p][0] for p in stranded))},
        "notices_at_providers": dict(Counter(f"{x.stage}/{x.channel}" for x in sent)),
        "deliveries": deliveries,
        "grants": dict(grants_by_kind),
        "payouts": len(payouts),
        "topic_messages_read": messages_read,
        "poison_dead_lettered": [d for d in dead if d.key in poison],
        "first_notice_ms": first_notice_latency_ms(sent, s.affected, sent_at) if sent_at else [],
        "first_notice_received": sorted(x.received_at for x in sent if x.stage == "first_notice"),
        "outcome_at": sorted(at for _, at in outcomes.values() if at is not None),
    }


async def _leaks(settings: Settings, s: scenarios.Scenario, findings: dict[str, list], logs: Path | None,
                 poison: frozenset[bytes]) -> tuple[int, list]:
    """Contact details or secrets on any topic or in any log, and dead letters that are not the
    poison sent on purpose, added to `findings`; the messages read and every dead letter."""
    known = contact_strings(s.contacts)
    messages_read, findings["contact_details_on_topics"], findings["secrets_on_topics"], dead = \
        await _scan_topics(settings, known)
    findings["dead_lettered"] = [d for d in dead if d.key not in poison]
    findings["contact_details_in_logs"] = _scan_logs(logs, known) if logs else []
    return messages_read, dead


async def _tallies(conn: asyncpg.Connection) -> tuple[set[str], Counter[str], dict[str, dict[str, int]]]:
    """Bookings whose connection was lost, grants by kind, and deliveries by stage and status."""
    lost = {r["booking_ref"] for r in await conn.fetch(
        "SELECT DISTINCT booking_ref FROM rebooking.rebookings WHERE decided->>'kind' = 'connection_at_risk'")}
    grants_by_kind = Counter(r["kind"] for r in await conn.fetch("SELECT kind FROM compensation.grants"))
    deliveries = {f"{r['stage']}/{r['status']}": {"n": r["n"], "most_attempts": r["most"]}
                  for r in await conn.fetch("SELECT stage, status, count(*) AS n, max(attempts) AS most"
                                            " FROM notify.deliveries GROUP BY 1, 2 ORDER BY 1, 2")}
    return lost, grants_by_kind, deliveries


async def _notice_findings(conn: asyncpg.Connection, s: scenarios.Scenario, sent: list[Sent],
                           contacts: dict[str, dict]) -> dict[str, list]:
    """First notices: each reachable passenger told once, and each unreachable one recorded so."""
    fallen_back = {(r["passenger_id"], r["channel"]) for r in await conn.fetch(
        "SELECT passenger_id, channel FROM notify.deliveries WHERE status = 'fallen_back'"
        " AND stage = 'first_notice'")}
    findings = notice_findings(sent, s.affected, contacts, fallen_back)
    unreachable = [p for p in s.affected if not (contacts.get(p) and usable_channels(contacts[p]))]
    recorded = {r["passenger_id"] for r in await conn.fetch(
        """SELECT passenger_id FROM notify.deliveries WHERE stage = 'first_notice' AND status = 'undeliverable'
           AND passenger_id = ANY($1::text[])""", unreachable)}
    findings["unreachable_not_recorded"] = [p for p in unreachable if p not in recorded]
    return findings


async def _outcome_findings(conn: asyncpg.Connection, s: scenarios.Scenario,
                            outcomes: dict[str, tuple[str, datetime | None]], sent: list[Sent],
                            contacts: dict[str, dict]) -> dict[str, list]:
    """Every affected passenger with an outcome, and told it where they can be reached."""
    missing = [p for p, (o, _) in outcomes.items() if o == "none"]
    last = {r["booking_ref"]: f"{r['outcome']}: {r['reason']}" for r in await conn.fetch(
        """SELECT DISTINCT ON (booking_ref) booking_ref, coalesce(answer, outcome) AS outcome, reason
           FROM rebooking.rebookings WHERE booking_ref = ANY($1::text[])
           ORDER BY booking_ref, decided_at DESC""", sorted({s.booking_of[p] for p in missing}))}
    told_outcome = {x.passenger_id for x in sent if x.stage == "rebooking"}
    untold = [p for p, (o, _) in outcomes.items() if o in ("rebooked", "refunded", "needs_agent")
              and contacts.get(p) and usable_channels(contacts[p]) and p not in told_outcome]
    held = await _held(conn, untold[:5])
    return {
        "outcome_missing": [f"{p} ({last.get(s.booking_of[p], 'no decision')[:120]})" for p in missing],
        "outcome_notice_missing": [f"{p} ({outcomes[p][0]}; {'; '.join(held[p]) or 'no delivery'})"
                                   for p in untold],
    }


async def _held(conn: asyncpg.Connection, passengers: list[str]) -> dict[str, list[str]]:
    """What notify holds for each passenger besides the first notice: an example says why."""
    held: dict[str, list[str]] = defaultdict(list)
    for r in await conn.fetch(
            """SELECT passenger_id, stage, revision, channel, status, left(coalesce(detail, ''), 60) AS detail
               FROM notify.deliveries WHERE stage <> 'first_notice' AND passenger_id = ANY($1::text[])
               ORDER BY id""", passengers):
        held[r["passenger_id"]].append(f"{r['stage']}#{r['revision']}/{r['channel']}: {r['status']} {r['detail']}")
    return held


async def _ledger_findings(conn: asyncpg.Connection, s: scenarios.Scenario, payouts: list[dict]) -> dict[str, list]:
    """Granted once, paid at most what was granted, never more refunded than the fares."""
    refunds_granted: Counter[str] = Counter({r["booking_ref"]: r["n"] for r in await conn.fetch(
        "SELECT booking_ref, sum(amount_minor) AS n FROM compensation.grants WHERE kind = 'refund' GROUP BY 1")})
    granted = {(r["passenger_id"], r["kind"]): r["amount"] for r in await conn.fetch(
        "SELECT passenger_id, kind, sum(amount_minor) AS amount FROM compensation.grants GROUP BY 1, 2")}
    return {
        "duplicate_grants": duplicate_grants(s, [dict(r) for r in await conn.fetch(
            "SELECT booking_ref, passenger_id, regime, kind, disruption FROM compensation.grants")]),
        "refunds_exceed_fare": _refunds_beyond_fares(s, refunds_granted, payouts),
        "overpaid": _overpaid(granted, payouts),
    }


def _refunds_beyond_fares(s: scenarios.Scenario, refunds_granted: Counter[str], payouts: list[dict]) -> list[str]:
    """Bookings refunded, granted or paid, more than their passengers' fares."""
    fares = {b.booking_ref: sum(round(p.fare * 100) for p in b.passengers) for b in s.bookings}
    booking_of = {p.passenger_id: b.booking_ref for b in s.bookings for p in b.passengers}
    refunds_paid: Counter[str] = Counter()
    for p in payouts:
        if p["kind"] == "refund":
            refunds_paid[booking_of.get(p["passenger_id"], "?")] += p["amount_minor"]
    return [f"{ref}: refunds granted {refunds_granted[ref]}, paid {refunds_paid[ref]}, fares {fares.get(ref, 0)}"
            for ref in sorted(set(refunds_granted) | set(refunds_paid))
            if max(refunds_granted[ref], refunds_paid[ref]) > fares.get(ref, 0)]


def _overpaid(granted: dict[tuple[str, str], int], payouts: list[dict]) -> list[str]:
    """A passenger paid more of a kind than granted, or one payout paid twice."""
    paid: Counter[tuple[str, str]] = Counter()
    for p in payouts:
        paid[(p["passenger_id"], p["kind"])] += p["amount_minor"]
    keys = Counter(p["idempotency_key"] for p in payouts)
    return ([f"{p} {k}: paid {v}, granted {granted.get((p, k), 0)}" for (p, k), v in paid.items()
             if v > granted.get((p, k), 0)] + [f"payout {k} ×{n}" for k, n in keys.items() if n > 1])


async def _pipeline_findings(conn: asyncpg.Connection, s: scenarios.Scenario) -> dict[str, list]:
    """No cabin oversold or miscounted, every event processed, every outbox drained."""
    recorded_events = {r["flight_id"] for r in await conn.fetch(
        "SELECT DISTINCT flight_id FROM disruption.flight_events WHERE flight_id = ANY($1::text[])",
        [a.flight_id for a in s.announcements])}
    return {
        "oversold_cabins": [f"{r['flight_id']}/{r['cabin']}: {r['sold']} of {r['capacity']}" for r in await conn.fetch(
            """SELECT c.flight_id, c.cabin, c.sold, c.capacity FROM rebooking.cabins c
               LEFT JOIN (SELECT flight_id, cabin, count(*) AS held FROM rebooking.seats GROUP BY 1, 2) s
                 USING (flight_id, cabin)
               WHERE c.sold > c.capacity OR c.sold <> coalesce(s.held, 0)""")],
        "events_not_processed": [a.flight_id for a in s.announcements if a.flight_id not in recorded_events],
        "outbox_not_drained": [f"{schema}: {n}" for schema in SCHEMAS
                               if (n := await conn.fetchval(f"SELECT count(*) FROM {schema}.outbox"))],
    }


def _verdict(findings: dict[str, list]) -> dict[str, object]:
    return {"clean": not any(findings[i] for i in INVARIANTS),
            "invariants": {i: len(findings[i]) for i in INVARIANTS},
            "examples": {i: [str(x) for x in findings[i][:5]] for i in INVARIANTS if findings[i]}}


def _outcome_counts(s: scenarios.Scenario, outcomes: dict[str, tuple[str, datetime | None]]) -> dict[str, dict]:
    by_outcome = Counter(o for o, _ in outcomes.values())
    by_carrier: dict[str, Counter] = defaultdict(Counter)
    for passenger, (o, _) in outcomes.items():
        by_carrier[s.flight_by_id[s.affected[passenger]].carrier][o] += 1
    return {"outcomes": {o: by_outcome.get(o, 0) for o in OUTCOMES},
            "outcomes_by_carrier": {c: dict(v) for c, v in sorted(by_carrier.items())}}


def describe(found: dict) -> str:
    lines = [f"audit: {'clean' if found['clean'] else 'VIOLATIONS'}"]
    for name, n in found["invariants"].items():
        lines.append(f"  {name:<28} {n}" + (f"   e.g. {', '.join(found['examples'][name][:3])}" if n else ""))
    lines.append("  outcomes: " + ", ".join(f"{o} {n}" for o, n in found["outcomes"].items()))
    stranded = found["stranded_at_connection"]
    lines.append(f"  connection lost: {stranded['passengers']} passengers; "
                 + ", ".join(f"{o} {n}" for o, n in sorted(stranded["outcomes"].items())))
    lines.append(f"  notices at the providers: {sum(found['notices_at_providers'].values())}; "
                 f"grants: {found['grants']}; payouts: {found['payouts']}; "
                 f"topic messages read: {found['topic_messages_read']}")
    if found["first_notice_ms"]:
        ms = found["first_notice_ms"]
        lines.append(f"  first notice, event sent → provider: p50 {statistics.median(ms):.0f} ms, "
                     f"p99 {percentile(ms, 99):.0f} ms, max {max(ms):.0f} ms (n={len(ms)})")
    return "\n".join(lines)


async def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--date", type=date.fromisoformat, default=date(2013, 2, 8))
    parser.add_argument("--days", type=int, default=1)
    parser.add_argument("--seed", type=int, default=scenarios.SEED)
    parser.add_argument("--sample", type=int, default=None)
    parser.add_argument("--sandbox", type=Path, default=Path(".local/sandbox"))
    parser.add_argument("--logs", type=Path, default=Path(".local/logs"))
    args = parser.parse_args()
    s = scenarios.build(args.date, args.days, args.seed, args.sample)
    found = await audit(Settings(), s, {}, args.sandbox, args.logs)
    print(describe(found))
    return 0 if found["clean"] else 1


if __name__ == "__main__":
    raise SystemExit(asyncio.run(main()))
