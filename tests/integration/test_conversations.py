"""Passengers answer back, on the real stack: texts come in through the sandbox's Infobip and
Twilio inbound webhooks (signed as the providers sign them), emails through SendGrid's Inbound
Parse, bounces through SendGrid's signed event webhook. A passenger asks for other flights and
replies `2` and is moved; replies STOP (in French) and gets no more texts; writes a sentence and
an agent answers from the console; a bounce moves a passenger to texts."""

import uuid
from datetime import UTC, date, datetime, timedelta
from email.message import EmailMessage

import aiosmtplib
import asyncpg
import httpx
import pytest
from playwright.async_api import expect

from services.notify import inbound
from shared import topics
from tests.integration.conftest import AGENT_KEY, API_KEY, RESERVATIONS_KEY, eventually, publish, sent_messages
from tests.integration.test_notify import notice
from tests.integration.test_notify import publish as publish_notices
from tests.integration.test_rebooking import booking, cancel_all, inventory_has, scheduled

pytestmark = pytest.mark.integration


async def put_contacts(stack, contacts: list[dict], key: str = RESERVATIONS_KEY) -> None:
    async with httpx.AsyncClient(base_url=stack.url("notify")) as client:
        r = await client.put("/v1/contacts", json=contacts, headers={"Authorization": f"Bearer {key}"})
        assert r.status_code == 200, r.text


async def reply(stack, sender: str, text: str, via: str = "infobip") -> None:
    async with httpx.AsyncClient(base_url=stack.url("sms")) as client:
        r = await client.post("/v1/phone/reply", json={"from": sender, "text": text, "via": via})
        assert r.json()["status"] in (200, 204), r.text


async def texts_to(stack, number: str) -> list[str]:
    sms, _ = await sent_messages(stack)
    return [m["body"] for m in sms if m.get("to") == number]


async def test_a_passenger_asks_for_other_flights_and_replies_2_and_is_moved(stack, settings):
    day, phone = date(2013, 3, 22), "+12125550171"
    cancelled = scheduled("B6", "1401", day, "LGA", "CLT", 12, 100)
    soon = scheduled("B6", "1403", day, "LGA", "CLT", 14, 10)
    later = scheduled("B6", "1405", day, "LGA", "CLT", 17, 10)
    latest = scheduled("B6", "1407", day, "LGA", "CLT", 19, 10)
    await publish(settings, topics.SCHEDULE, [cancelled, soon, later, latest])
    await put_contacts(stack, [{"passenger_id": "TW0001-0", "booking_ref": "TW0001", "given_name": "Ana",
                                "phone": phone, "channels": ["sms"]}])
    await publish(settings, topics.BOOKINGS, [booking("TW0001", cancelled, 1)])
    db = await asyncpg.connect(settings.database_url)
    try:
        async def loaded():
            return await db.fetchval("SELECT count(*) FROM disruption.manifest WHERE booking_ref = 'TW0001'") == 1 \
                and await inventory_has(db, [cancelled, soon, later, latest])
        assert await eventually(loaded)
        await cancel_all(stack, [cancelled], day)

        async def offered():
            return [t for t in await texts_to(stack, phone) if "Reply KEEP, CHANGE or REFUND" in t]
        assert await eventually(offered, 60), "the new-flight text did not invite a reply"

        await reply(stack, phone, "change")
        menu = await eventually(lambda: _menu(stack, phone))
        assert menu and "1) B6 1405" in menu[0] and "2) B6 1407" in menu[0], menu

        await reply(stack, phone, "2")
        moved = await eventually(lambda: db.fetchrow(
            "SELECT answer, to_flights FROM rebooking.rebookings WHERE booking_ref = 'TW0001' AND answer = 'changed'"))
        assert moved and moved["to_flights"] == [latest.flight_id]
        assert await eventually(lambda: _any(stack, phone, "done: you're now booked on B6 1407"))

        await reply(stack, phone, "2")  # the same answer again acts once: rebooking says it is done already
        audit = await db.fetchval("SELECT count(*) FROM rebooking.choices WHERE booking_ref = 'TW0001'")
        assert audit == 1
    finally:
        await db.close()


async def _menu(stack, phone: str) -> list[str]:
    return [t for t in await texts_to(stack, phone) if "other flights with seats for you" in t]


async def _any(stack, number: str, words: str) -> bool:
    return any(words in t for t in await texts_to(stack, number))


