"""What passengers send back, as each provider posts it: Twilio's incoming-message webhook
(form-encoded, signed as its status callbacks are), Infobip's inbound messages (JSON, HTTP
Basic), SendGrid's Inbound Parse (multipart, HTTP Basic) for email replies, and SendGrid's
signed event webhook for bounces and complaints. Each is checked before its body is acted on:
unsigned is 401 before a byte of the body is read, forged is 403."""

import base64
import binascii
import hmac
import json
import logging
from typing import Annotated, Any
from urllib.parse import parse_qs

import asyncpg
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from fastapi import APIRouter, Header, HTTPException, Request, Response
from pydantic import BaseModel, Field, ValidationError

from services.notify import conversations, dsn, replies, status, store
from services.notify.config import Config, NotifySettings, events_key
from services.notify.providers import twilio_signature
from shared import db
from shared.http import GatedRoute
from shared.outbox import Outbox
from shared.runtime import Database, running

TWILIO_INBOUND_PATH = "/v1/inbound/sms"
INFOBIP_INBOUND_PATH = "/v1/inbound/infobip"
EMAIL_INBOUND_PATH = "/v1/inbound/email"
EMAIL_EVENTS_PATH = "/v1/delivery-status/email"
EMAIL_INBOUND_MAX_BYTES = 2 * 1024 * 1024  # a reply with its quoted history; attachments are not read
EMAIL_EVENTS_MAX_BYTES = 8 * 1024 * 1024
INFOBIP_AT_ONCE = 1000
# SendGrid's events that say an address must not be written to again: a hard bounce, a drop for
# a bounced, invalid or complaining address, a complaint.
EMAIL_REFUSALS = {"bounce", "dropped", "spamreport"}
E164 = r"^\+[1-9][0-9]{6,14}$"
EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response></Response>'

router = APIRouter(tags=["passengers' replies"], route_class=GatedRoute)
log = logging.getLogger(__name__)


def _settings(request: Request) -> NotifySettings:
    settings: NotifySettings = running(request.app).config.settings
    return settings


def _form_text(request: Request, body: bytes) -> str:
    """A form body as text: 415 for anything but a form of UTF-8 text."""
    if request.headers.get("content-type", "").split(";")[0].strip().lower() != "application/x-www-form-urlencoded":
        raise HTTPException(415, "Send the provider's form (application/x-www-form-urlencoded)")
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:
        raise HTTPException(415, "The body is not UTF-8 text") from None


def _basic(request: Request, user: str, secret: str, provider: str) -> None:
    scheme, _, encoded = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "basic":
        raise HTTPException(401, f"{provider} must send the configured credentials (HTTP Basic)",
                            headers={"WWW-Authenticate": "Basic"})
    try:
        given = base64.b64decode(encoded, validate=True)
    except (ValueError, binascii.Error):
        given = b""
    if not hmac.compare_digest(given, f"{user}:{secret}".encode()):
        raise HTTPException(403, f"These are not {provider}'s configured credentials")


async def _receive(request: Request, pool: asyncpg.Pool, m: conversations.Inbound) -> None:
    """One message, in a transaction of its own. One that cannot be handled (a defect, not the
    database's trouble, which the provider's retry outlasts) is set aside for a person with the
    rest of its thread, never retried in a loop: nothing the passenger wrote is lost."""
    config: Config = running(request.app).config
    try:
        async with pool.acquire() as conn, conn.transaction():
            await conversations.receive(conn, config, conversations.choice_api(request), m)
    except db.TRANSIENT:
        raise
    except Exception:
        log.exception("a passenger's message could not be handled; it waits for a person",
                      extra={"channel": m.channel})
        async with pool.acquire() as conn, conn.transaction():
            await conversations.set_aside(conn, config, m)


