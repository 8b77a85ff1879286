"""Adapters to the outside world's messengers. Two batch APIs, which high-volume senders use: one
request carries hundreds of personalised messages (Infobip's SMS API, SendGrid's mail send), and
delivery reports come back in batches. And three that take one message a request, for airlines that
use them: a Twilio-style SMS API, an SMTP server, and a signed webhook to the airline's app push
gateway. Each takes a list of `Outgoing` and gives an `Outcome` for each."""

import asyncio
import base64
import hashlib
import hmac
import json
import quopri
import re
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass
from email.header import Header
from email.utils import formatdate, parseaddr
from typing import Protocol
from urllib.parse import quote

import aiohttp
import aiosmtplib

from shared import signing
from shared.http import provider_error_code


class TransientFailure(Exception):
    """The provider may accept the same message later."""


class PermanentFailure(Exception):
    """The provider will never accept this message."""


@dataclass(frozen=True)
class Outgoing:
    key: str  # idempotency key: the same key is the same notice
    to: str  # a phone number, an email address, or (push) the passenger id
    subject: str
    body: str


@dataclass(frozen=True)
class Accepted:
    provider_id: str


@dataclass(frozen=True)
class Refused:
    """Never to be accepted: sending it again would not help."""

    detail: str


@dataclass(frozen=True)
class Deferred:
    """Not accepted now; the same message may be tomorrow (the provider failing, or out of reach)."""

    detail: str


Outcome = Accepted | Refused | Deferred


class Provider(Protocol):
    """A company that carries one channel's messages (SMS, email or push) for us."""

    @property
    def most(self) -> int:
        """The most messages one request to the provider carries."""

    async def send(self, messages: Sequence[Outgoing]) -> list[Outcome]:
        """At most `most` messages; an outcome for each, in order."""

    async def accepted(self, keys: Sequence[str]) -> dict[str, str]:
        """Of messages sent before with an uncertain end (a crash, a timeout), those the provider
        has already accepted, by key, with its id for each; empty where the provider itself drops
        a copy sent again, so sending again is safe."""


class OneAtATime(ABC):
    """A provider whose API takes one message a request."""

    most = 1

    async def send(self, messages: Sequence[Outgoing]) -> list[Outcome]:
        return [await self._outcome(m) for m in messages]

    async def _outcome(self, message: Outgoing) -> Outcome:
        try:
            return Accepted(await self.send_one(message))
        except PermanentFailure as exc:
            return Refused(str(exc))
        except TransientFailure as exc:
            return Deferred(str(exc))

    @abstractmethod
    async def send_one(self, message: Outgoing) -> str:
        """The provider's id for the message it accepted; PermanentFailure or TransientFailure."""


async def _answer(response: aiohttp.ClientResponse) -> dict:
    """The provider's JSON answer, or the failure its status says."""
    if response.status in (408, 429) or response.status >= 500:
        raise TransientFailure(f"HTTP {response.status}")
    if response.status >= 400:
        raise PermanentFailure(f"HTTP {response.status}{provider_error_code(await response.text())}")
    return await response.json(content_type=None)


# Each provider call's limit; aiohttp's client rather than httpx's on this path, because a burst
# is tens of thousands of calls and httpx's connection pool costs several times more CPU a call.
TIMEOUT = aiohttp.ClientTimeout(total=10)
TRANSPORT_ERRORS = (aiohttp.ClientError, asyncio.TimeoutError)
# A kept-alive connection the server has meanwhile closed fails on first use. The same request
# goes again at once on a new one: safe, as every request carries its idempotency key.
STALE_CONNECTION = (aiohttp.ServerDisconnectedError, aiohttp.ClientOSError)


async def _post(client: aiohttp.ClientSession, url: str, **request) -> dict:
    try:
        try:
            return await _post_once(client, url, **request)
        except STALE_CONNECTION:
            return await _post_once(client, url, **request)
    except TRANSPORT_ERRORS as exc:
        raise TransientFailure(type(exc).__name__) from exc


async def _post_once(client: aiohttp.ClientSession, url: str, **request) -> dict:
    async with client.post(url, timeout=TIMEOUT, **request) as response:
        return await _answer(response)


# A key as every provider takes it as it is, in a header, a URL, a query or a Message-ID.
PLAIN_KEY = re.compile(r"[A-Za-z0-9._:-]{1,200}")


def plain_text_email(sender: str, to: str, subject: str, message_id: str, body: str) -> bytes:
    """A plain-text UTF-8 email, built directly: the standard library's header machinery costs a
    millisecond a message, which is most of the time spent sending one."""
    subject = " ".join(subject.split())  # one line: nothing from a template can add a header
    if not subject.isascii():
        subject = Header(subject, "utf-8").encode()
    head = (f"From: {sender}\r\nTo: {to}\r\nSubject: {subject}\r\nMessage-ID: {message_id}\r\n"
            f"Date: {formatdate(usegmt=True)}\r\nMIME-Version: 1.0\r\n"
            "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n")
    return head.encode() + quopri.encodestring(body.encode()).replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


