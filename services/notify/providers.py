"""Adapters to the outside world's messengers: an SMTP server, a Twilio-style SMS API, and a signed
webhook to the airline's app push gateway. All three send one `Outgoing` and return the
provider's id for it."""

import asyncio
import base64
import hashlib
import hmac
import json
import quopri
import re
from dataclasses import dataclass
from email.header import Header
from email.utils import formatdate, parseaddr
from typing import Protocol
from urllib.parse import quote

import aiohttp
import aiosmtplib

from shared import signing


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


class Provider(Protocol):
    """A company that carries one channel's messages (SMS, email or push) for us."""

    async def send(self, message: Outgoing) -> str: ...

    async def accepted(self, key: str) -> str | None:
        """The provider's id for the message with this key if it has already accepted it, where
        the provider could not tell a copy sent again (None: unknown, or safe to send again)."""


async def _answer(response: aiohttp.ClientResponse) -> dict:
    """The provider's JSON answer, or the failure its status says."""
    if response.status in (408, 429) or response.status >= 500:
        raise TransientFailure(f"HTTP {response.status}")
    if response.status >= 400:
        raise PermanentFailure(f"HTTP {response.status}{provider_error_code(await response.text())}")
    return await response.json(content_type=None)


def provider_error_code(answer: str) -> str:
    """The provider's error code (` code 21211`), never its message: a provider's text may quote the
    phone number or address it refused (Twilio's 21211 does), and contact details stay in notify's
    tables, out of logs and error text."""
    try:
        code = json.loads(answer).get("code")
    except (ValueError, AttributeError):
        return ""
    return f" code {code}" if isinstance(code, int | str) and re.fullmatch(r"[A-Za-z0-9_.-]{1,32}", str(code)) else ""


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


_PLAIN_KEY = re.compile(r"[A-Za-z0-9._:+-]{1,200}")


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


class EmailProvider:
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
        if not _PLAIN_KEY.fullmatch(key):
            key = hashlib.sha256(key.encode()).hexdigest()[:40]
        return f"<{key}@rebound.notify>"

    async def accepted(self, key: str) -> str | None:
        """SMTP has no idempotency key: after a crash between the server's acceptance and its
        record, only the provider can say whether the message went."""
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

    async def send(self, message: Outgoing) -> str:
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


class SmsProvider:
    """A Twilio-style REST API: form POST with basic auth, idempotency token header, and a status
    callback URL the provider reports delivery to."""

    def __init__(self, client: aiohttp.ClientSession, base_url: str, account: str, token: str,
                 sender: str, status_callback: str | None = None) -> None:
        self._client, self._sender, self._status_callback = client, sender, status_callback
        self._url = f"{base_url.rstrip('/')}/2010-04-01/Accounts/{account}/Messages.json"
        self._auth = aiohttp.BasicAuth(account, token)

    async def accepted(self, key: str) -> None:
        return None  # the provider honours the idempotency key: a copy sent again is dropped there

    async def send(self, message: Outgoing) -> str:
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


class PushProvider:
    """The airline's app push gateway: a JSON webhook signed like Rebound's partner requests
    (`Rebound-Signature: t=…,v1=HMAC-SHA256`), with an idempotency key."""

    def __init__(self, client: aiohttp.ClientSession, url: str, key_id: str, secret: str) -> None:
        self._client, self._url, self._key_id, self._secret = client, url, key_id, secret

    async def accepted(self, key: str) -> None:
        return None  # the provider honours the idempotency key: a copy sent again is dropped there

    async def send(self, message: Outgoing) -> str:
        body = json.dumps({"passenger_id": message.to, "title": message.subject, "body": message.body},
                          ensure_ascii=False).encode()
        headers = signing.sign(self._key_id, self._secret, body) | {
            "Content-Type": "application/json", "Idempotency-Key": message.key}
        return (await _post(self._client, self._url, data=body, headers=headers))["id"]
