"""Local stand-ins for notify's providers, for the demo and the tests: Infobip's SMS API and a
Twilio-style one (with delivery reports, and a control to make either fail or slow down),
SendGrid's mail send and an SMTP server, and an app push gateway. Each records what it received
(in memory, and as JSON lines under REBOUND_SANDBOX_DIR) and shows it at GET /v1/sms, /v1/mail and
/v1/push.

    python -m services.notify.sandbox            # SMS API on :8090, SMTP on :2525
"""

import asyncio
import base64
import json
import re
import secrets
import time
from datetime import UTC, datetime
from email.header import decode_header, make_header
from email.message import Message
from email.parser import BytesParser
from email.policy import compat32
from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import parse_qs

import aiohttp
import uvicorn
import uvloop
from aiosmtpd.smtp import SMTP
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from fastapi import Depends, FastAPI, Header, HTTPException, Request
from fastapi.responses import JSONResponse, Response
from fastapi.security import HTTPBasic, HTTPBasicCredentials
from pydantic import BaseModel, Field
from pydantic_settings import BaseSettings, SettingsConfigDict
from yarl import URL

from services.notify.providers import twilio_signature
from shared import signing

CALLBACK_WORKERS = 4


class SandboxSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="REBOUND_SANDBOX_", extra="ignore")

    host: str = "127.0.0.1"
    sms_port: int = 8090
    smtp_port: int = 2525
    account: str = "ACsandbox"
    token: str = "sandbox-token"  # Twilio's auth token; Infobip's API key
    email_api_key: str = "sandbox-email-key"  # SendGrid's
    push_secret: str = "sandbox-push-secret"
    # SendGrid's event-signing key (PKCS#8 DER, base64): the private half of notify's development
    # verification key (services/notify/config.py).
    email_events_private_key: str = (
        "MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgY0j101AIbw9vGRgYPX1EL2ndCVbbqDu60sqMACzVojihRANCAAQqRtMBGuWFuN"
        "/WOqknIUatQzrsfB8Mr+gKAIANWoGvKmLFxEwfSzV/w8z2yqzfDTp5AXXsVvBPDMh3CN6AcSa+")
    # Where notify takes replies and email events (the sandbox plays the passenger's phone).
    notify_url: str = "http://127.0.0.1:8004"
    inbound_secret: str = "sandbox-inbound-secret"  # Inbound Parse's Basic password
    reply_address: str = "care@rebound.example"  # mail to it is a passenger's, for notify
    report_secret: str = "sandbox-report-secret"  # Infobip's Basic password
    dir: Path = Path(".local/sandbox")


class Recorder:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._path = path
        self.items: list[dict] = []

    def add(self, item: dict) -> None:
        self.add_all([item])

    def add_all(self, items: list[dict]) -> None:
        self.items += items
        with self._path.open("a") as f:
            f.write("".join(json.dumps(item) + "\n" for item in items))


def _text(part: Message) -> str:
    payload = part.get_payload(decode=True)
    return payload.decode(part.get_content_charset() or "utf-8") if isinstance(payload, bytes) else ""


class _MailHandler:
    def __init__(self, recorder: Recorder, settings: SandboxSettings) -> None:
        self._recorder, self._settings = recorder, settings

    async def handle_DATA(self, server, session, envelope) -> str:  # noqa: N802 (aiosmtpd's name)
        if self._settings.reply_address in (r.lower() for r in envelope.rcpt_tos):
            # A passenger's email to the airline: on to notify, as SendGrid's Inbound Parse posts it.
            answer = await post_inbound_email(self._settings, envelope.original_content or envelope.content)
            return "250 Message accepted for delivery" if answer["status"] == 204 else "451 Try again later"
        received_at = datetime.now(UTC).isoformat()
        message = BytesParser(policy=compat32).parsebytes(envelope.original_content or envelope.content)
        part = next(p for p in message.walk() if p.get_content_type() == "text/plain")
        self._recorder.add({
            "received_at": received_at,
            "mail_from": envelope.mail_from,
            "rcpt_tos": envelope.rcpt_tos,
            "message_id": message["Message-ID"],
            "subject": str(make_header(decode_header(message["Subject"] or ""))),
            "body": _text(part),
        })
        return "250 Message accepted for delivery"


