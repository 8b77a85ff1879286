"""Passengers' replies through notify's handler on real PostgreSQL, with rebooking's own choice
code answering as its API does (in the same process, on its own schema): each test rolled back."""

from dataclasses import dataclass

import asyncpg
import pytest

from services.notify import conversations, store
from services.notify.conversations import Choice, Inbound
from services.rebooking import answers
from shared import topics
from shared.events import FlightCancelled
from tests.handlers.airline import booking, contacts, flight, ref
from tests.handlers.world import CONFIGS, REBOOKING, World

pytestmark = pytest.mark.handlers

NOTIFY = CONFIGS["notify"]
CANCELLED = flight("111", "JFK", "BOS", 17, seats=20)
EVENING = flight("113", "JFK", "BOS", 20, seats=4)
LATE = flight("115", "JFK", "BOS", 22, seats=4)
LATEST = flight("117", "JFK", "BOS", 23, seats=4)
PHONE = "+12125550100"  # tests/handlers/airline.py's, every passenger's


@dataclass
class ChoicesInProcess:
    """Rebooking's choice API as its routes answer (services/rebooking/choice.py), on its
    connection."""

    conn: asyncpg.Connection
    asked: int = 0

    async def offer(self, token: str) -> Choice:
        return await self._ask(lambda: answers.view_in(self.conn, REBOOKING, token))

    async def answer(self, token: str, answer: str, option: str | None = None) -> Choice:
        given = answers.Answer.model_validate({"answer": answer, "option": option})
        return await self._ask(lambda: answers.answer_in(self.conn, REBOOKING, token, given,
                                                         "api rebound-notify (reply by text or email)"))

    async def _ask(self, call) -> Choice:
        self.asked += 1
        try:
            return Choice(200, (await call()).model_dump(mode="json"))
        except answers.ChoiceProblem as p:
            return Choice(p.status, {"title": p.title, "detail": p.detail})


async def rebooked(world: World) -> None:
    for f in (CANCELLED, EVENING, LATE, LATEST):
        await world.publish(topics.SCHEDULE, f)
    b = booking("TALK01", CANCELLED)
    await world.publish(topics.BOOKINGS, b)
    await contacts(world.connections["notify"], b, ["sms", "email"])
    await world.publish(topics.FLIGHT_EVENTS, FlightCancelled(partner_event_id="c1", flight=ref(CANCELLED),
                                                             reason="crew"), source="partner/demo")


async def replies_to(conn: asyncpg.Connection) -> list[dict]:
    return [r["facts"] for r in await conn.fetch(
        "SELECT facts FROM deliveries WHERE stage = 'conversation' AND channel = 'sms' ORDER BY id")]


async def test_change_then_a_number_moves_the_party_once(world: World):
    await rebooked(world)
    notify, choices = world.connections["notify"], ChoicesInProcess(world.connections["rebooking"])
    await conversations.receive(notify, NOTIFY, choices, Inbound("sms", PHONE, "Change", "t:1"))
    [menu] = await replies_to(notify)
    assert menu["topic"] == "options"
    assert [o["flights"] for o in menu["options"]] == [f"B6 {n}" for n in ("115", "117")]

    await conversations.receive(notify, NOTIFY, choices, Inbound("sms", PHONE, "2", "t:2"))
    answered = await world.connections["rebooking"].fetchrow(
        "SELECT answer, to_flights FROM rebookings WHERE booking_ref = 'TALK01'")
    assert (answered["answer"], answered["to_flights"]) == ("changed", [LATEST.flight_id])
    assert len(await replies_to(notify)) == 1  # rebooking's "changed" notice confirms it, not a reply

    asked = choices.asked
    await conversations.receive(notify, NOTIFY, choices, Inbound("sms", PHONE, "2", "t:2"))  # the webhook again
    assert choices.asked == asked  # the same message acts once


async def test_a_choice_rebooking_will_not_take_waits_for_a_person(world: World):
    await rebooked(world)
    notify, choices = world.connections["notify"], ChoicesInProcess(world.connections["rebooking"])
    await conversations.receive(notify, NOTIFY, choices, Inbound("sms", PHONE, "KEEP", "t:1"))
    await conversations.receive(notify, NOTIFY, choices, Inbound("sms", PHONE, "REFUND", "t:2"))
    topics_said = [r["topic"] for r in await replies_to(notify)]
    assert topics_said == ["kept", "not_now"]  # answered already: rebooking says 409, a person looks
    waiting = await notify.fetchval("SELECT waiting_since IS NOT NULL FROM conversations WHERE address = $1", PHONE)
    assert waiting


