"""Notify over real Kafka and PostgreSQL and the sandbox providers, which speak Infobip's and
SendGrid's batch APIs and, for airlines that use them, Twilio's and SMTP: a failing SMS provider
falls back to email and recovers, a newer notice replaces an unsent one, a redelivered request sends
nothing, an undelivered text goes by email, push is signed, and Spanish speakers read Spanish.
Where the providers differ (delivery reports, refusals, lookups after a crash), a test runs against
both kinds: the main stack's batch APIs, and a notify of its own sending by Twilio and SMTP."""

import asyncio
from datetime import UTC, datetime, timedelta

import asyncpg
import httpx
import pytest
from aiokafka import AIOKafkaProducer

from shared import notices, topics
from shared.events import Envelope, NoticeRequested, event_id
from tests.integration.conftest import API_KEY, eventually, sent_messages

SMS_AUTH = ("ACsandbox", "sandbox-token")
DEPARTS = datetime(2026, 12, 3, 22, 40, tzinfo=UTC)


@pytest.fixture(params=["batch", "classic"])
def providers(request, stack, settings):
    """(stack, settings): the batch APIs' (Infobip, SendGrid), or Twilio's and SMTP's."""
    return (stack, settings) if request.param == "batch" else request.getfixturevalue("classic")


def delayed(delay_minutes: int) -> notices.FirstNoticeDelayed:
    return notices.FirstNoticeDelayed(
        flight="B6 1001", origin="JFK", destination="BOS", departure=DEPARTS, arrival=DEPARTS + timedelta(hours=1),
        cause="technical", delay_minutes=delay_minutes,
        estimated_departure=DEPARTS + timedelta(minutes=delay_minutes))


def notice(disruption: str, ref: str, passengers: list[str], delay: int, at: datetime) -> NoticeRequested:
    return notices.request(delayed(delay), disruption_id=disruption, booking_ref=ref, passenger_ids=passengers,
                           stage="first_notice", occurred_at=at, about="B61001/2026-12-03/JFK")


async def publish(settings, items: list[tuple[NoticeRequested, str]]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=settings.kafka_bootstrap, acks="all")
    await producer.start()
    try:
        for n, id in items:
            envelope = Envelope.wrap(n, source="rebound/test", subject=n.booking_ref, id=id)
            await producer.send_and_wait(topics.name(settings, topics.FIRST_NOTICES), envelope.to_bytes(),
                                         key=n.booking_ref.encode())
    finally:
        await producer.stop()


async def put_contacts(stack, contacts: list[dict]) -> None:
    async with httpx.AsyncClient(base_url=stack.url("notify"), headers={"Authorization": f"Bearer {API_KEY}"}) as c:
        (await c.put("/v1/contacts", json=contacts)).raise_for_status()


async def sms_control(stack, **settings) -> None:
    async with httpx.AsyncClient(base_url=stack.url("sms"), auth=SMS_AUTH) as client:
        (await client.post("/v1/control", json=settings)).raise_for_status()


async def deliveries(settings, disruption: str) -> list[dict]:
    conn = await asyncpg.connect(settings.database_url)
    try:
        return [dict(r) for r in await conn.fetch(
            "SELECT * FROM notify.deliveries WHERE disruption_id = $1 ORDER BY id", disruption)]
    finally:
        await conn.close()


def contact(pid: str, ref: str, channels: list[str], *, email: bool = True, phone: bool = True, **extra) -> dict:
    n = abs(hash(pid)) % 10_000_000
    return {"passenger_id": pid, "booking_ref": ref, "given_name": "Sam", "channels": channels,
            **({"email": f"{pid.lower()}@example.org"} if email else {}),
            **({"phone": f"+1646{n:07d}"} if phone else {}), **extra}


