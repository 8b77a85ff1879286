"""Delivery status from providers: the SMS provider calls back when a message reaches the handset
or does not. A message the network could not deliver is tried by the passenger's other channel."""

import hmac
from typing import Annotated
from urllib.parse import parse_qs

from fastapi import APIRouter, Header, HTTPException, Request, Response

from services.notify import policy
from services.notify.config import NotifySettings
from services.notify.providers import twilio_signature
from services.notify.sender import fall_back
from shared import topics
from shared.events import NoticeDelivered
from shared.http import GatedRoute
from shared.outbox import Outbox
from shared.runtime import Database, running

SMS_STATUS_PATH = "/v1/delivery-status/sms"
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
        await pool.execute("UPDATE deliveries SET provider_status = $2, provider_status_at = now()"
                           " WHERE provider_id = $1 AND channel = 'sms'", sid, state)
        return
    outbox = Outbox(settings, source="rebound/notify")
    async with pool.acquire() as conn, conn.transaction():
        d = await conn.fetchrow(
            """UPDATE deliveries SET provider_status = $2, provider_status_at = now()
               WHERE provider_id = $1 AND channel = 'sms' RETURNING *""", sid, state)
        if d is None:
            return  # not ours, or not yet recorded: nothing to do
        # Only a failure is news to anyone else (the ops board already counts the passenger as told
        # when the provider took the text).
        if d["status"] == "sent":
            await conn.execute("UPDATE deliveries SET status = 'failed', detail = $2 WHERE id = $1",
                               d["id"], f"the network reported the text {state}")
            c = await conn.fetchrow("SELECT * FROM contacts WHERE passenger_id = $1", d["passenger_id"])
            siblings = [r["channel"] for r in await conn.fetch(
                "SELECT channel FROM deliveries WHERE passenger_id = $1 AND disruption_id = $2 AND stage = $3"
                " AND revision = $4", d["passenger_id"], d["disruption_id"], d["stage"], d["revision"])]
            other = c and policy.fallback_for("sms", c["channels"], c["opted_out"], c["email"], c["phone"], siblings)
            if other:
                await fall_back(conn, [(d["id"], other)])
            outbox.publish(topics.NOTICE_DELIVERIES, NoticeDelivered(
                disruption_id=d["disruption_id"], booking_ref=d["booking_ref"], passenger_id=d["passenger_id"],
                stage=d["stage"], channel="sms", status="failed", provider_id=sid,
                detail=f"not delivered ({state})" + (f"; sent by {other} instead" if other else "")),
                key=d["booking_ref"], traceparent=d["traceparent"])
        await outbox.flush(conn)
