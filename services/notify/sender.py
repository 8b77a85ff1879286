"""The delivery loops: claim due deliveries, send them outside any transaction, record the result.

Two senders run side by side: one for first notices only, one for everything else, each with its
own connections to each provider, so a flood of later notices never holds a first notice back.
Both share each provider's rate limit (the bulk sender leaves a reserve for first notices) and
its circuit breaker: after repeated failures a provider is left alone for a while, and notices
for it go by another of the passenger's channels where there is one.

A delivery is claimed (status 'sending') in a committed transaction before the provider is called,
so two replicas never send the same one. A claim left by a crash is taken again after a lease; the
provider call then carries the same idempotency key (Twilio, push: the provider drops a copy), and
where the provider cannot deduplicate (SMTP, Infobip, SendGrid) the message is first looked up at
the provider by its key.

Messages go to each provider in requests of as many as it takes at once (hundreds for the batch
APIs), so a cancelled aircraft's first notices cost a handful of requests, not hundreds."""

import asyncio
import contextlib
import hashlib
import logging
import math
import secrets
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import asyncpg
from prometheus_client import Counter, Gauge, Histogram

from services.notify import policy, replies, store, templates
from services.notify.config import Config
from services.notify.providers import (
    PLAIN_KEY,
    Accepted,
    Deferred,
    Outcome,
    Outgoing,
    Provider,
    Refused,
    TransientFailure,
)
from services.notify.store import Claimed
from shared import db, notices, system, topics, tracing
from shared.events import NoticeDelivered
from shared.outbox import Outbox
from shared.pacing import TokenBucket, backoff

log = logging.getLogger(__name__)

NOTICES_SENT = Counter("rebound_notices_total", "Notice deliveries finished, by result.",
                       ["stage", "channel", "status"])
RETRIES = Counter("rebound_notice_retries_total", "Deliveries to try again later, by channel and why.",
                  ["channel", "why"])  # provider_error | circuit_open
NOTICE_LATENCY = Histogram(
    "rebound_notice_latency_seconds",
    "From the disruption's acceptance to the provider accepting the notice.",
    ["stage", "channel"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300, 1800),
)
FIRST_NOTICE_SECONDS = Histogram(
    "rebound_first_notice_seconds",
    "The headline: from the disruption event's acceptance to each passenger's first notice handed "
    "to the provider.", buckets=(0.1, 0.25, 0.5, 1, 2, 3, 5, 10, 20, 30, 60, 120, 300, 1800))
QUEUE_DEPTH = Gauge("rebound_notice_queue", "Deliveries waiting, by path and status.", ["path", "status"])
BREAKER = Gauge("rebound_provider_circuit_open", "1 while a provider's circuit breaker is open.", ["channel"])

CLAIM_LEASE = timedelta(minutes=2)
# How often the first-notice senders look the queue over for what no notification names.
SWEEP_EVERY_S = 1.0
MEASURE_EVERY_S = 5.0


# The longest a first-notice consumer batch waits for its notices to reach the providers before its
# offsets are committed anyway (a provider down: they are retried, and the rest must not wait).
HANDED_ON_AT_MOST_S = 30.0