class SmsControl(BaseModel):
    """How the fake SMS API behaves from now on."""

    down: bool = Field(default=False, description="Answer every message with 503")
    fail_next: int = Field(default=0, ge=0, description="Answer the next N messages with 503")
    delay_ms: int = Field(default=0, ge=0, le=60_000, description="Take this long over each message")
    undeliverable: list[str] = Field(default=[], description="Numbers the network reports as undelivered")
    invalid: list[str] = Field(default=[], description="Numbers refused at once, as Twilio refuses them "
                                                       "(error 21211, whose message quotes the number)")


def create_sms_app(settings: SandboxSettings, sms: Recorder, mail: Recorder, push: Recorder) -> FastAPI:
    app = FastAPI(title="Rebound sandbox providers")
    basic = HTTPBasic()
    by_token: dict[str, dict] = {}
    pushed: dict[str, dict] = {}
    control = {"sms": SmsControl()}
    # Status callbacks wait in a queue for a few workers, as a provider's do: a task and a pooled
    # request each would leave thousands queued inside the HTTP client's pool, whose bookkeeping
    # grows with every waiting request.
    reports: asyncio.Queue[tuple[float, str, str, str]] = asyncio.Queue()
    workers: list[asyncio.Task] = []

    def authorised(credentials: Annotated[HTTPBasicCredentials, Depends(basic)]) -> None:
        if not (secrets.compare_digest(credentials.username, settings.account)
                and secrets.compare_digest(credentials.password, settings.token)):
            raise HTTPException(401, "bad credentials")

    async def report_statuses() -> None:
        """Call the sender back with each message's fate, signed as Twilio signs its callbacks."""
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=1)) as client:
            while True:
                due, url, sid, state = await reports.get()
                await asyncio.sleep(max(0.0, due - time.monotonic()))
                form = {"MessageSid": sid, "MessageStatus": state, "AccountSid": settings.account}
                try:
                    async with client.post(url, data=form, timeout=aiohttp.ClientTimeout(total=5),
                                           headers={"X-Twilio-Signature": twilio_signature(settings.token, url, form)}):
                        pass
                except (aiohttp.ClientError, TimeoutError):
                    pass  # a real provider retries a few times and gives up; so does the sandbox, at once

    def report(url: str, sid: str, state: str) -> None:
        if not workers:
            workers.extend(asyncio.create_task(report_statuses()) for _ in range(CALLBACK_WORKERS))
        reports.put_nowait((time.monotonic() + 0.05, url, sid, state))

    @app.post("/2010-04-01/Accounts/{account}/Messages.json", status_code=201)
    async def send_sms(request: Request) -> JSONResponse:
        """Twilio's Messages resource: form-encoded To, From, Body (and StatusCallback). Parsed by
        hand, so the fake provider costs this machine as little as it can."""
        scheme, _, encoded = request.headers.get("authorization", "").partition(" ")
        user, _, password = base64.b64decode(encoded or b"").decode(errors="replace").partition(":")
        if scheme.lower() != "basic" or not (secrets.compare_digest(user, settings.account)
                                             and secrets.compare_digest(password, settings.token)):
            raise HTTPException(401, "bad credentials")
        form = {k: v[0] for k, v in parse_qs((await request.body()).decode()).items()}
        if not all(form.get(k) for k in ("To", "From", "Body")):
            raise HTTPException(400, "To, From and Body are required")
        token = request.headers.get("i-twilio-idempotency-token")
        if token and token in by_token:
            return JSONResponse(by_token[token], status_code=201)  # the same token is the same message
        state = control["sms"]
        if state.down or state.fail_next:
            control["sms"] = state.model_copy(update={"fail_next": max(0, state.fail_next - 1)})
            raise HTTPException(503, "sandbox SMS API told to fail")
        if form["To"] in state.invalid:
            return JSONResponse({"code": 21211, "message": f"The 'To' number {form['To']} is not a valid phone number.",
                                 "more_info": "https://www.twilio.com/docs/errors/21211", "status": 400},
                                status_code=400)
        if state.delay_ms:
            await asyncio.sleep(state.delay_ms / 1000)
            if token and token in by_token:
                return JSONResponse(by_token[token], status_code=201)
        sid = "SM" + secrets.token_hex(16)
        message = {"sid": sid, "to": form["To"], "from": form["From"],
                   "body": form["Body"], "idempotency_token": token,
                   "received_at": datetime.now(UTC).isoformat(), "status": "queued"}
        sms.add(message)
        if token:
            by_token[token] = message
        if callback := form.get("StatusCallback"):
            report(callback, sid,
                   "undelivered" if form["To"] in state.undeliverable else "delivered")
        return JSONResponse(message, status_code=201)

    _infobip_routes(app, settings, sms, control)
    _sendgrid_routes(app, settings, mail)
    _passenger_routes(app, settings, mail)

    @app.post("/v1/control", dependencies=[Depends(authorised)])
    async def set_control(new: SmsControl) -> SmsControl:
        control["sms"] = new
        return new

    @app.post("/v1/push", status_code=201)
    async def receive_push(request: Request, key: Annotated[str | None, Header(alias="Idempotency-Key")] = None
                           ) -> dict:
        body = await request.body()
        problem = signing.verify(signing.key_digest(settings.push_secret),
                                 request.headers.get(signing.SIGNATURE_HEADER, ""), body, time.time(), 300,
                                 signing.request_target(request.scope))
        if problem:
            raise HTTPException(401, problem)
        if key and key in pushed:
            return pushed[key]
        message = json.loads(body) | {"id": "push_" + secrets.token_hex(8), "idempotency_key": key,
                                      "received_at": datetime.now(UTC).isoformat()}
        push.add(message)
        if key:
            pushed[key] = message
        return message

    @app.get("/v1/sms")
    async def list_sms(since: int = 0) -> list[dict]:
        """What was received, oldest first; `since` skips that many (to read only what is new)."""
        return sms.items[since:]

    @app.get("/v1/mail")
    async def list_mail(since: int = 0) -> list[dict]:
        """What was received, oldest first; `since` skips that many (to read only what is new)."""
        return mail.items[since:]

    @app.get("/v1/mail/{message_id}")
    async def find_mail(message_id: str) -> dict:
        """A message by its Message-ID, if it was accepted (as an email provider's message lookup)."""
        found = next((m for m in reversed(mail.items) if m["message_id"] == message_id), None)
        if found is None:
            raise HTTPException(404, "no message with this Message-ID was accepted")
        return found

    @app.get("/v1/push")
    async def list_push(since: int = 0) -> list[dict]:
        """What was received, oldest first; `since` skips that many (to read only what is new)."""
        return push.items[since:]

    return app