async def test_stop_plans_no_more_texts_and_start_brings_them_back(world: World):
    await rebooked(world)
    notify, choices = world.connections["notify"], ChoicesInProcess(world.connections["rebooking"])
    await conversations.receive(notify, NOTIFY, choices, Inbound("sms", PHONE, "STOP", "t:1"))
    await conversations.receive(notify, NOTIFY, choices, Inbound("sms", PHONE, "stop", "t:2"))
    assert [r["topic"] for r in await replies_to(notify)] == ["opted_out"]  # confirmed once
    # The reservation system's own record is left as it gave it; notify keeps the number's.
    assert await notify.fetchval("SELECT opted_out FROM contacts WHERE booking_ref = 'TALK01'") == []
    [contact] = (await store.contacts(notify, [("TALK01", "TALK01-1")])).values()
    assert "sms" in contact.opted_out  # but notify plans no text to the number
    await conversations.receive(notify, NOTIFY, choices, Inbound("sms", PHONE, "START", "t:3"))
    [contact] = (await store.contacts(notify, [("TALK01", "TALK01-1")])).values()
    assert "sms" not in contact.opted_out
    assert [r["topic"] for r in await replies_to(notify)] == ["opted_out", "opted_in"]


async def test_a_sentence_waits_for_a_person_and_the_agents_answer_goes_back(world: World):
    await rebooked(world)
    notify, choices = world.connections["notify"], ChoicesInProcess(world.connections["rebooking"])
    await conversations.receive(notify, NOTIFY, choices, Inbound("sms", PHONE, "Is there a lounge I can use?", "t:1"))
    assert choices.asked == 0
    [ack] = await replies_to(notify)
    assert (ack["topic"], ack["answer_within"]) == ("received", NOTIFY.settings.conversation_answer_minutes)
    conversation = await notify.fetchval("SELECT id FROM conversations WHERE address = $1", PHONE)
    await conversations.answer_by_agent(notify, NOTIFY, conversation, "Yes: lounge B, show this text.", "Ana")
    assert [r.get("text") for r in await replies_to(notify)][-1] == "Yes: lounge B, show this text."
    assert await notify.fetchval("SELECT waiting_since FROM conversations WHERE id = $1", conversation) is None
    said = [tuple(r) for r in await notify.fetch(
        "SELECT direction, said FROM conversation_messages WHERE conversation_id = $1 ORDER BY id", conversation)]
    assert said == [("in", "message"), ("out", "rebound"), ("out", "agent Ana")]


async def test_a_reply_goes_to_the_number_it_came_from_and_names_no_contact_on_a_topic(world: World):
    await rebooked(world)
    notify = world.connections["notify"]
    await conversations.receive(notify, NOTIFY, ChoicesInProcess(world.connections["rebooking"]),
                                Inbound("sms", "+447700900123", "hello?", "t:1"))
    row = await notify.fetchrow("SELECT passenger_id, booking_ref, reply_to, facts FROM deliveries"
                                " WHERE stage = 'conversation'")
    assert row["reply_to"] == "+447700900123" and row["booking_ref"] == ""
    assert row["passenger_id"].startswith("conversation-")  # no contact has it: the last release never claims it
    assert row["facts"]["topic"] == "unknown"
    outbox = await notify.fetchval("SELECT count(*) FROM outbox")
    assert outbox == 0  # nothing about a conversation goes on a topic


async def test_a_message_that_cannot_be_handled_is_set_aside_for_a_person_once(world: World):
    await rebooked(world)
    notify = world.connections["notify"]
    for _ in range(2):  # the provider sends it again: still one message, still one thread
        await conversations.set_aside(notify, NOTIFY, Inbound("sms", PHONE, "KEEP", "t:9"))
    rows = await notify.fetch("SELECT t.waiting_since IS NOT NULL AS waiting, m.said FROM conversations t"
                              " JOIN conversation_messages m ON m.conversation_id = t.id")
    assert [tuple(r) for r in rows] == [(True, "set aside")]
    assert await replies_to(notify) == []  # nothing automatic is said of what was not understood


async def test_erasing_a_passenger_takes_what_they_wrote_and_where_from(world: World):
    await rebooked(world)
    notify = world.connections["notify"]
    await conversations.receive(notify, NOTIFY, ChoicesInProcess(world.connections["rebooking"]),
                                Inbound("sms", PHONE, "Where do I collect my bag?", "t:1"))
    await store.erase_contact(notify, "TALK01", "TALK01-1")
    assert await notify.fetchval("SELECT count(*) FROM conversations") == 0
    assert await notify.fetchval("SELECT count(*) FROM conversation_messages") == 0
    reply = await notify.fetchrow("SELECT reply_to, status FROM deliveries WHERE stage = 'conversation'")
    assert (reply["reply_to"], reply["status"]) == (None, "undeliverable")