class FirstNoticeQueue:
    """What the first-notice senders of one process share: the first notices each planning
    transaction added (their lowest and highest id, told at its commit by the deliveries' trigger,
    migrations/007), taken by whichever sender is free, and how many are on their way to a provider.

    The first-notice consumer commits a batch's offsets only once its notices are with the
    providers (`handed_on`): the group's lag then counts the passengers still waiting to be told,
    which everything else stands back for (shared/backlog.py), not only those not yet planned."""

    def __init__(self) -> None:
        self.added: deque[tuple[int, int]] = deque()
        self._sending = 0
        self._idle = asyncio.Event()
        self._idle.set()
        self._marks: dict[str, asyncio.Event] = {}
        self._pool: asyncpg.Pool | None = None  # while the senders listen

    def heard(self, payload: str) -> None:
        """A notification on the deliveries' channel: `first_notice <lowest> <highest>`, or a
        mark this process sent (`handed_on`); anything else only wakes the senders."""
        match payload.split():
            case ["first_notice", lowest, highest] if lowest.isdigit() and highest.isdigit():
                self.added.append((int(lowest), int(highest)))
                self._idle.clear()
            case ["caught_up", mark] if mark in self._marks:
                self._marks.pop(mark).set()

    @contextlib.asynccontextmanager
    async def listening(self, pool: asyncpg.Pool, database_url: str
                        ) -> AsyncIterator[Callable[[float], Awaitable[None]]]:
        """One listener for the process's first-notice senders; yields their `wait(at_most)`."""
        async with db.notifications(database_url, system.channel("notify", "deliveries"), self.heard) as woken:
            self._pool = pool
            try:
                yield woken
            finally:
                self._pool = None

    @contextlib.asynccontextmanager
    async def sending(self) -> AsyncIterator[tuple[int, int] | None]:
        """The next first notices added (taken off the queue), while they are being sent."""
        self._sending += 1
        try:
            yield self.added.popleft() if self.added else None
        finally:
            self._sending -= 1
            if not self._sending and not self.added:
                self._idle.set()

    async def handed_on(self) -> None:
        """Return once every first notice this process has heard of so far is with a provider (or
        waiting for a retry), at most `HANDED_ON_AT_MOST_S`: called after a planning transaction
        commits, it first makes sure that commit's notification has been heard, by sending a mark
        of its own and waiting for it (PostgreSQL delivers notifications in commit order)."""
        if self._pool is None:
            return  # no sender here
        mark, heard = secrets.token_hex(8), asyncio.Event()
        self._marks[mark] = heard
        try:
            async with asyncio.timeout(HANDED_ON_AT_MOST_S):
                await self._pool.execute("SELECT pg_notify($1, $2)", system.channel("notify", "deliveries"),
                                         f"caught_up {mark}")
                await heard.wait()
                await self._idle.wait()
        except TimeoutError:
            log.warning("first notices still on their way; the consumer goes on",
                        extra={"waited_s": HANDED_ON_AT_MOST_S})
        finally:
            self._marks.pop(mark, None)
# Stopping mid-batch, how long the provider calls under way are given to end and be recorded:
# a provider call's own limit (providers.TIMEOUT), and the record's moment.
STOPPING_GRACE_S = 12.0


async def provider_outcomes(provider: Provider, messages: list[Outgoing]) -> list[Outcome]:
    """What the provider said of each message. A provider that raises instead of answering (a
    value its HTTP client will not put in a request, a defect) costs that message alone: the
    messages go again one by one, after asking the provider which it has taken already (the
    request may have left), and the one that raises alone is refused, named by its error's kind
    only (its text may quote an address)."""
    if not messages:
        return []
    try:
        return list(await provider.send(messages))
    except Exception as exc:
        if len(messages) == 1:
            log.exception("a provider could not take a message; refused")
            return [Refused(f"could not be sent: {type(exc).__name__}")]
    try:
        taken = await provider.accepted([m.key for m in messages])
    except Exception as exc:  # where the request went cannot be told: try them again later
        return [Deferred(f"could not be sent, nor looked up: {type(exc).__name__}")] * len(messages)
    return [Accepted(taken[m.key]) if m.key in taken else (await provider_outcomes(provider, [m]))[0]
            for m in messages]