@router.post(TWILIO_INBOUND_PATH, response_class=Response, responses={200: {"content": {"text/xml": {}}}})
async def twilio_inbound(request: Request, pool: Database,
                         signature: Annotated[str | None, Header(alias="X-Twilio-Signature")] = None) -> Response:
    """A text a passenger sent, as Twilio posts it (its incoming-message webhook). We answer by the
    messages API, so the TwiML answer is empty."""
    settings = _settings(request)
    if not signature:
        raise HTTPException(401, "The X-Twilio-Signature header is missing")
    form = {k: v[0] for k, v in parse_qs(_form_text(request, await request.body()), keep_blank_values=True).items()}
    expected = twilio_signature(settings.sms_token, f"{settings.public_url}{TWILIO_INBOUND_PATH}", form)
    if not hmac.compare_digest(expected.encode(), signature.encode()):
        raise HTTPException(403, "The X-Twilio-Signature header does not match")
    try:
        m = TwilioMessage.model_validate(form)
    except ValidationError as exc:  # signed by Twilio, but not a text we can answer (a short code's)
        raise HTTPException(422, f"not a text from a phone number: {exc.error_count()} errors, the first at "
                                 f"{'.'.join(map(str, exc.errors()[0]['loc']))}") from None
    await _receive(request, pool, conversations.Inbound("sms", m.From, m.Body, f"twilio:{m.MessageSid}"))
    return Response(EMPTY_TWIML, media_type="text/xml")


class TwilioMessage(BaseModel):
    """The incoming-message webhook's fields we read (it sends many more)."""

    MessageSid: str = Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9]+$")
    From: str = Field(pattern=E164)
    Body: str = Field(default="", max_length=replies.MOST_TEXT)


class InfobipMessage(BaseModel):
    messageId: str = Field(min_length=1, max_length=300)  # noqa: N815 (Infobip's names)
    from_: str = Field(alias="from", pattern=r"^\+?[1-9][0-9]{6,14}$")
    text: str = Field(default="", max_length=replies.MOST_TEXT)


class InfobipMessages(BaseModel):
    """Infobip's inbound messages (its MO_JSON_2 format): a batch in one request."""

    results: list[InfobipMessage] = Field(max_length=INFOBIP_AT_ONCE)


@router.post(INFOBIP_INBOUND_PATH, status_code=204, response_class=Response)
async def infobip_inbound(request: Request, pool: Database) -> None:
    """Texts passengers sent, as Infobip forwards them, with the credentials its delivery reports
    carry."""
    _basic(request, status.INFOBIP_USER, _settings(request).sms_report_secret, "Infobip")
    if request.headers.get("content-type", "").split(";")[0].strip().lower() != "application/json":
        raise HTTPException(415, "Send Infobip's inbound messages as application/json")
    try:
        batch = InfobipMessages.model_validate_json(await request.body())
    except ValidationError as exc:
        raise HTTPException(422, f"not Infobip inbound messages: {exc.error_count()} errors, the first at "
                                 f"{'.'.join(map(str, exc.errors()[0]['loc']))}") from None
    for m in batch.results:  # each in its own transaction: one that cannot be handled costs itself alone
        number = m.from_ if m.from_.startswith("+") else f"+{m.from_}"  # Infobip omits the plus
        await _receive(request, pool, conversations.Inbound("sms", number, m.text, f"infobip:{m.messageId}"))


@router.post(EMAIL_INBOUND_PATH, status_code=204, response_class=Response)
async def email_inbound(request: Request, pool: Database) -> None:
    """An email to the airline, as SendGrid's Inbound Parse posts it (multipart form: `from`,
    `text`, `headers`, …; or, set to post the raw message, `email`): a passenger's reply, matched
    by the address it came from; or a mail server's delivery status notification (RFC 3464),
    whose failed recipients bounce as SendGrid's events do."""
    settings = _settings(request)
    _basic(request, "sendgrid", settings.email_inbound_secret, "SendGrid Inbound Parse")
    if request.headers.get("content-type", "").split(";")[0].strip().lower() != "multipart/form-data":
        raise HTTPException(415, "Send Inbound Parse's multipart/form-data")
    form = await request.form(max_files=20, max_fields=50)
    raw = form.get("email")
    if isinstance(raw, str) and (report := dsn.read(raw.encode("utf-8", "surrogateescape"))):
        async with pool.acquire() as conn, conn.transaction():
            outbox = Outbox(settings, source="rebound/notify")
            for failed in report.failed:
                await refused_address(conn, outbox, failed.recipient, "dsn" if failed.for_good else None,
                                      f"{failed.status} {failed.diagnostic or ''}".strip(), report.message_id or "")
            await outbox.flush(conn)
        return
    sender, text, headers = form.get("from"), form.get("text"), form.get("headers")
    if isinstance(raw, str) and not isinstance(text, str):  # raw only: read it as a mail reader would
        sender, text, headers = conversations.plain_reply(raw)
    if not isinstance(sender, str) or not isinstance(text, str):
        raise HTTPException(422, "`from` and `text` (or the raw `email`) are required")
    address = conversations.address_of(sender)
    if address is None:
        raise HTTPException(422, "`from` holds no email address")
    message_id = conversations.message_id_of(headers if isinstance(headers, str) else "") or conversations.digest(
        address, text)
    await _receive(request, pool, conversations.Inbound("email", address, text[:conversations.MOST_EMAIL],
                                                         f"email:{message_id}"))