class SmtpEmail(OneAtATime):
    """SMTP, over a small pool of connections kept open between messages (a new connection per
    message costs both ends a handshake; mail servers expect senders to reuse them)."""

    def __init__(self, host: str, port: int, sender: str, *, username: str | None = None,
                 password: str | None = None, start_tls: bool = False, connections: int = 8,
                 lookup: tuple[aiohttp.ClientSession, str, str | None] | None = None) -> None:
        """`lookup`: (client, URL, bearer token) of the provider's message lookup by Message-ID,
        asked before a message whose sending a crash interrupted is sent again."""
        self._host, self._port, self._sender = host, port, sender
        self._lookup = lookup
        self._username, self._password, self._start_tls = username, password, start_tls
        self._envelope_from = parseaddr(sender)[1]
        self._idle: asyncio.Queue[aiosmtplib.SMTP] = asyncio.Queue()
        self._slots = asyncio.Semaphore(connections)

    async def _connect(self) -> aiosmtplib.SMTP:
        client = aiosmtplib.SMTP(hostname=self._host, port=self._port, timeout=10, start_tls=self._start_tls)
        await client.connect()
        if self._username:
            await client.login(self._username, self._password or "")
        return client

    @staticmethod
    def message_id(key: str) -> str:
        """Deterministic from the delivery's key; a key with anything but plain characters (a
        passenger id comes from the reservation system) is hashed, so nothing can add a header."""
        if not PLAIN_KEY.fullmatch(key):
            key = hashlib.sha256(key.encode()).hexdigest()[:40]
        return f"<{key}@rebound.notify>"

    async def accepted(self, keys: Sequence[str]) -> dict[str, str]:
        """SMTP has no idempotency key: after a crash between the server's acceptance and its
        record, only the provider can say whether the message went."""
        found = {}
        for key in keys:
            if provider_id := await self._accepted(key):
                found[key] = provider_id
        return found

    async def _accepted(self, key: str) -> str | None:
        if self._lookup is None:
            return None
        client, url, token = self._lookup
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        try:
            async with client.get(f"{url}/{quote(self.message_id(key), safe='')}", headers=headers,
                                  timeout=TIMEOUT) as response:
                if response.status == 404:
                    return None
                await _answer(response)
                return self.message_id(key)
        except TRANSPORT_ERRORS as exc:
            raise TransientFailure(f"message lookup: {type(exc).__name__}") from exc

    async def send_one(self, message: Outgoing) -> str:
        # A deterministic Message-ID lets mail systems drop a copy resent after a crash.
        message_id = self.message_id(message.key)
        raw = plain_text_email(self._sender, message.to, message.subject, message_id, message.body)
        async with self._slots:
            client = self._idle.get_nowait() if not self._idle.empty() else None
            try:
                if client is None or not client.is_connected:
                    client = await self._connect()
                await client.sendmail(self._envelope_from, [message.to], raw)
            except aiosmtplib.SMTPRecipientsRefused as exc:
                if client is not None:
                    self._idle.put_nowait(client)  # the connection is fine; this address is not
                raise PermanentFailure(f"recipient refused: {exc.recipients[0].code}") from exc
            except (aiosmtplib.SMTPException, OSError) as exc:
                if client is not None:
                    client.close()
                raise TransientFailure(type(exc).__name__) from exc
            self._idle.put_nowait(client)
        return message_id


class TwilioSms(OneAtATime):
    """A Twilio-style REST API: form POST with basic auth, idempotency token header, and a status
    callback URL the provider reports delivery to."""

    def __init__(self, client: aiohttp.ClientSession, base_url: str, account: str, token: str,
                 sender: str, status_callback: str | None = None) -> None:
        self._client, self._sender, self._status_callback = client, sender, status_callback
        self._url = f"{base_url.rstrip('/')}/2010-04-01/Accounts/{account}/Messages.json"
        self._auth = aiohttp.BasicAuth(account, token)

    async def accepted(self, keys: Sequence[str]) -> dict[str, str]:
        return {}  # the provider honours the idempotency key: a copy sent again is dropped there

    async def send_one(self, message: Outgoing) -> str:
        form = {"To": message.to, "From": self._sender, "Body": message.body}
        if self._status_callback:
            form["StatusCallback"] = self._status_callback
        answer = await _post(self._client, self._url, auth=self._auth, data=form,
                             headers={"I-Twilio-Idempotency-Token": message.key})
        return answer["sid"]