INFOBIP_PENDING = {"groupId": 1, "groupName": "PENDING", "id": 26, "name": "PENDING_ACCEPTED",
                   "description": "Message sent to next instance"}
INFOBIP_REJECTED = {"groupId": 5, "groupName": "REJECTED", "id": 51, "name": "MISSING_TO",
                    "description": "Missing destination."}
INFOBIP_DELIVERED = {"groupId": 3, "groupName": "DELIVERED", "id": 5, "name": "DELIVERED_TO_HANDSET",
                     "description": "Message delivered to handset"}
INFOBIP_UNDELIVERABLE = {"groupId": 2, "groupName": "UNDELIVERABLE", "id": 9, "name": "UNDELIVERABLE_NOT_DELIVERED",
                         "description": "Message sent not delivered"}
REPORT_BUCKET = 100  # Infobip's default maxBucketSize
REPORT_AFTER_S = 1.0


def _infobip_routes(app: FastAPI, settings: SandboxSettings, sms: Recorder, control: dict[str, SmsControl]) -> None:
    """Infobip's SMS API as a provider of our own: many texts a request, a status for each, and
    delivery reports pushed in buckets to each message's webhook URL (its credentials from the
    URL's user part)."""
    reports: asyncio.Queue[tuple[float, str, dict]] = asyncio.Queue()  # (due, webhook URL, report)
    by_id: dict[str, dict] = {}
    pusher: list[asyncio.Task] = []

    async def push_reports() -> None:
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=2)) as client:
            while True:
                due, url, report = await reports.get()
                # The network's time to deliver (seconds, on a real one); meanwhile a bucket fills.
                await asyncio.sleep(max(0.0, due - time.monotonic()))
                bucket = [report]
                while len(bucket) < REPORT_BUCKET and not reports.empty():
                    bucket.append(reports.get_nowait()[2])  # one webhook URL per sandbox run
                target = URL(url)
                try:
                    async with client.post(target.with_user(None), json={"results": bucket},
                                           auth=aiohttp.BasicAuth(target.user or "", target.password or ""),
                                           timeout=aiohttp.ClientTimeout(total=10)):
                        pass
                except (aiohttp.ClientError, TimeoutError):
                    pass  # a real provider retries a few times and gives up; so does the sandbox, at once

    def answer(state: SmsControl, bulk_id: str, m: dict, now: str) -> tuple[list[dict], list[dict]]:
        """One message's answers (one per destination) and what was taken of it."""
        answers, taken = [], []
        report_url = ((m.get("webhooks") or {}).get("delivery") or {}).get("url")
        for d in m["destinations"]:
            message_id, to = d.get("messageId") or secrets.token_hex(12), "+" + str(d["to"]).lstrip("+")
            if to in state.invalid:
                answers.append({"messageId": message_id, "status": INFOBIP_REJECTED, "destination": d["to"]})
                continue
            answers.append({"messageId": message_id, "status": INFOBIP_PENDING, "destination": d["to"]})
            taken.append({"sid": message_id, "idempotency_token": message_id, "bulk_id": bulk_id, "to": to,
                          "from": m.get("sender"), "body": m["content"]["text"], "received_at": now,
                          "status": "queued"})
            if report_url:
                reports.put_nowait((time.monotonic() + REPORT_AFTER_S, report_url, {
                    "bulkId": bulk_id, "messageId": message_id, "to": d["to"], "sentAt": now, "doneAt": now,
                    "messageCount": 1, "status": INFOBIP_UNDELIVERABLE if to in state.undeliverable
                    else INFOBIP_DELIVERED}))
        return answers, taken

    def authorised(request: Request) -> None:
        if not secrets.compare_digest(request.headers.get("authorization", ""), f"App {settings.token}"):
            raise HTTPException(401, "Invalid login details")

    @app.post("/sms/3/messages")
    async def infobip_send(request: Request) -> dict:
        authorised(request)
        state = control["sms"]
        if state.down or state.fail_next:
            control["sms"] = state.model_copy(update={"fail_next": max(0, state.fail_next - 1)})
            raise HTTPException(503, "sandbox SMS API told to fail")
        try:
            messages = json.loads(await request.body())["messages"]
            if not all(m["destinations"] and m["content"]["text"] for m in messages):
                raise ValueError
        except (ValueError, KeyError, TypeError):
            raise HTTPException(400, "messages, each with destinations and content.text, are required") from None
        if state.delay_ms:
            await asyncio.sleep(state.delay_ms / 1000)
        if not pusher:
            pusher.append(asyncio.create_task(push_reports()))
        bulk_id, now, answers, taken = secrets.token_hex(12), datetime.now(UTC).isoformat(), [], []
        for m in messages:
            more_answers, more_taken = answer(state, bulk_id, m, now)
            answers += more_answers
            taken += more_taken
        sms.add_all(taken)
        by_id.update((t["sid"], t) for t in taken)
        return {"bulkId": bulk_id, "messages": answers}

    @app.get("/sms/3/logs")
    async def infobip_logs(request: Request) -> dict:
        """The texts taken, by their message ids (several `messageId` parameters)."""
        authorised(request)
        found = [by_id[i] for i in request.query_params.getlist("messageId") if i in by_id]
        return {"results": [{"messageId": t["sid"], "to": t["to"].lstrip("+"), "sentAt": t["received_at"],
                             "status": INFOBIP_DELIVERED} for t in found]}