class EmailEvent(BaseModel):
    """One of SendGrid's events, as much of it as we read."""

    event: str = Field(max_length=40)
    email: str = Field(default="", max_length=320)
    sg_message_id: str = Field(default="", max_length=300)
    type: str | None = Field(default=None, max_length=40)  # a bounce's: bounce (for good) or blocked
    reason: str | None = Field(default=None, max_length=2000)


def verify_events(key: ec.EllipticCurvePublicKey, signature: str, timestamp: str, body: bytes) -> bool:
    """SendGrid's signed event webhook: ECDSA (P-256, SHA-256) over the timestamp header and the
    body as sent."""
    try:
        key.verify(base64.b64decode(signature, validate=True), timestamp.encode() + body, ec.ECDSA(hashes.SHA256()))
    except (InvalidSignature, ValueError, binascii.Error):
        return False
    return True


@router.post(EMAIL_EVENTS_PATH, status_code=204, response_class=Response)
async def email_events(request: Request, pool: Database,
                       signature: Annotated[str | None, Header(alias="X-Twilio-Email-Event-Webhook-Signature")] = None,
                       timestamp: Annotated[str | None, Header(alias="X-Twilio-Email-Event-Webhook-Timestamp")] = None
                       ) -> None:
    """SendGrid's email events: a bounce or complaint marks the address, and the notices sent to it
    go again by text."""
    settings = _settings(request)
    if not signature or not timestamp:
        raise HTTPException(401, "SendGrid's signature and timestamp headers are missing")
    body = await request.body()
    if not verify_events(events_key(settings.email_events_public_key), signature, timestamp, body):
        raise HTTPException(403, "The event webhook's signature does not match")
    try:
        raw: Any = json.loads(body)
    except ValueError:
        raise HTTPException(422, "not SendGrid events: the body is not JSON") from None
    if not isinstance(raw, list) or len(raw) > 10_000:
        raise HTTPException(422, "not SendGrid events: a JSON array of at most 10,000 is expected")
    async with pool.acquire() as conn, conn.transaction():
        outbox = Outbox(settings, source="rebound/notify")
        for item in raw:
            try:
                event = EmailEvent.model_validate(item)
            except ValidationError:
                continue  # one event we cannot read costs itself: the rest of the batch stands
            if event.event in EMAIL_REFUSALS and event.email and not (event.event == "bounce"
                                                                      and event.type == "blocked"):
                why = "the passenger reported it as spam" if event.event == "spamreport" else "the address bounced"
                await refused_address(conn, outbox, event.email, event.event, event.reason,
                                      event.sg_message_id.split(".", 1)[0], why=why)
        await outbox.flush(conn)


async def refused_address(conn: asyncpg.Connection, outbox: Outbox, email: str, kind: str | None,
                          reason: str | None, provider_id: str, why: str = "the address bounced") -> None:
    """An email that did not reach `email`: the address marked (`kind`: bounce, dropped,
    spamreport, dsn; None for a failure that says nothing of the address, a server that gave up
    retrying), and each notice sent to it under the provider's id for the message tried by the
    passenger's other channel."""
    if kind:
        await store.bounced(conn, email, kind, reason)
    for d in await store.emails_sent(conn, provider_id, email) if provider_id else []:
        await status.failed_after_sending(conn, outbox, d, "email", provider_id, why, kind or "failed")