def twilio_signature(token: str, url: str, params: dict[str, str]) -> str:
    """What a Twilio-style provider signs its callbacks with: base64 HMAC-SHA1 over the URL and
    the form's keys and values in key order."""
    data = url + "".join(k + params[k] for k in sorted(params))
    return base64.b64encode(hmac.new(token.encode(), data.encode(), hashlib.sha1).digest()).decode()


class PushGateway(OneAtATime):
    """The airline's app push gateway: a JSON webhook signed like Rebound's partner requests
    (`Rebound-Signature: t=…,v2=HMAC-SHA256`, over the target and body), with an idempotency key."""

    def __init__(self, client: aiohttp.ClientSession, url: str, key_id: str, secret: str) -> None:
        self._client, self._url, self._key_id, self._secret = client, url, key_id, secret

    async def accepted(self, keys: Sequence[str]) -> dict[str, str]:
        return {}  # the provider honours the idempotency key: a copy sent again is dropped there

    async def send_one(self, message: Outgoing) -> str:
        body = json.dumps({"passenger_id": message.to, "title": message.subject, "body": message.body},
                          ensure_ascii=False).encode()
        headers = signing.sign(self._key_id, self._secret, body, signing.target_of(self._url)) | {
            "Content-Type": "application/json", "Idempotency-Key": message.key}
        return (await _post(self._client, self._url, data=body, headers=headers))["id"]


# Infobip's message status groups (infobip.com/docs, "Message status codes"): the send response's
# status is an acceptance (PENDING) or a refusal (REJECTED, or UNDELIVERABLE at once); a delivery
# report's is the message's fate.
INFOBIP_ACCEPTED = {"PENDING", "DELIVERED"}
INFOBIP_FAILED = {"UNDELIVERABLE", "EXPIRED", "REJECTED"}


class InfobipSms:
    """Infobip's SMS API (`POST /sms/3/messages`): up to `most` messages, each with its own text and
    our idempotency key as its `messageId`, in one request; a status for each in the answer; and
    delivery reports pushed to our webhook in batches (`{"results": [...]}`)."""

    def __init__(self, client: aiohttp.ClientSession, base_url: str, api_key: str, sender: str,
                 report_url: str | None = None, most: int = 500) -> None:
        self._client, self._sender, self._report_url, self.most = client, sender, report_url, most
        self._base = base_url.rstrip("/")
        self._headers = {"Authorization": f"App {api_key}", "Content-Type": "application/json",
                         "Accept": "application/json"}

    def _message(self, message: Outgoing) -> dict:
        # Infobip takes numbers in international format without the plus.
        m: dict = {"sender": self._sender, "destinations": [{"to": message.to.lstrip("+"), "messageId": message.key}],
                   "content": {"text": message.body}}
        if self._report_url:
            m["webhooks"] = {"delivery": {"url": self._report_url}, "contentType": "application/json"}
        return m

    async def send(self, messages: Sequence[Outgoing]) -> list[Outcome]:
        body = json.dumps({"messages": [self._message(m) for m in messages]}, ensure_ascii=False).encode()
        try:
            answer = await _post(self._client, f"{self._base}/sms/3/messages", data=body, headers=self._headers)
        except TransientFailure as exc:
            return [Deferred(str(exc))] * len(messages)
        except PermanentFailure as exc:  # the request itself refused: the same request never will be taken
            return [Refused(str(exc))] * len(messages)
        statuses = {m.get("messageId"): m.get("status") or {} for m in answer.get("messages", [])}
        return [infobip_outcome(m.key, statuses.get(m.key)) for m in messages]

    async def accepted(self, keys: Sequence[str]) -> dict[str, str]:
        """Infobip's message logs, by our keys (its message ids), a hundred a request."""
        found: dict[str, str] = {}
        for i in range(0, len(keys), 100):
            try:
                async with self._client.get(f"{self._base}/sms/3/logs", headers=self._headers, timeout=TIMEOUT,
                                            params=[("messageId", k) for k in keys[i:i + 100]]) as response:
                    logged = (await _answer(response)).get("results") or []
            except TRANSPORT_ERRORS as exc:
                raise TransientFailure(f"message logs: {type(exc).__name__}") from exc
            found |= {r["messageId"]: r["messageId"] for r in logged if r.get("messageId") in keys}
        return found


def infobip_outcome(key: str, status: dict | None) -> Outcome:
    if not status:
        return Deferred("not in the provider's answer")
    group, name = status.get("groupName"), status.get("name")
    code = f" {name}" if isinstance(name, str) and re.fullmatch(r"[A-Z_]{1,64}", name) else ""
    if group in INFOBIP_ACCEPTED:
        return Accepted(key)
    if group in INFOBIP_FAILED:
        return Refused(f"refused:{code or ' ' + str(group)}")
    return Deferred(f"status {group}{code}")


