"""A passenger's reply, from the number or address it came by to what it does: read
(`replies.read`), matched to the passenger last written to there, recorded once, and answered.

The choices (keep, change, refund) are the choice page's own: notify asks rebooking's choice API
with the passenger's own link, as the page does, so the rules, the confirmations and the
idempotency are the page's. Anything else is for a person: the thread waits in the console's
worklist, the passenger is told at once when someone will answer, and the agent's answer is sent
as a reply of its own."""

import hashlib
import logging
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.parser import BytesParser
from email.policy import default
from email.utils import parseaddr
from typing import Any, Protocol
from urllib.parse import urlsplit

import asyncpg
import httpx
from fastapi import Request

from services.notify import replies, store, templates
from services.notify.config import Config
from shared import sealed
from shared.runtime import running

log = logging.getLogger(__name__)
# The most of an email's text kept: its own words come first, the quoted history after.
MOST_EMAIL = 20_000
_MESSAGE_ID = re.compile(r"^Message-ID:\s*<([^<>\s]{1,250})>", re.IGNORECASE | re.MULTILINE)


@dataclass(frozen=True)
class Inbound:
    """One message a passenger sent: by `sms` from an E.164 number, or by `email` from an address
    (lower case); its provider's id for it, which makes a webhook sent twice act once."""

    channel: str
    address: str
    text: str
    provider_id: str


@dataclass(frozen=True)
class Choice:
    """Rebooking's answer to the choice API: its HTTP status and body."""

    status: int
    body: dict[str, Any]


class Rebooking(Protocol):
    async def offer(self, token: str) -> Choice: ...

    async def answer(self, token: str, answer: str, option: str | None = None) -> Choice: ...


class ChoiceApi:
    """Rebooking's choice API, as the choice page's own form reaches it (rebooking records who
    answered: `api rebound-notify (reply by text)`)."""

    def __init__(self, base_url: str, client: httpx.AsyncClient | None = None) -> None:
        self._base = base_url.rstrip("/")
        self._client = client or httpx.AsyncClient(timeout=10)

    async def offer(self, token: str) -> Choice:
        return await self._ask("GET", token, None)

    async def answer(self, token: str, answer: str, option: str | None = None) -> Choice:
        return await self._ask("POST", token, {"answer": answer} | ({"option": option} if option else {}))

    async def _ask(self, method: str, token: str, body: dict | None) -> Choice:
        r = await self._client.request(method, f"{self._base}/v1/choices/{token}", json=body,
                                       headers={"User-Agent": "rebound-notify (reply by text or email)"})
        try:
            payload = r.json()
        except ValueError:
            payload = {}
        return Choice(r.status_code, payload if isinstance(payload, dict) else {})

    async def close(self) -> None:
        await self._client.aclose()


def choice_api(request: Request) -> ChoiceApi:
    """The process's one client of rebooking's choice API."""
    api: ChoiceApi | None = getattr(request.app.state, "choice_api", None)
    if api is None:
        api = request.app.state.choice_api = ChoiceApi(running(request.app).config.settings.rebooking_url)
    return api


def address_of(sender: str) -> str | None:
    """The address in an email's From (`Ana <ana@example.com>` → `ana@example.com`), lower case."""
    address = parseaddr(sender)[1].strip().lower()
    return address if "@" in address and len(address) <= 320 else None


def message_id_of(headers: str) -> str | None:
    """An email's own Message-ID, from its headers as Inbound Parse posts them."""
    found = _MESSAGE_ID.search(headers)
    return found.group(1) if found else None


def plain_reply(raw: str) -> tuple[str | None, str | None, str]:
    """A raw email as (From, its plain text, its headers as text)."""
    message = BytesParser(policy=default).parsebytes(raw.encode("utf-8", "surrogateescape"))
    body = message.get_body(preferencelist=("plain",))
    text = body.get_content() if body is not None else None
    headers = "".join(f"{k}: {v}\n" for k, v in message.items())
    return message.get("From"), text if isinstance(text, str) else None, headers


def digest(address: str, text: str) -> str:
    """An email without a Message-ID is told from another by its sender and words."""
    return hashlib.sha256(f"{address}\x1f{text}".encode()).hexdigest()


async def receive(conn: asyncpg.Connection, config: Config, rebooking: Rebooking, m: Inbound) -> None:
    """Everything one message does, in the caller's transaction: nothing at all if its provider
    sent it before."""
    said = replies.read(m.text) if m.channel == "sms" else replies.read_email(m.text)
    who = await store.writer(conn, m.channel, m.address)
    language = replies.language_of(said, who.locale if who else None)
    c = await store.conversation(conn, m.channel, m.address, who, language)
    if not await store.heard(conn, c.id, m.text, said.intent, m.provider_id):
        return
    opted_out, confirmed = await store.number_opted_out(conn, m.address) if m.channel == "sms" else (False, False)
    link = await _link(conn, config, who)
    answer = replies.answer_for(said, known=who is not None, opted_out=opted_out, confirmed_before=confirmed,
                                has_choice=link is not None)
    if answer.opt == "out":
        await store.opt_out(conn, m.address, confirmed=answer.topic == "opted_out")
    elif answer.opt == "in":
        await store.opt_in(conn, m.address)
    facts: dict[str, Any] = {}
    if answer.decide and link:
        answer, facts = await _choose(conn, rebooking, c, said, link)
    now = datetime.now(UTC)
    answer_by = now + timedelta(minutes=config.settings.conversation_answer_minutes)
    if answer.for_agent:
        await store.wait_for_person(conn, c.id, answer_by)
    if answer.topic:
        await _reply(conn, config, c, m.address, answer.topic, language, who.given_name if who else "",
                     facts | ({"answer_within": config.settings.conversation_answer_minutes}
                              if answer.for_agent else {}))