SENDGRID_QUERY = re.compile(r"unique_args\['rebound_key'\]=\"([^\"]*)\"")


def _sendgrid_problems(personalizations: list) -> list[dict]:
    """What SendGrid's mail send refuses in a request's personalizations, each naming its place."""
    if not 1 <= len(personalizations) <= 1000:
        return [{"message": "The personalization block is limited to 1000 personalizations per API request.",
                 "field": "personalizations"}]
    problems, seen = [], set()
    for n, p in enumerate(personalizations):
        for r, to in enumerate(p.get("to") or []):
            address = str(to.get("email", "")).lower()
            if "@" not in address:
                problems.append({"message": "Does not contain a valid address.",
                                 "field": f"personalizations.{n}.to.{r}.email"})
            elif address in seen:
                problems.append({"message": "Each unique email address in the personalizations array should only "
                                            "be included once.", "field": f"personalizations.{n}.to.{r}.email"})
            seen.add(address)
    return problems


def _sendgrid_routes(app: FastAPI, settings: SandboxSettings, mail: Recorder) -> None:
    """SendGrid's v3 mail send as a provider of our own: up to 1,000 personalizations a request,
    each its own email, and the email activity API by custom argument."""
    by_key: dict[str, dict] = {}

    def authorised(request: Request) -> None:
        if not secrets.compare_digest(request.headers.get("authorization", ""), f"Bearer {settings.email_api_key}"):
            raise HTTPException(401, "The provided authorization grant is invalid, expired, or revoked")

    @app.post("/v3/mail/send", status_code=202)
    async def sendgrid_send(request: Request) -> Response:
        authorised(request)
        try:
            body = json.loads(await request.body())
            personalizations, content = body["personalizations"], body["content"][0]["value"]
            sender = body["from"]["email"]
        except (ValueError, KeyError, TypeError, IndexError):
            raise HTTPException(400, "from, content and personalizations are required") from None
        if problems := _sendgrid_problems(personalizations):
            return JSONResponse({"errors": problems}, status_code=400)
        message_id, now = secrets.token_urlsafe(16), datetime.now(UTC).isoformat()
        taken = []
        for p in personalizations:
            text = content
            for tag, value in (p.get("substitutions") or {}).items():
                text = text.replace(tag, value)
            args = p.get("custom_args") or {}
            taken.append({"received_at": now, "mail_from": sender, "rcpt_tos": [t["email"] for t in p["to"]],
                          "message_id": None, "x_message_id": message_id, "custom_args": args,
                          "subject": p.get("subject") or body.get("subject", ""), "body": text})
        mail.add_all(taken)
        by_key.update((t["custom_args"]["rebound_key"], t) for t in taken if "rebound_key" in t["custom_args"])
        return Response(status_code=202, headers={"X-Message-Id": message_id})

    @app.get("/v3/messages")
    async def sendgrid_activity(request: Request, query: str = "", limit: int = 10) -> dict:
        """The email activity feed, queried by our custom argument only."""
        authorised(request)
        match = SENDGRID_QUERY.fullmatch(query)
        if not match:
            raise HTTPException(400, "the sandbox answers only unique_args['rebound_key']=\"…\"")
        found = [by_key[match[1]]] if match[1] in by_key else []
        return {"messages": [{"msg_id": m["x_message_id"], "to_email": m["rcpt_tos"][0], "subject": m["subject"],
                              "status": "delivered"} for m in found[:limit]]}


