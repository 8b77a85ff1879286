"""One stack of the four services (separate processes, real Kafka and PostgreSQL) for the
whole integration run, and helpers to watch it."""

import asyncio
import shutil
import time
import uuid
from pathlib import Path

import httpx
import pytest
from aiokafka import AIOKafkaProducer
from playwright.async_api import async_playwright

from bench.stack import Stack
from deploy import postgres_access
from services.disruption.partners import DEVELOPMENT_PARTNER_KEYS
from shared import sealed, signing, topics
from shared.events import Envelope, event_id
from shared.settings import Settings
from tests.conftest import Environment, delete_topics, fresh_database

API_KEY = "integration-test-key"  # a key for every job, as in development
# Keys for one job each.
VIEWER_KEY, RESERVATIONS_KEY = "integration-viewer-key", "integration-reservations-key"
AGENT_KEY, AGENT = "integration-agent-key", "Ana Ruiz"
MONITORING_KEY = "integration-monitoring-key"
PLANNER_KEY, PLANNER = "integration-planner-key", "Pat Lee"
# Agents limited to airlines and stations: United's desk, and JetBlue's at JFK.
UNITED_AGENT_KEY, JFK_AGENT_KEY = "integration-united-agent-key", "integration-jfk-agent-key"
# A second partner, to be throttled without throttling the first.
FLOOD_PARTNER_KEY = ("flood-1", "flood-secret")
RATE_PER_SECOND, BURST = 20, 60
# The demo partner's next key, valid beside its current one while it rotates.
ROTATED_DEMO_KEY = ("demo-next", "next-secret")
# An airport's key: JetBlue's flights at JFK and Portland only.
AIRPORT_KEY = ("jfk-1", "jfk-secret")


@pytest.fixture(scope="session")
def stack(environment, tmp_path_factory):
    partner_keys = (f"{DEVELOPMENT_PARTNER_KEYS},flood:flood-1:{signing.key_digest('flood-secret')},"
                    f"demo:{ROTATED_DEMO_KEY[0]}:{signing.key_digest(ROTATED_DEMO_KEY[1])},"
                    f"jfk:{AIRPORT_KEY[0]}:{signing.key_digest(AIRPORT_KEY[1])}:carriers=B6:airports=JFK+PWM")
    stack = Stack(env=environment.as_env() | {
        "REBOUND_API_KEYS": f"{API_KEY},ops-viewer:{VIEWER_KEY},reservations:{RESERVATIONS_KEY},"
                            f"monitoring:{MONITORING_KEY},ops-agent@{AGENT}:{AGENT_KEY},"
                            f"planner@{PLANNER}:{PLANNER_KEY},"
                            f"ops-agent@Lee Chan/carriers=UA:{UNITED_AGENT_KEY},"
                            f"ops-agent@Kim Park/carriers=B6/stations=JFK:{JFK_AGENT_KEY}",
        "REBOUND_PARTNER_KEYS": partner_keys,
        "REBOUND_PARTNER_RATE_PER_SECOND": str(RATE_PER_SECOND), "REBOUND_PARTNER_BURST": str(BURST),
        # Payouts retry fast, and a payout whose worker died is taken up again soon.
        "REBOUND_PAYOUT_BACKOFF_SECONDS": "0.2", "REBOUND_PAYOUT_LEASE_SECONDS": "3",
        # A failing SMS provider is left alone briefly, so the tests see it recover.
        "REBOUND_BREAKER_COOLDOWN_SECONDS": "2",
    }, logs=tmp_path_factory.mktemp("services"))
    try:
        yield stack.start()
    finally:
        stack.stop()


@pytest.fixture(scope="module")
async def classic(infrastructure, tmp_path_factory):
    """Notify alone, sending by Twilio and SMTP, on a database and topic prefix of its own."""
    run = uuid.uuid4().hex[:10]
    async with fresh_database(infrastructure, f"rebound_classic_{run}") as url:
        await postgres_access.prepare(url)
        environment = Environment(infrastructure.kafka_bootstrap, url, f"classic-{run}.")
        stack = Stack(env=environment.as_env() | {
            "REBOUND_API_KEYS": API_KEY, "REBOUND_SMS_PROVIDER": "twilio", "REBOUND_EMAIL_PROVIDER": "smtp",
            "REBOUND_BREAKER_COOLDOWN_SECONDS": "2"}, logs=tmp_path_factory.mktemp("classic"), services=("notify",))
        try:
            yield stack.start(), Settings(kafka_bootstrap=environment.kafka_bootstrap, database_url=url,
                                          topic_prefix=environment.topic_prefix)
        finally:
            stack.stop()
            await delete_topics(infrastructure, environment.topic_prefix)


CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
# What this machine's closed network needs (no network beyond loopback).
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@pytest.fixture
async def browser_page():
    """A page in headless Chromium (Debian's, driven by Playwright)."""
    async with async_playwright() as p:
        browser = await p.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        try:
            yield await browser.new_page()
        finally:
            await browser.close()


# Deque's axe-core (tests/a11y, `make axe`), and the rules it runs: WCAG 2.0, 2.1 and 2.2, A and AA.
AXE = Path(__file__).parents[1] / "a11y" / "node_modules" / "axe-core" / "axe.min.js"
WCAG_AA = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa", "wcag22aa"]


async def accessibility_violations(page) -> list[str]:
    """What axe-core finds against WCAG 2.2 AA on the page as it stands: each rule broken, with
    the first element breaking it. Evaluated by the browser's debugger, as a tester's console
    runs it: the pages' own Content-Security-Policy lets no injected script run."""
    assert AXE.exists(), "run `make axe` first"
    await page.evaluate(AXE.read_text(encoding="utf-8"))
    found = await page.evaluate("tags => axe.run(document, {runOnly: {type: 'tag', values: tags}})"
                                ".then(r => r.violations.map(v => `${v.id}: ${v.help} (${v.nodes.length}; "
                                "${v.nodes[0].target.join(' ')})`))", WCAG_AA)
    return list(found)


@pytest.fixture(scope="session")
def settings(environment) -> Settings:
    return Settings(kafka_bootstrap=environment.kafka_bootstrap,
                    database_url=environment.database_url, topic_prefix=environment.topic_prefix)


async def sent_messages(stack: Stack) -> tuple[list[dict], list[dict]]:
    async with httpx.AsyncClient(base_url=stack.url("sms")) as client:
        return (await client.get("/v1/sms")).json(), (await client.get("/v1/mail")).json()


DEVELOPMENT_OPENER = sealed.Opener.parse(sealed.DEVELOPMENT_PRIVATE_KEYS)


async def choice_links(db, booking_ref: str) -> list[str]:
    """The choice links notify was asked to send for a booking's rebooking, one per passenger,
    opened as notify opens them (the topics and notify's table hold them sealed)."""
    rows = await db.fetch("SELECT DISTINCT passenger_id, facts->'choice_urls'->>passenger_id AS sealed"
                          " FROM notify.deliveries WHERE booking_ref = $1 AND stage = 'rebooking'", booking_ref)
    return [DEVELOPMENT_OPENER.open(r["sealed"]) for r in sorted(rows, key=lambda r: r["passenger_id"])
            if r["sealed"]]


async def eventually(check, within_seconds: float = 30, every: float = 0.2):
    deadline = time.monotonic() + within_seconds
    while True:
        result = await check()
        if result or time.monotonic() > deadline:
            return result
        await asyncio.sleep(every)


async def publish(settings, topic: str, items: list) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap, acks="all")
    await producer.start()
    try:
        for item in items:
            subject = getattr(item, "flight_id", None) or item.booking_ref
            env = Envelope.wrap(item, source="reservations/test", subject=subject,
                                id=event_id("reservations/test", subject, item.type))
            await producer.send(topics.name(settings, topic), env.to_bytes(), key=subject.encode())
        await producer.flush()
    finally:
        await producer.stop()


async def headers_only(url: str, method: str, path: str, headers: dict[str, str]) -> tuple[int, bytes]:
    """Send a request's headers and no body, and read the answer: its status and its bytes. An HTTP
    client will not claim a body it does not send, and a server that answers before reading a body
    it was sent may reset the connection under the client's feet; headers alone are neither."""
    host, port = url.removeprefix("http://").split(":")
    reader, writer = await asyncio.open_connection(host, int(port))
    try:
        lines = [f"{method} {path} HTTP/1.1", f"Host: {host}", *(f"{k}: {v}" for k, v in headers.items())]
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode())
        await writer.drain()
        answer = await asyncio.wait_for(reader.read(65536), 10)
        return int(answer.split(b" ", 2)[1]), answer
    finally:
        writer.close()