async def test_stop_in_french_is_honoured_confirmed_once_and_email_still_used(stack, settings):
    phone, ref = "+33612345678", f"FR{uuid.uuid4().hex[:4].upper()}"
    await put_contacts(stack, [{"passenger_id": f"{ref}-0", "booking_ref": ref, "given_name": "Élodie",
                                "phone": phone, "email": "elodie@example.fr", "channels": ["sms", "email"],
                                "locale": "fr"}])
    at = datetime.now(UTC)
    await publish_notices(settings, [(notice(f"fr-{ref}-1", ref, [f"{ref}-0"], 95, at), f"fr-{ref}-1")])
    assert await eventually(lambda: _any(stack, phone, "est retardé"))

    await reply(stack, phone, "Arrêt", via="twilio")
    assert await eventually(lambda: _any(stack, phone, "vous ne recevrez plus de SMS"))
    await reply(stack, phone, "STOP", via="twilio")  # a second STOP is not confirmed again
    await publish_notices(settings, [(notice(f"fr-{ref}-2", ref, [f"{ref}-0"], 180, at + timedelta(minutes=5)),
                                      f"fr-{ref}-2")])

    async def emailed():
        _, mail = await sent_messages(stack)
        found = [m for m in mail if "elodie@example.fr" in m["rcpt_tos"] and "retardé" in m["subject"]]
        return found if len(found) == 2 else None
    assert await eventually(emailed), "the notice after STOP did not go by email"
    texts = await texts_to(stack, phone)
    assert len(texts) == 2, texts  # the first notice, and the one confirmation: nothing after STOP

    await reply(stack, phone, "START", via="twilio")
    assert await eventually(lambda: _any(stack, phone, "vous recevrez à nouveau"))


async def test_a_sentence_reaches_an_agent_in_the_console_who_answers_it(stack, settings, browser_page):
    phone, ref = "+12125550172", f"AG{uuid.uuid4().hex[:4].upper()}"
    await put_contacts(stack, [{"passenger_id": f"{ref}-0", "booking_ref": ref, "given_name": "Kwame",
                                "phone": phone, "channels": ["sms"]}])
    await reply(stack, phone, "My mother uses a wheelchair: can someone meet us at the gate?")
    assert await eventually(lambda: _any(stack, phone, "A person will answer within 30 minutes"))

    page = browser_page
    await page.goto(f"{stack.url('disruption')}/ops")
    await page.get_by_label("Ops token").fill(AGENT_KEY)
    await page.get_by_role("button", name="Show board").click()
    row = page.locator("#threads tbody tr", has_text=ref)
    await expect(row).to_contain_text("wheelchair", timeout=30_000)
    await expect(page.locator("#messages")).not_to_contain_text(phone)  # the number stays in notify
    await row.focus()
    await page.keyboard.press("Enter")  # a keyboard opens it as a click does
    await expect(page.locator("#thread-messages")).to_contain_text("can someone meet us at the gate")
    await page.get_by_label("Your answer").fill("Yes: an agent with a wheelchair will meet you at gate B12.")
    await page.get_by_role("button", name="Send answer").click()
    await expect(page.locator("#thread-result")).to_contain_text("Sent")
    assert await eventually(lambda: _any(stack, phone, "an agent with a wheelchair will meet you at gate B12"))
    await expect(page.locator("#threads tbody tr", has_text=ref)).to_have_count(0, timeout=30_000)

    db = await asyncpg.connect(settings.database_url)
    try:
        audit = await db.fetchrow("SELECT agent, action, why FROM notify.desk_actions WHERE action = 'answer_passenger'"
                                  " AND target LIKE 'conversation %' ORDER BY acted_at DESC LIMIT 1")
    finally:
        await db.close()
    assert audit["action"] == "answer_passenger" and audit["why"]


async def test_an_unknown_number_gets_a_polite_answer_and_waits_for_a_person(stack):
    stranger = "+447700900123"
    await reply(stack, stranger, "KEEP")
    assert await eventually(lambda: _any(stack, stranger, "couldn't match it to a booking"))
    async with httpx.AsyncClient(base_url=stack.url("notify"), headers={"Authorization": f"Bearer {AGENT_KEY}"}) as c:
        threads = (await c.get("/ops/api/conversations")).json()
    assert any(t["booking_ref"] is None and t["messages"][0]["body"] == "KEEP" for t in threads)


async def bounced_to_texts(stack, settings, ref: str, phone: str, email: str, bounce: dict, key: str) -> None:
    """A passenger reached by email alone is sent a notice; the email bounces (`bounce`, as the
    sandbox's /v1/mail/event takes it); the notice then reaches their phone."""
    await put_contacts(stack, [{"passenger_id": f"{ref}-0", "booking_ref": ref, "given_name": "Sam",
                                "phone": phone, "email": email, "channels": ["email"]}], key=key)
    await publish_notices(settings, [(notice(f"b-{ref}", ref, [f"{ref}-0"], 95, datetime.now(UTC)), f"b-{ref}")])

    async def emailed():
        _, mail = await sent_messages(stack)
        return [m for m in mail if email in m["rcpt_tos"]]
    assert await eventually(emailed)
    async with httpx.AsyncClient(base_url=stack.url("sms")) as client:
        r = await client.post("/v1/mail/event", json={"email": email} | bounce)
        assert r.json()["status"] == 204, r.text
    assert await eventually(lambda: _any(stack, phone, "is delayed")), "the bounced notice did not go by text"