class PhoneReply(BaseModel):
    """A passenger's text back, as their phone would send it, through the SMS provider chosen."""

    sender: str = Field(alias="from", pattern=r"^\+[1-9][0-9]{6,14}$")
    text: str = Field(max_length=1600)
    via: Literal["twilio", "infobip"] = "infobip"


class MailReply(BaseModel):
    """A passenger's email back, as SendGrid's Inbound Parse would post it."""

    sender: str = Field(alias="from", max_length=320)
    text: str = Field(max_length=20_000)


class MailEvent(BaseModel):
    """What would be reported of the last email to `email`: by SendGrid's signed event webhook (a
    bounce, a drop or a complaint), or by the receiving mail server's delivery status
    notification (RFC 3464, `report: dsn`), for an airline sending by SMTP."""

    email: str = Field(max_length=320)
    event: Literal["bounce", "dropped", "spamreport"] = "bounce"
    report: Literal["sendgrid", "dsn"] = "sendgrid"


async def to_notify(settings: SandboxSettings, path: str, **request: Any) -> dict:
    """A provider's request to notify, and what notify answered."""
    async with aiohttp.ClientSession() as session, session.post(
            f"{settings.notify_url.rstrip('/')}{path}", **request) as r:
        return {"status": r.status, "body": await r.text()}