def provider_key(disruption_id: str, booking_ref: str, passenger_id: str, stage: str, revision: int,
                 channel: str, *, as_previous_release: bool = False) -> str:
    """The idempotency key a provider is given for one notice to one passenger by one channel:
    the same each time it is sent, different for two bookings' passengers of the same id, and
    safe in a header, a URL and a provider's query. Readable
    (`<disruption>:<booking>:<passenger>:<stage>:<revision>:<channel>`, which the providers' logs
    and the audit read) where every part is plain, as Rebound's own ids are; otherwise a SHA-256
    digest of the parts (a partner's event id may hold anything the CloudEvents spec allows).

    `as_previous_release`: the key the previous release gives, `<disruption>.<passenger>.<stage>.
    <revision>.<channel>`, while its replicas may still send (notify's post-deploy migration not
    run): a delivery one release began and the other finishes then has one key at the provider,
    which drops the copy. Until then a passenger id is unique across a disruption's bookings
    (migrations/005), so leaving the booking out names no two notices alike."""
    previous = f"{disruption_id}.{passenger_id}.{stage}.{revision}.{channel}"
    if as_previous_release and PLAIN_KEY.fullmatch(previous):
        return previous
    readable = f"{disruption_id}:{booking_ref}:{passenger_id}:{stage}:{revision}:{channel}"
    if PLAIN_KEY.fullmatch(readable):
        return readable
    parts = "\x1f".join((disruption_id, booking_ref, passenger_id, stage, str(revision), channel))
    return "sha256-" + hashlib.sha256(parts.encode()).hexdigest()


UNSPENT = ("held", "handed_back")


@dataclass(frozen=True)
class Result:
    delivery_id: int
    # sent | retrying | failed | fallen_back, or retrying without spending an attempt: held (the
    # circuit open, no other channel) or handed_back (never offered to the provider: stopping)
    status: str
    provider_id: str | None = None
    detail: str | None = None
    fallback: str | None = None
    retry_in: float = 0.0


class Throttle:
    """What guards one provider, shared by both senders: its rate (a token bucket) and its circuit
    breaker."""

    def __init__(self, channel: str, rate_per_second: float, burst: int, breaker: policy.CircuitBreaker) -> None:
        self.channel, self.breaker = channel, breaker
        self._bucket = TokenBucket(rate_per_second, burst, time.monotonic)
        self._lock = asyncio.Lock()

    async def take(self, count: int, reserve: float = 0.0) -> None:
        """Wait for `count` send slots within the provider's rate; leave `reserve` slots for others."""
        async with self._lock:
            while count:
                piece = min(count, max(1, int(self._bucket.burst - reserve)))
                while wait := self._bucket.take(reserve, piece):  # noqa: ASYNC110 (waiting out a rate, not an event)
                    await asyncio.sleep(wait)
                count -= piece