async def test_a_failing_sms_provider_falls_back_to_email_and_recovers(stack, settings):
    ref, disruption = "NTF001", "notify-fallback"
    people = [contact(f"{ref}-{i}", ref, ["sms"]) for i in range(6)]
    people.append(contact(f"{ref}-6", ref, ["sms"], email=False))  # nowhere else to go: waits for SMS
    people.append(contact(f"{ref}-7", ref, ["sms", "email"]))  # email goes anyway; SMS waits
    await put_contacts(stack, people)
    await sms_control(stack, down=True)
    try:
        await publish(settings, [(notice(disruption, ref, [p["passenger_id"] for p in people], 45,
                                         datetime.now(UTC)), event_id("test", disruption))])

        async def fell_back():
            rows = await deliveries(settings, disruption)
            fallen = [r for r in rows if r["status"] == "fallen_back"]
            emails = [r for r in rows if r["fallback_of"] and r["status"] == "sent"]
            return rows if len(fallen) == 6 and len(emails) == 6 else None
        rows = await eventually(fell_back, within_seconds=45)
        assert rows, await deliveries(settings, disruption)
    finally:
        await sms_control(stack, down=False)

    async def recovered():
        rows = await deliveries(settings, disruption)
        sms = {r["passenger_id"]: r["status"] for r in rows if r["channel"] == "sms"}
        return rows if sms[f"{ref}-6"] == "sent" and sms[f"{ref}-7"] == "sent" else None
    rows = await eventually(recovered, within_seconds=30)
    assert rows, await deliveries(settings, disruption)
    sms, mail = await sent_messages(stack)
    by_phone = {p.get("phone"): p["passenger_id"] for p in people}
    texted = [by_phone[m["to"]] for m in sms if m["to"] in by_phone]
    assert sorted(texted) == [f"{ref}-6", f"{ref}-7"]  # each once, after the provider came back
    by_email = {p.get("email"): p["passenger_id"] for p in people}
    mailed = sorted(by_email[m["rcpt_tos"][0]] for m in mail if m["rcpt_tos"][0] in by_email)
    assert mailed == sorted([f"{ref}-{i}" for i in range(6)] + [f"{ref}-7"])  # once each


async def test_a_newer_notice_replaces_one_not_yet_sent(stack, settings):
    ref = "NTF002"
    person = contact(f"{ref}-1", ref, ["sms"], email=False)
    await put_contacts(stack, [person])
    first = notice("notify-40min", ref, [person["passenger_id"]], 40, datetime.now(UTC))
    await sms_control(stack, down=True)
    try:
        await publish(settings, [(first, event_id("test", "notify-40min"))])

        async def tried():
            rows = await deliveries(settings, "notify-40min")
            return rows and rows[0]["status"] == "retrying"
        assert await eventually(tried)
        later = notice("notify-90min", ref, [person["passenger_id"]], 90, datetime.now(UTC))
        await publish(settings, [(later, event_id("test", "notify-90min"))])

        async def superseded():
            rows = await deliveries(settings, "notify-40min")
            return rows[0]["status"] == "superseded"
        assert await eventually(superseded)
    finally:
        await sms_control(stack, down=False)

    async def sent():
        rows = await deliveries(settings, "notify-90min")
        return rows and rows[0]["status"] == "sent"
    assert await eventually(sent, within_seconds=30)
    sms, _ = await sent_messages(stack)
    texts = [m["body"] for m in sms if m["to"] == person["phone"]]
    assert len(texts) == 1 and "7:10 pm" in texts[0]  # the 90-minute delay (5:40 pm in New York), not 40


async def test_a_redelivered_request_sends_nothing_new(stack, settings):
    ref, disruption = "NTF003", "notify-redelivered"
    people = [contact(f"{ref}-{i}", ref, ["sms", "email"]) for i in range(3)]
    await put_contacts(stack, people)
    n = notice(disruption, ref, [p["passenger_id"] for p in people], 45, datetime.now(UTC))
    await publish(settings, [(n, event_id("test", disruption))] * 3 + [(n, event_id("test", disruption, "again"))])

    async def settled():
        rows = await deliveries(settings, disruption)
        return rows if len(rows) == 6 and all(r["status"] == "sent" for r in rows) else None
    assert await eventually(settled)
    await asyncio.sleep(2)
    assert len(await deliveries(settings, disruption)) == 6
    sms, mail = await sent_messages(stack)
    phones = {p["phone"] for p in people}
    emails = {p["email"] for p in people}
    assert len([m for m in sms if m["to"] in phones]) == 3
    assert len([m for m in mail if m["rcpt_tos"][0] in emails]) == 3


async def test_an_undelivered_text_goes_by_email_push_is_signed_and_spanish_is_spanish(providers):
    stack, settings = providers
    ref, disruption = "NTF004", "notify-channels"
    lost = contact(f"{ref}-1", ref, ["sms"])
    app_user = contact(f"{ref}-2", ref, ["push"], email=False, phone=False)
    spanish = contact(f"{ref}-3", ref, ["email"], locale="es", opted_out=["sms"])
    await put_contacts(stack, [lost, app_user, spanish])
    await sms_control(stack, undeliverable=[lost["phone"]])
    try:
        await publish(settings, [(notice(disruption, ref, [lost["passenger_id"], app_user["passenger_id"],
                                                           spanish["passenger_id"]], 45, datetime.now(UTC)),
                                  event_id("test", disruption))])

        async def settled():
            rows = await deliveries(settings, disruption)
            done = {(r["passenger_id"], r["channel"]): r for r in rows}
            return done if len(rows) == 4 and done.get((lost["passenger_id"], "email"), {}).get("status") == "sent" \
                and all(r["status"] in ("sent", "failed") for r in rows) else None
        # Three hops (the text, the provider's report of it, the email after it): on a loaded
        # machine, longer than one hop's usual wait.
        done = await eventually(settled, within_seconds=90)
        assert done, await deliveries(settings, disruption)
    finally:
        await sms_control(stack)
    text = done[(lost["passenger_id"], "sms")]
    # The provider's own word for it: Twilio's state, Infobip's status name.
    assert text["status"] == "failed" and text["provider_status"] in ("undelivered", "UNDELIVERABLE_NOT_DELIVERED")
    assert done[(lost["passenger_id"], "email")]["fallback_of"] == text["id"]
    async with httpx.AsyncClient(base_url=stack.url("sms")) as client:
        pushed = [p for p in (await client.get("/v1/push")).json() if p["passenger_id"] == app_user["passenger_id"]]
    assert len(pushed) == 1 and "delayed" in pushed[0]["body"]  # the sandbox checked its signature
    _, mail = await sent_messages(stack)
    letter = next(m for m in mail if m["rcpt_tos"][0] == spanish["email"])
    assert "va con retraso" in letter["subject"] and "Sentimos la espera" in letter["body"]
    assert "a las 18:25" in letter["body"]  # 45 minutes late, on New York's 24-hour clock