async def set_aside(conn: asyncpg.Connection, config: Config, m: Inbound) -> None:
    """A message that could not be handled: kept in its thread, waiting for a person, unanswered
    (once, however often its provider sends it again)."""
    who = await store.writer(conn, m.channel, m.address)
    c = await store.conversation(conn, m.channel, m.address, who, who.locale if who else "en")
    if await store.heard(conn, c.id, m.text, "set aside", m.provider_id):
        await store.wait_for_person(conn, c.id, datetime.now(UTC) + timedelta(
            minutes=config.settings.conversation_answer_minutes))


async def _link(conn: asyncpg.Connection, config: Config, who: store.Writer | None) -> str | None:
    """The passenger's own choice-link token, from their latest rebooking notice, if it has one."""
    if who is None:
        return None
    found = await store.choice_link(conn, who.booking_ref, who.passenger_id)
    if found is None:
        return None
    sealed_url = (found[1].get("choice_urls") or {}).get(who.passenger_id)
    if not sealed_url:
        return None
    try:
        url = config.opener.open(sealed_url) if sealed_url.startswith(sealed.PREFIX) else sealed_url
    except sealed.SealedError:
        log.warning("a choice link notify cannot open", extra={"booking_ref": who.booking_ref})
        return None
    return urlsplit(url).path.rstrip("/").rsplit("/", 1)[-1] or None


async def _choose(conn: asyncpg.Connection, rebooking: Rebooking, c: store.Conversation, said: replies.Said,
                  token: str) -> tuple[replies.Answer, dict[str, Any]]:
    """Keep, refund, see the other flights, or take one of them, through rebooking's choice API."""
    try:
        if said.intent == "keep":
            done = await rebooking.answer(token, "accept")
            return _after(done, "kept"), {}
        if said.intent == "refund":
            done = await rebooking.answer(token, "refund")
            return _after(done, "refunding"), {}
        if said.intent == "option" and said.option and said.option <= len(c.menu):
            done = await rebooking.answer(token, "change", c.menu[said.option - 1])
            # Rebooking's own "changed" notice, with the new flight, is the confirmation.
            return (replies.Answer(None) if done.status == 200 else _after(done, "changing")), {}
        offer = await rebooking.offer(token)  # CHANGE, or a number before any list was sent
    except httpx.HTTPError as exc:
        log.warning("rebooking's choice API did not answer; the reply waits for a person",
                    extra={"error": type(exc).__name__})
        return replies.Answer("received", for_agent=True), {}
    if offer.status != 200:
        return _after(offer, "options"), {}
    options = (offer.body.get("options") or [])[:replies.MOST_OPTIONS]
    if not options:
        return replies.Answer("no_options", for_agent=True), {}
    await store.offered(conn, c.id, [o["option_id"] for o in options])
    return replies.Answer("options"), {"options": [_option(o) for o in options]}


def _after(done: Choice, topic: replies.Topic) -> replies.Answer:
    """What the passenger is told of rebooking's answer: done, or, where it would not (answered
    already, expired, the seats gone), that a person will look."""
    if done.status == 200:
        return replies.Answer(topic)
    if done.status >= 500:
        return replies.Answer("received", for_agent=True)
    return replies.Answer("not_now", for_agent=True)


def _option(o: dict[str, Any]) -> dict[str, Any]:
    legs = o["flights"]
    return {"flights": " + ".join(f"{leg['carrier']} {leg['number']}" for leg in legs),
            "origin": legs[0]["origin"], "destination": legs[-1]["destination"],
            "departure": legs[0]["scheduled_departure"], "arrival": legs[-1]["scheduled_arrival"]}


async def _reply(conn: asyncpg.Connection, config: Config, c: store.Conversation, address: str,
                 topic: replies.Topic, language: str, name: str, facts: dict[str, Any]) -> None:
    reply = replies.ConversationReply(topic=topic, language=language, help_line=config.settings.help_line, **facts)
    # The thread shows the words the passenger reads.
    said = templates.render_notice(reply, "sms" if c.channel == "sms" else "email", language, name).body
    await store.reply(conn, c, address, said, "rebound", reply.model_dump(mode="json"))


async def answer_by_agent(conn: asyncpg.Connection, config: Config, conversation_id: int, text: str,
                          agent: str) -> int | None:
    """An agent's answer, sent on the thread's channel; None if there is no such thread."""
    found = await store.conversation_by_id(conn, conversation_id)
    if found is None:
        return None
    c, address = found
    reply = replies.ConversationReply(topic="answer", text=text, language=replies.language_of(
        replies.Said("message"), c.locale))
    await store.answered(conn, c.id)
    return await store.reply(conn, c, address, text, f"agent {agent}", reply.model_dump(mode="json"))

