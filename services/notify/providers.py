"""Adapters to the outside world's messengers: an SMTP server and a Twilio-style SMS API."""

from dataclasses import dataclass
from email.message import EmailMessage

import aiosmtplib
import httpx


class TransientFailure(Exception):
    """The provider may accept the same message later."""


class PermanentFailure(Exception):
    """The provider will never accept this message."""


@dataclass(frozen=True)
class Outgoing:
    key: str  # idempotency key: the same key is the same notice
    to: str
    subject: str
    body: str


class EmailChannel:
    def __init__(self, host: str, port: int, sender: str, *, username: str | None = None,
                 password: str | None = None, start_tls: bool = False) -> None:
        self._host, self._port, self._sender = host, port, sender
        self._username, self._password, self._start_tls = username, password, start_tls

    async def send(self, message: Outgoing) -> str:
        email = EmailMessage()
        email["From"] = self._sender
        email["To"] = message.to
        email["Subject"] = message.subject
        # A deterministic Message-ID lets mail systems drop a copy resent after a crash.
        message_id = f"<{message.key}@rebound.notify>"
        email["Message-ID"] = message_id
        email.set_content(message.body)
        try:
            await aiosmtplib.send(email, hostname=self._host, port=self._port,
                                  username=self._username, password=self._password,
                                  start_tls=self._start_tls, timeout=10)
        except aiosmtplib.SMTPRecipientsRefused as exc:
            raise PermanentFailure(f"recipient refused: {exc.recipients[0].code}") from exc
        except (aiosmtplib.SMTPException, OSError) as exc:
            raise TransientFailure(type(exc).__name__) from exc
        return message_id


class SmsChannel:
    """A Twilio-style REST API: form POST with basic auth, idempotency token header."""

    def __init__(self, client: httpx.AsyncClient, base_url: str, account: str, token: str,
                 sender: str) -> None:
        self._client, self._sender = client, sender
        self._url = f"{base_url.rstrip('/')}/2010-04-01/Accounts/{account}/Messages.json"
        self._auth = (account, token)

    async def send(self, message: Outgoing) -> str:
        try:
            response = await self._client.post(
                self._url, auth=self._auth, timeout=10,
                data={"To": message.to, "From": self._sender, "Body": message.body},
                headers={"I-Twilio-Idempotency-Token": message.key},
            )
        except httpx.HTTPError as exc:
            raise TransientFailure(type(exc).__name__) from exc
        if response.status_code == 429 or response.status_code >= 500:
            raise TransientFailure(f"HTTP {response.status_code}")
        if response.status_code >= 400:
            raise PermanentFailure(f"HTTP {response.status_code}: {response.text[:200]}")
        return response.json()["sid"]