async def test_an_email_interrupted_by_a_crash_is_looked_up_not_sent_twice(providers):
    """As if notify died between the provider's acceptance (SendGrid's API, or an SMTP server) and
    the record of it: the claims are left 'sending' past their lease. The one the provider accepted
    is recorded sent without a second copy; one it never got (a revision it has not seen) is sent,
    once."""
    stack, settings = providers
    ref, disruption = "NTF005", "notify-crash"
    people = [contact(f"{ref}-{i}", ref, ["email"], phone=False) for i in range(2)]
    await put_contacts(stack, people)
    await publish(settings, [(notice(disruption, ref, [p["passenger_id"] for p in people], 45, datetime.now(UTC)),
                              event_id("test", disruption))])

    async def sent():
        rows = await deliveries(settings, disruption)
        return rows if len(rows) == 2 and all(r["status"] == "sent" for r in rows) else None
    rows = await eventually(sent)
    assert rows
    by_passenger = {r["passenger_id"]: r for r in rows}
    accepted, lost = (by_passenger[p["passenger_id"]] for p in people)
    conn = await asyncpg.connect(settings.database_url)
    try:
        await conn.execute("UPDATE notify.deliveries SET status = 'sending', claimed_at = now() - interval '1 hour',"
                           " sent_at = NULL, revision = revision + CASE WHEN id = $2 THEN 1 ELSE 0 END"
                           " WHERE id = ANY($1::bigint[])", [accepted["id"], lost["id"]], lost["id"])
    finally:
        await conn.close()
    assert await eventually(sent)
    _, mail = await sent_messages(stack)
    assert len([m for m in mail if m["rcpt_tos"][0] == people[0]["email"]]) == 1  # looked up, not sent again
    assert len([m for m in mail if m["rcpt_tos"][0] == people[1]["email"]]) == 2  # the new revision, once


async def test_a_refusal_quoting_the_number_keeps_only_its_code_and_erasure_leaves_nothing(providers):
    """The SMS provider refuses a number, as Twilio does (21211, its message quoting the number) or
    Infobip does (a REJECTED status for that message): the delivery records the code, never the
    text. Erasure then clears the contact and every delivery's detail; the records stay, by id and
    status."""
    stack, settings = providers
    ref, disruption = "NTF009", "notify-erasure"
    person = contact(f"{ref}-0", ref, ["sms"], email=False)
    await put_contacts(stack, [person])
    await sms_control(stack, invalid=[person["phone"]])
    try:
        await publish(settings, [(notice(disruption, ref, [person["passenger_id"]], 45, datetime.now(UTC)),
                                  event_id("test", disruption))])

        async def failed():
            rows = await deliveries(settings, disruption)
            return rows if rows and rows[0]["status"] == "failed" else None
        (row,) = await eventually(failed)
        assert row["detail"] in ("HTTP 400 code 21211", "refused: MISSING_TO")
    finally:
        await sms_control(stack)
    conn = await asyncpg.connect(settings.database_url)
    try:
        text = await conn.fetchval("SELECT string_agg(d::text, ' ') FROM notify.deliveries d")
        assert person["phone"] not in text and person["phone"][1:] not in text
        async with httpx.AsyncClient(base_url=stack.url("notify"), headers={"Authorization": f"Bearer {API_KEY}"}) as c:
            assert (await c.delete(f"/v1/contacts/{person['booking_ref']}/{person['passenger_id']}")).status_code == 204
        assert await conn.fetchval("SELECT count(*) FROM notify.contacts WHERE passenger_id = $1",
                                   person["passenger_id"]) == 0
        (row,) = await deliveries(settings, disruption)
        assert (row["status"], row["detail"], row["provider_id"]) == ("failed", None, None)
    finally:
        await conn.close()