class Sender:
    def __init__(self, config: Config, pool: asyncpg.Pool, providers: dict[str, Provider],
                 throttles: dict[str, Throttle], *, first_notices: bool, concurrency: int,
                 first_notices_idle: asyncio.Event, batch_size: int = 200, reserve: float = 0.0) -> None:
        """`first_notices_idle` is clear while the first-notice sender has work: the bulk sender
        stands back meanwhile (for at most a second at a time), so first notices get the CPU and
        the providers' capacity. A first-notice sender takes what planning added from the
        process's `FirstNoticeQueue` (`config.first_notices`)."""
        self._settings = config.settings
        self._opener = config.opener
        self._pool = pool
        self._providers = providers
        self._throttles = throttles
        self._first = first_notices
        self._path = "first_notice" if first_notices else "bulk"
        self._limits = {c: asyncio.Semaphore(concurrency) for c in providers}
        self._batch_size = batch_size
        self._reserve = reserve
        self._first_idle = first_notices_idle
        self._queue = config.first_notices
        self._stopping = asyncio.Event()  # set once the sender is told to stop

    async def run(self, woken: Callable[[float], Awaitable[None]] | None = None) -> None:
        """Send until cancelled. A first-notice sender is woken by its process's listener
        (`FirstNoticeQueue.listening`); the bulk sender listens for itself."""
        if woken is None:
            async with db.notifications(self._settings.database_url, system.channel("notify", "deliveries")) as own:
                await self._run(own)
        else:
            await self._run(woken)

    async def _run(self, woken: Callable[[float], Awaitable[None]]) -> None:
        swept = measured = -math.inf
        while True:
            if self._first:
                sent, swept = await self._first_pass(swept)
            else:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(1.0):  # not wait_for: see shared/db.notifications
                        await self._first_idle.wait()
                sent = await self._send_claimed(await self._claim())
            if not sent and not (self._first and self._queue.added):
                next_sweep = swept + SWEEP_EVERY_S - time.monotonic() if self._first else 0.5
                await woken(max(0.0, min(0.5, next_sweep)))
            if not self._first and time.monotonic() - measured >= MEASURE_EVERY_S:
                measured = time.monotonic()  # one sender measures both paths' queues
                await self._measure()

    async def _first_pass(self, swept: float) -> tuple[bool, float]:
        """One pass of a first-notice sender: the first notices planning added, else, once a
        second, the queue looked over for what no notification names (retries fallen due, claims
        left by a crash, a wake-up missed while the listener reconnected). Whether it sent, and
        when it last looked the queue over."""
        sent = False
        if self._queue.added:
            async with self._queue.sending() as added:
                if added:
                    sent = await self._send_claimed(await self._claim_added(added))
        elif time.monotonic() - swept >= SWEEP_EVERY_S:
            swept = time.monotonic()
            sent = await self._send_claimed(await self._claim())
        if not sent and not self._queue.added:
            self._first_idle.set()
        return sent, swept

    async def _send_claimed(self, claimed: list[Claimed]) -> bool:
        if not claimed:
            return False
        if self._first:
            self._first_idle.clear()  # the bulk sender stands back meanwhile
        await self._deliver_or_hand_back(claimed)
        return True

    async def _claim(self) -> list[Claimed]:
        return await store.claim(self._pool, self._batch_size, CLAIM_LEASE, self._first)

    async def _claim_added(self, added: tuple[int, int]) -> list[Claimed]:
        """A claim's worth of first notices a planning transaction added; what is left of their
        ids goes back to the front of the queue for the next free sender."""
        lowest, highest = added
        claimed = await store.claim_first_notices(self._pool, self._batch_size, lowest, highest)
        if len(claimed) == self._batch_size:
            self._queue.added.appendleft((max(d.id for d in claimed) + 1, highest))
        return claimed

    async def _deliver_or_hand_back(self, claimed: list[Claimed]) -> None:
        """Deliver a claimed batch. Stopped meanwhile (a rollout's SIGTERM), the provider calls under
        way end and are recorded, and the messages not yet offered are handed back at once, rather
        than left to the claim's lease while their passengers wait."""
        delivery = asyncio.ensure_future(self._deliver(claimed))
        try:
            await asyncio.shield(delivery)
        except asyncio.CancelledError:
            self._stopping.set()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(delivery, STOPPING_GRACE_S)
            raise

    async def _deliver(self, claimed: list[Claimed]) -> None:
        """Render each claimed delivery, send them per provider in requests of as many as the
        provider takes at once, and record every result in one transaction."""
        results: list[Result] = []
        ready: dict[str, list[tuple[Claimed, Outgoing]]] = {}
        # Sealed secrets (a choice link, a voucher code) are opened here, for the message alone.
        renderer = templates.Renderer(lambda kind, facts: replies.read_facts(kind, facts) if kind in replies.KINDS
                                      else notices.read(kind, self._opener.open_all(facts)))
        for d in claimed:
            prepared = self._prepare(d, renderer)
            if isinstance(prepared, Result):
                results.append(prepared)
            else:
                ready.setdefault(d.channel, []).append((d, prepared))
        most = {channel: self._providers[channel].most for channel in ready}
        for sent in await asyncio.gather(*(self._send(channel, batch[i:i + most[channel]])
                                           for channel, batch in ready.items()
                                           for i in range(0, len(batch), most[channel]))):
            results += sent
        by_id = {d.id: d for d in claimed}

        async def record(conn: asyncpg.Connection) -> None:
            outbox = Outbox(self._settings, source="rebound/notify")
            # One statement for the batch: a held delivery (its provider's circuit open) waits
            # without spending an attempt.
            await store.record(conn, [store.Recorded(
                r.delivery_id, "retrying" if r.status in UNSPENT else r.status, r.provider_id, r.detail, r.retry_in,
                unspent=r.status in UNSPENT) for r in results])
            await store.fall_back(conn, [(r.delivery_id, r.fallback) for r in results
                                         if r.status == "fallen_back" and r.fallback])
            for r in results:
                d = by_id[r.delivery_id]
                # A reply in a conversation is no notice of a disruption: the ops board's topic
                # (and the last release's readers of it) know nothing of it.
                if r.status in ("sent", "failed", "fallen_back") and d.stage != replies.STAGE:
                    outbox.publish(topics.NOTICE_DELIVERIES, NoticeDelivered(
                        disruption_id=d.disruption_id, booking_ref=d.booking_ref,
                        passenger_id=d.passenger_id, stage=d.stage, channel=d.channel,
                        status=r.status, provider_id=r.provider_id, detail=r.detail,
                    ), key=d.booking_ref, traceparent=d.traceparent)
            await outbox.flush(conn)

        # The messages went out: were their record lost with PostgreSQL restarting, the claims'
        # lease would send them all again (an email has no idempotency key at the provider).
        await db.until_committed(self._pool, record)
        now = datetime.now(UTC)
        for r in results:
            d = by_id[r.delivery_id]
            NOTICES_SENT.labels(d.stage, d.channel, r.status).inc()
            if r.status == "sent":
                age = (now - d.occurred_at).total_seconds()
                NOTICE_LATENCY.labels(d.stage, d.channel).observe(age)
                if d.stage == "first_notice":
                    FIRST_NOTICE_SECONDS.observe(age)

    def _prepare(self, d: Claimed, renderer: templates.Renderer) -> Outgoing | Result:
        """The message for a delivery; or, if its notice cannot be rendered or its passenger has no
        address for its channel any more (changed since it was planned), its failure."""
        channel = d.channel
        to = {"sms": d.phone, "email": d.email, "push": d.passenger_id}[channel]
        if to is None:
            return self._failed(d, channel, f"no {channel} address on file any more", permanent=True)
        if channel in d.opted_out and not replies.may_text_after_stop(d.template, d.facts):
            # Refused since it was planned: the number replied STOP, or the address bounced.
            return self._failed(d, channel, f"the passenger's {channel} refused since (opt-out or bounce)",
                                permanent=True)
        try:
            # An app push says what a text says.
            notice = renderer.render(d.template, d.facts, "email" if channel == "email" else "sms",
                                     d.locale, d.given_name, d.passenger_id)
        except Exception as exc:  # a template defect must not stall every other notice
            log.exception("notice could not be rendered", extra={"delivery_id": d.id,
                                                                 "trace_id": tracing.trace_id(d.traceparent)})
            return Result(d.id, "failed", detail=f"could not render: {type(exc).__name__}")
        key = provider_key(d.disruption_id, d.booking_ref, d.passenger_id, d.stage, d.revision, channel,
                           as_previous_release=db.beside_previous_release)
        return Outgoing(key=key, to=to, subject=notice.subject or "Your trip", body=notice.body)

    async def _send(self, channel: str, batch: list[tuple[Claimed, Outgoing]]) -> list[Result]:
        """One request's worth of messages to one provider, within its rate and circuit breaker."""
        throttle = self._throttles[channel]
        if not throttle.breaker.allows():
            RETRIES.labels(channel, "circuit_open").inc(len(batch))
            return [self._circuit_open(d, throttle) for d, _ in batch]
        provider = self._providers[channel]
        await throttle.take(len(batch), self._reserve)
        async with self._limits[channel]:
            if self._stopping.is_set():
                return [Result(d.id, "handed_back", detail="the sender stopped before offering it")
                        for d, _ in batch]
            results, outgoing, looked_up = await self._not_yet_taken(channel, batch)
            outcomes = await provider_outcomes(provider, [m for _, m in outgoing])
        # A provider that answered anything is up; one that deferred everything, or whose lookup
        # failed with nothing else asked of it, is failing. Every call here asks it something,
        # so a half-open breaker's probe always ends one way or the other.
        failing = all(isinstance(o, Deferred) for o in outcomes) if outcomes else not looked_up
        (throttle.breaker.failed if failing else throttle.breaker.succeeded)()
        BREAKER.labels(channel).set(1 if throttle.breaker.state != "closed" else 0)
        return results + [self._result(d, channel, o) for (d, _), o in zip(outgoing, outcomes, strict=True)]

    async def _not_yet_taken(self, channel: str, batch: list[tuple[Claimed, Outgoing]]
                             ) -> tuple[list[Result], list[tuple[Claimed, Outgoing]], bool]:
        """Messages sent before with an uncertain end (a crash before our record, a timeout) may be
        at the provider already: those it has are recorded sent; the rest are still to send. And
        whether the provider answered the lookup (True when there was none to make)."""
        uncertain = [m.key for d, m in batch if d.uncertain]
        try:
            taken = await self._providers[channel].accepted(uncertain) if uncertain else {}
        except TransientFailure as exc:
            return ([self._deferred(d, channel, str(exc)) for d, _ in batch if d.uncertain],
                    [(d, m) for d, m in batch if not d.uncertain], False)
        return ([Result(d.id, "sent", provider_id=taken[m.key]) for d, m in batch if m.key in taken],
                [(d, m) for d, m in batch if m.key not in taken], True)

    def _result(self, d: Claimed, channel: str, outcome: Outcome) -> Result:
        match outcome:
            case Accepted(provider_id):
                return Result(d.id, "sent", provider_id=provider_id)
            case Refused(detail):
                return self._failed(d, channel, detail, permanent=True)
            case Deferred(detail):
                return self._deferred(d, channel, detail)
        raise AssertionError(outcome)

    def _circuit_open(self, d: Claimed, throttle: Throttle) -> Result:
        """A notice for a provider left alone for now goes by the passenger's other channel, or waits."""
        channel = d.channel
        other = policy.fallback_for(channel, d.channels, d.opted_out, d.email, d.phone, d.siblings)
        if other:
            return Result(d.id, "fallen_back", detail=f"{channel} provider failing: sent by {other}", fallback=other)
        return Result(d.id, "held", detail=f"{channel} provider failing; waiting for it",
                      retry_in=throttle.breaker.reopens_in() + backoff(0))

    def _deferred(self, d: Claimed, channel: str, detail: str) -> Result:
        RETRIES.labels(channel, "provider_error").inc()
        return self._failed(d, channel, detail, permanent=False)

    def _failed(self, d: Claimed, channel: str, detail: str, *, permanent: bool) -> Result:
        """A message the provider did not take: tried again, sent by another channel, or failed."""
        other = policy.fallback_for(channel, d.channels, d.opted_out, d.email, d.phone, d.siblings)
        waited = (datetime.now(UTC) - d.created_at).total_seconds()
        status = policy.after_failure(d.attempts, self._settings.max_attempts, waited,
                                      self._settings.retry_for_hours * 3600, other, permanent=permanent)
        log.warning("notice delivery failed", extra={"delivery_id": d.id, "channel": channel,
                                                     "trace_id": tracing.trace_id(d.traceparent),
                                                     "error": detail, "status": status})
        if status == "fallen_back":
            return Result(d.id, status, detail=f"{detail}; sent by {other} instead", fallback=other)
        if status == "failed" and not permanent:
            detail = f"gave up after {d.attempts} attempts in {waited / 3600:.1f} h: {detail}"
        return Result(d.id, status, detail=detail, retry_in=backoff(d.attempts))

    async def _measure(self) -> None:
        for first, path in ((True, "first_notice"), (False, "bulk")):
            counts = await store.waiting(self._pool, first)
            for status in ("pending", "retrying", "sending"):
                QUEUE_DEPTH.labels(path, status).set(counts.get(status, 0))