async def post_inbound_email(settings: SandboxSettings, raw: bytes) -> dict:
    """A whole email to notify, as SendGrid's Inbound Parse posts one set to send the raw message."""
    form = aiohttp.FormData(default_to_multipart=True)
    form.add_field("email", raw.decode("utf-8", "replace"))
    return await to_notify(settings, "/v1/inbound/email", data=form,
                           auth=aiohttp.BasicAuth("sendgrid", settings.inbound_secret))


def delivery_status(address: str, sent: dict) -> str:
    """A receiving server's report that `sent` could not reach `address` (RFC 3464, the shape of
    its Appendix D examples), quoting the original's headers."""
    boundary = secrets.token_hex(8)
    return (f"From: Mail Delivery Subsystem <MAILER-DAEMON@mx.example>\nTo: {sent['mail_from']}\n"
            "Subject: Undelivered Mail Returned to Sender\nMIME-Version: 1.0\n"
            f'Content-Type: multipart/report; report-type=delivery-status; boundary="{boundary}"\n\n'
            f"--{boundary}\nContent-Type: text/plain\n\n<{address}>: 550 5.1.1 no such user\n\n"
            f"--{boundary}\nContent-Type: message/delivery-status\n\nReporting-MTA: dns; mx.example\n\n"
            f"Final-Recipient: rfc822; {address}\nAction: failed\nStatus: 5.1.1\n"
            f"Diagnostic-Code: smtp; 550 5.1.1 <{address}>: no such user\n\n"
            f"--{boundary}\nContent-Type: text/rfc822-headers\n\nMessage-ID: {sent['message_id']}\n"
            f"From: {sent['mail_from']}\nTo: {address}\n\n--{boundary}--\n")