async def waiting_threads(stack, ref: str, key: str) -> list[dict]:
    """The booking's threads waiting for a person, as the console reads them."""
    async with httpx.AsyncClient(base_url=stack.url("notify"), headers={"Authorization": f"Bearer {key}"}) as c:
        return [t for t in (await c.get("/ops/api/conversations")).json() if t["booking_ref"] == ref]


async def test_a_bounce_moves_a_passenger_to_texts_and_an_email_reply_reaches_a_person(stack, settings):
    ref = f"BO{uuid.uuid4().hex[:4].upper()}"
    await bounced_to_texts(stack, settings, ref, "+12125550173", "nobody@bounces.example",
                           {"event": "bounce"}, RESERVATIONS_KEY)

    async with httpx.AsyncClient(base_url=stack.url("sms")) as client:
        r = await client.post("/v1/mail/reply", json={"from": "Sam <nobody@bounces.example>",
                                                      "text": "Thanks. Will my bag be on the new flight?\n\n"
                                                              "On Fri, Rebound wrote:\n> Your flight is delayed"})
        assert r.json()["status"] == 204, r.text
    threads = await eventually(lambda: waiting_threads(stack, ref, AGENT_KEY))
    assert threads and threads[0]["channel"] == "email" and "my bag" in threads[0]["messages"][0]["body"]


async def test_forged_unsigned_oversized_and_binary_webhooks_are_refused_before_anything_is_done(stack):
    url = stack.url("notify")
    async with httpx.AsyncClient(base_url=url) as c:
        form = {"MessageSid": "SMforged", "From": "+12125550199", "Body": "REFUND"}
        assert (await c.post(inbound.TWILIO_INBOUND_PATH, data=form)).status_code == 401
        forged = await c.post(inbound.TWILIO_INBOUND_PATH, data=form, headers={"X-Twilio-Signature": "AAAA"})
        assert forged.status_code == 403 and forged.headers["content-type"] == "application/problem+json"
        binary = await c.post(inbound.TWILIO_INBOUND_PATH, content=b"\xff\xfe\x00",
                              headers={"X-Twilio-Signature": "AAAA", "Content-Type": "application/octet-stream"})
        assert binary.status_code == 415
        huge = await c.post(inbound.TWILIO_INBOUND_PATH, content=b"x" * (70 * 1024),
                            headers={"X-Twilio-Signature": "AAAA",
                                     "Content-Type": "application/x-www-form-urlencoded"})
        assert huge.status_code == 413
        assert (await c.post(inbound.INFOBIP_INBOUND_PATH, json={"results": []})).status_code == 401
        assert (await c.post(inbound.INFOBIP_INBOUND_PATH, json={"results": []},
                             auth=("infobip", "wrong"))).status_code == 403
        assert (await c.post(inbound.EMAIL_EVENTS_PATH, json=[{"event": "bounce"}])).status_code == 401
        assert (await c.post(inbound.EMAIL_EVENTS_PATH, json=[{"event": "bounce", "email": "a@example.com"}],
                             headers={"X-Twilio-Email-Event-Webhook-Signature": "MEUCIQ==",
                                      "X-Twilio-Email-Event-Webhook-Timestamp": "1"})).status_code == 403
        assert (await c.post(inbound.EMAIL_INBOUND_PATH, files={"text": (None, "hi")})).status_code == 401
    db_threads = await _threads_from(stack, "+12125550199")
    assert db_threads == []  # nothing was recorded of any of them


async def _threads_from(stack, number: str) -> list:
    async with httpx.AsyncClient(base_url=stack.url("notify"), headers={"Authorization": f"Bearer {AGENT_KEY}"}) as c:
        threads = (await c.get("/ops/api/conversations", params={"waiting": "false", "most": 200})).json()
    return [t for t in threads if any(m["body"] == "REFUND" for m in t["messages"]) and t["booking_ref"] is None]


async def test_by_smtp_a_servers_bounce_report_moves_a_passenger_to_texts_and_a_plain_email_reaches_a_person(
        classic):
    """The airline that sends by SMTP: the receiving server's delivery status notification
    (RFC 3464), posted raw by Inbound Parse, bounces the address; and an email a passenger sends
    by plain SMTP to the airline's address waits for a person."""
    stack, settings = classic
    ref = f"DS{uuid.uuid4().hex[:4].upper()}"
    await bounced_to_texts(stack, settings, ref, "+12125550174", "gone@bounces.example", {"report": "dsn"}, API_KEY)

    reply_ = EmailMessage()
    reply_["From"], reply_["To"], reply_["Subject"] = "Sam <gone@bounces.example>", "care@rebound.example", "Re: delay"
    reply_["Message-ID"] = f"<{uuid.uuid4().hex}@mail.example>"
    reply_.set_content("Can I get a hotel voucher if it is delayed past midnight?")
    await aiosmtplib.send(reply_, hostname="127.0.0.1", port=stack.ports["smtp"])
    threads = await eventually(lambda: waiting_threads(stack, ref, API_KEY))
    assert threads and "hotel voucher" in threads[0]["messages"][0]["body"]
