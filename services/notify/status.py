"""Delivery status from providers: the SMS provider reports when a message reaches the handset or
does not (Twilio calls back once per text; Infobip pushes reports in batches). A message the
network could not deliver is tried by the passenger's other channel. A report that arrives before
its text's send is recorded waits for it (`early_reports`), rather than being lost."""

import asyncio
import base64
import hmac
from datetime import timedelta
from typing import Annotated
from urllib.parse import parse_qs, quote, urlsplit, urlunsplit

import asyncpg
from fastapi import APIRouter, Header, HTTPException, Request, Response
from pydantic import BaseModel, Field, ValidationError

from services.notify import policy, replies, store
from services.notify.config import Config, NotifySettings
from services.notify.providers import INFOBIP_FAILED, twilio_signature
from shared import topics
from shared.events import NoticeDelivered
from shared.http import GatedRoute
from shared.outbox import Outbox
from shared.runtime import Database, Service, running

SMS_STATUS_PATH = "/v1/delivery-status/sms"
INFOBIP_REPORT_PATH = "/v1/delivery-status/infobip"
INFOBIP_USER = "infobip"
INFOBIP_REPORTS_AT_ONCE = 10_000
INFOBIP_REPORTS_MAX_BYTES = 8 * 1024 * 1024
EARLY_REPORTS_EVERY_S = 1.0
# A report whose text is never recorded is not about one of ours (another sender on the account).
EARLY_REPORTS_KEPT = timedelta(days=1)
# Twilio's message states: the last two mean the passenger did not get it.
SMS_STATES = {"accepted", "queued", "sending", "sent", "delivered", "receiving", "received", "read",
              "failed", "undelivered"}

router = APIRouter(tags=["delivery status"], route_class=GatedRoute)


@router.post(SMS_STATUS_PATH, status_code=204, response_class=Response)
async def sms_status(request: Request, pool: Database,
                     signature: Annotated[str | None, Header(alias="X-Twilio-Signature")] = None) -> None:
    """The SMS provider's status callback (form-encoded, signed with the account's token)."""
    settings: NotifySettings = running(request.app).config.settings
    # Parsed by hand: one of these arrives for every text sent, and the form parser costs more.
    body = (await request.body()).decode(errors="replace")
    form = {k: v[0] for k, v in parse_qs(body, keep_blank_values=True).items()}
    expected = twilio_signature(settings.sms_token, f"{settings.public_url}{SMS_STATUS_PATH}", form)
    # As bytes: compare_digest refuses str with non-ASCII characters, and a header may carry them.
    if not signature or not hmac.compare_digest(expected.encode(), signature.encode()):
        raise HTTPException(401, "The X-Twilio-Signature header is missing or does not match")
    sid, state = form.get("MessageSid"), form.get("MessageStatus")
    if not sid or state not in SMS_STATES:
        raise HTTPException(422, f"MessageSid and a MessageStatus of {sorted(SMS_STATES)} are required")
    if state not in ("failed", "undelivered"):
        # Most reports are good news: recorded in one statement, news to no one else.
        if not await store.report_one_status(pool, sid, state):
            await store.hold_early(pool, [store.EarlyReport(sid, state, failed=False)])
        return
    async with pool.acquire() as conn, conn.transaction():
        await record_reports(conn, settings, [], [(sid, state)])


class InfobipStatus(BaseModel):
    groupName: str = Field(max_length=64)  # noqa: N815 (Infobip's name)
    name: str | None = Field(default=None, max_length=64)


class InfobipReport(BaseModel):
    messageId: str = Field(max_length=300)  # noqa: N815 (Infobip's name)
    status: InfobipStatus


class InfobipReports(BaseModel):
    """Infobip's delivery reports, as it pushes them: a bucket of up to `maxBucketSize` (100 by
    default) in one request."""

    results: list[InfobipReport] = Field(max_length=INFOBIP_REPORTS_AT_ONCE)


def infobip_report_url(settings: NotifySettings) -> str:
    """Where Infobip is asked to push delivery reports: notify's, with the credentials they must
    carry (HTTP Basic, from the URL's user part, as webhook clients send it)."""
    url = urlsplit(settings.public_url)
    netloc = f"{INFOBIP_USER}:{quote(settings.sms_report_secret, safe='')}@{url.netloc}"
    return urlunsplit((url.scheme, netloc, url.path.rstrip("/") + INFOBIP_REPORT_PATH, "", ""))