def _passenger_routes(app: FastAPI, settings: SandboxSettings, mail: Recorder) -> None:
    """The passenger's side: texts and emails back to notify, through the providers' own inbound
    formats and signatures, and the email provider's signed events (a bounce). The demo and the
    tests reply through these, so replies take the real paths."""
    key = serialization.load_der_private_key(base64.b64decode(settings.email_events_private_key), password=None)
    assert isinstance(key, ec.EllipticCurvePrivateKey)
    notify = settings.notify_url.rstrip("/")

    @app.post("/v1/phone/reply")
    async def phone_reply(reply: PhoneReply) -> dict:
        sid = "SM" + secrets.token_hex(16)
        if reply.via == "twilio":
            form = {"MessageSid": sid, "AccountSid": settings.account, "From": reply.sender,
                    "To": "+15550000000", "Body": reply.text, "NumMedia": "0"}
            signature = twilio_signature(settings.token, f"{notify}/v1/inbound/sms", form)
            return await to_notify(settings, "/v1/inbound/sms", data=form, headers={"X-Twilio-Signature": signature})
        body = {"results": [{"messageId": sid, "from": reply.sender.removeprefix("+"), "to": "15550000000",
                             "text": reply.text, "cleanText": reply.text, "keyword": reply.text.split(" ")[0],
                             "receivedAt": datetime.now(UTC).isoformat(), "smsCount": 1}],
                "messageCount": 1, "pendingMessageCount": 0}
        return await to_notify(settings, "/v1/inbound/infobip", json=body,
                          auth=aiohttp.BasicAuth("infobip", settings.report_secret))

    @app.post("/v1/mail/reply")
    async def mail_reply(reply: MailReply) -> dict:
        form = aiohttp.FormData(default_to_multipart=True)  # as Inbound Parse posts it
        headers = f"Message-ID: <{secrets.token_hex(12)}@mail.example>\nFrom: {reply.sender}\n"
        for name, value in (("from", reply.sender), ("to", settings.reply_address), ("subject", "Re: your trip"),
                            ("text", reply.text), ("headers", headers)):
            form.add_field(name, value)
        return await to_notify(settings, "/v1/inbound/email", data=form,
                               auth=aiohttp.BasicAuth("sendgrid", settings.inbound_secret))

    @app.post("/v1/mail/event")
    async def mail_event(asked: MailEvent) -> dict:
        sent = [m for m in mail.items if asked.email.lower() in (t.lower() for t in m["rcpt_tos"])]
        if not sent:
            raise HTTPException(404, "no email was sent to that address")
        last = sent[-1]
        if asked.report == "dsn":  # as a mail server reports it (RFC 3464), through Inbound Parse
            return await post_inbound_email(settings, delivery_status(asked.email, last).encode())
        event = {"email": asked.email, "event": asked.event, "timestamp": int(time.time()),
                 "sg_message_id": f"{last.get('x_message_id') or last.get('message_id')}.filter0001.1",
                 "reason": "550 5.1.1 The email account that you tried to reach does not exist",
                 **({"type": "bounce"} if asked.event == "bounce" else {}), **last.get("custom_args", {})}
        payload, stamp = json.dumps([event]).encode(), str(int(time.time()))
        signature = base64.b64encode(key.sign(stamp.encode() + payload, ec.ECDSA(hashes.SHA256()))).decode()
        return await to_notify(settings, "/v1/delivery-status/email", data=payload, headers={
            "Content-Type": "application/json", "X-Twilio-Email-Event-Webhook-Signature": signature,
            "X-Twilio-Email-Event-Webhook-Timestamp": stamp})


async def main() -> None:
    settings = SandboxSettings()
    sms = Recorder(settings.dir / "sms.jsonl")
    mail = Recorder(settings.dir / "mail.jsonl")
    push = Recorder(settings.dir / "push.jsonl")
    # The SMTP server on the same event loop as the HTTP API, not in a thread of its own: two
    # busy threads in one process take turns at the GIL and slow each other's every answer.
    handler = _MailHandler(mail, settings)
    smtp = await asyncio.get_running_loop().create_server(
        lambda: SMTP(handler, hostname=settings.host), host=settings.host, port=settings.smtp_port)
    try:
        server = uvicorn.Server(uvicorn.Config(create_sms_app(settings, sms, mail, push),
                                               host=settings.host, port=settings.sms_port,
                                               log_level="warning"))
        await server.serve()
    finally:
        smtp.close()


if __name__ == "__main__":
    uvloop.run(main())