# The content's one substitution tag: each personalization puts its own message there.
SENDGRID_BODY = "%rebound_body%"
SENDGRID_PERSONALIZATION = re.compile(r"^personalizations\.(\d+)\b")


class SendGridEmail:
    """SendGrid's v3 mail send (`POST /v3/mail/send`): one request carries up to 1,000
    personalizations, each its own email (its recipient, subject, and body by substitution) with
    our idempotency key as a custom argument, which SendGrid's activity and events carry."""

    def __init__(self, client: aiohttp.ClientSession, base_url: str, api_key: str, sender: str,
                 most: int = 1000) -> None:
        self._client, self.most = client, most
        self._base = base_url.rstrip("/")
        name, address = parseaddr(sender)
        self._from = {"email": address} | ({"name": name} if name else {})
        self._headers = {"Authorization": f"Bearer {api_key}", "Content-Type": "application/json"}

    async def send(self, messages: Sequence[Outgoing]) -> list[Outcome]:
        outcomes: dict[int, Outcome] = {}
        for request in unique_recipients(messages):
            outcomes |= await self._send(messages, request)
        return [outcomes[i] for i in range(len(messages))]

    async def _send(self, messages: Sequence[Outgoing], request: list[int]) -> dict[int, Outcome]:
        """One request; where SendGrid names personalizations it refuses (a 400 names each by its
        place), the others go again without them."""
        refused: dict[int, Outcome] = {}
        while request:
            body = {"from": self._from, "subject": "Your trip",
                    "content": [{"type": "text/plain", "value": SENDGRID_BODY}],
                    "personalizations": [{"to": [{"email": messages[i].to}], "subject": messages[i].subject,
                                          "substitutions": {SENDGRID_BODY: messages[i].body},
                                          "custom_args": {"rebound_key": messages[i].key}} for i in request]}
            try:
                async with self._client.post(f"{self._base}/v3/mail/send", timeout=TIMEOUT, headers=self._headers,
                                             data=json.dumps(body, ensure_ascii=False).encode()) as response:
                    if response.status == 202:
                        accepted = Accepted(response.headers.get("X-Message-Id", ""))
                        return refused | dict.fromkeys(request, accepted)
                    text = await response.text()
            except TRANSPORT_ERRORS as exc:
                return refused | dict.fromkeys(request, Deferred(type(exc).__name__))
            if response.status in (408, 429) or response.status >= 500:
                return refused | dict.fromkeys(request, Deferred(f"HTTP {response.status}"))
            named = sendgrid_refused(text, len(request))
            if not named:
                return refused | dict.fromkeys(request, Refused(f"HTTP {response.status}"))
            refused |= {request[n]: Refused(f"HTTP {response.status}: refused by the provider") for n in named}
            request = [i for n, i in enumerate(request) if n not in named]
        return refused

    async def accepted(self, keys: Sequence[str]) -> dict[str, str]:
        """SendGrid's email activity, by our key (a custom argument), one query a key."""
        found = {}
        for key in keys:
            # A string in SendGrid's query language: its quote and escape characters escaped.
            query = "unique_args['rebound_key']=\"" + key.replace("\\", "\\\\").replace('"', '\\"') + '"'
            try:
                async with self._client.get(f"{self._base}/v3/messages", params={"query": query, "limit": "1"},
                                            headers=self._headers, timeout=TIMEOUT) as response:
                    messages = (await _answer(response)).get("messages") or []
            except TRANSPORT_ERRORS as exc:
                raise TransientFailure(f"email activity: {type(exc).__name__}") from exc
            if messages:
                found[key] = str(messages[0].get("msg_id") or key)
        return found


def unique_recipients(messages: Sequence[Outgoing]) -> list[list[int]]:
    """The messages in requests where no address comes twice (SendGrid refuses a request that
    names one twice), in order: a family sharing an address gets one email each."""
    requests: list[list[int]] = []
    seen: list[set[str]] = []
    for i, m in enumerate(messages):
        address = m.to.lower()
        n = next((n for n, s in enumerate(seen) if address not in s), len(seen))
        if n == len(seen):
            requests.append([])
            seen.append(set())
        requests[n].append(i)
        seen[n].add(address)
    return requests


def sendgrid_refused(answer: str, count: int) -> set[int]:
    """The places of the personalizations a SendGrid 400 names (`"field":
    "personalizations.3.to.0.email"`); empty if it names none."""
    try:
        errors = json.loads(answer).get("errors") or []
    except (ValueError, AttributeError):
        return set()
    named = set()
    for e in errors:
        match = SENDGRID_PERSONALIZATION.match(str(e.get("field") or "")) if isinstance(e, dict) else None
        if not match or int(match[1]) >= count:
            return set()  # an error about the request as a whole
        named.add(int(match[1]))
    return named