@router.post(INFOBIP_REPORT_PATH, status_code=204, response_class=Response)
async def infobip_reports(request: Request, pool: Database) -> None:
    """Infobip's delivery reports for texts, a batch at a time, recorded in a few statements."""
    settings: NotifySettings = running(request.app).config.settings
    scheme, _, encoded = request.headers.get("authorization", "").partition(" ")
    try:
        given = base64.b64decode(encoded, validate=True) if scheme.lower() == "basic" else b""
    except ValueError:
        given = b""
    if not hmac.compare_digest(given, f"{INFOBIP_USER}:{settings.sms_report_secret}".encode()):
        raise HTTPException(401, "Infobip's delivery reports must carry the configured credentials (HTTP Basic)",
                            headers={"WWW-Authenticate": "Basic"})
    try:
        reports = InfobipReports.model_validate_json(await request.body())
    except ValidationError as exc:
        raise HTTPException(422, f"not Infobip delivery reports: {exc.error_count()} errors, the first at "
                                 f"{'.'.join(map(str, exc.errors()[0]['loc']))}") from None
    fine = [(r.messageId, r.status.name or r.status.groupName) for r in reports.results
            if r.status.groupName not in INFOBIP_FAILED]
    failed = [(r.messageId, r.status.name or r.status.groupName) for r in reports.results
              if r.status.groupName in INFOBIP_FAILED]
    async with pool.acquire() as conn, conn.transaction():
        await record_reports(conn, settings, fine, failed)


async def record_reports(conn: asyncpg.Connection, settings: NotifySettings, fine: list[tuple[str, str]],
                         failed: list[tuple[str, str]]) -> None:
    """Texts' fates, each (provider id, state): the good ones in one statement; each failure
    tried by the passenger's other channel, and told to the ops board. A report on a text not
    (yet) recorded is held until it is."""
    early: list[store.EarlyReport] = []
    if fine:
        recorded = await store.report_status(conn, fine)
        early += [store.EarlyReport(p, state, failed=False) for p, state in fine if p not in recorded]
    outbox = Outbox(settings, source="rebound/notify")
    for provider_id, state in failed:
        if not await _not_delivered(conn, outbox, provider_id, state):
            early.append(store.EarlyReport(provider_id, state, failed=True))
    if early:
        await store.hold_early(conn, early)
    await outbox.flush(conn)


async def apply_early_reports(service: Service) -> None:
    """Held reports, applied once their texts are recorded (each replica may sweep: a report is
    taken by one transaction, its row deleted as it is applied)."""
    while True:
        await asyncio.sleep(EARLY_REPORTS_EVERY_S)
        async with service.database.acquire() as conn, conn.transaction():
            await sweep_early_reports(conn, service.config)


async def sweep_early_reports(conn: asyncpg.Connection, config: Config) -> int:
    """Apply the held reports whose texts are now recorded; forget those too old to be ours.
    Returns how many were applied."""
    due = await store.take_early(conn, EARLY_REPORTS_KEPT)
    if due:
        await record_reports(conn, config.settings, [(r.provider_id, r.state) for r in due if not r.failed],
                             [(r.provider_id, r.state) for r in due if r.failed])
    return len(due)


async def _not_delivered(conn: asyncpg.Connection, outbox: Outbox, provider_id: str, state: str) -> bool:
    """Whether the text is recorded (and so the report taken into account)."""
    d = await store.report_failure(conn, provider_id, state)
    if d is None:
        return False
    # Only a failure of a text taken is news to anyone else (the ops board already counts the
    # passenger as told when the provider took the text).
    if d.status == "sent":
        await failed_after_sending(conn, outbox, d, "sms", provider_id, f"the network reported the text {state}",
                                   state)
    return True


async def failed_after_sending(conn: asyncpg.Connection, outbox: Outbox, d: store.Delivery, channel: str,
                               provider_id: str, why: str, state: str) -> None:
    """A message its provider took that did not reach the passenger (a text the network could not
    deliver, an email that bounced): recorded failed, sent by their other channel if they have
    one, and told to the ops board (`state`: the provider's word for what happened)."""
    await store.undelivered(conn, d.id, why)
    c = await store.contact(conn, d.booking_ref, d.passenger_id)
    other = c and policy.fallback_for(channel, c.channels, c.opted_out, c.email, c.phone,
                                      await store.channels_planned(conn, d))
    if other:
        await store.fall_back(conn, [(d.id, other)])
    if d.stage == replies.STAGE:  # a reply in a conversation: no notice of the ops board's
        return
    outbox.publish(topics.NOTICE_DELIVERIES, NoticeDelivered(
        disruption_id=d.disruption_id, booking_ref=d.booking_ref, passenger_id=d.passenger_id,
        stage=d.stage, channel=channel, status="failed", provider_id=provider_id,
        detail=f"not delivered ({state})" + (f"; sent by {other} instead" if other else "")),
        key=d.booking_ref, traceparent=d.traceparent)
