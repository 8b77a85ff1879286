"""The notify service's settings (REBOUND_* environment variables), parsed once into `Config`."""

import base64
import binascii
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from pydantic import Field, model_validator

from shared import sealed
from shared.settings import Settings

if TYPE_CHECKING:
    from services.notify.sender import FirstNoticeQueue


# The sandbox's event-signing key pair's public half (services/notify/sandbox.py holds the
# private half): development and tests only.
DEVELOPMENT_EMAIL_EVENTS_PUBLIC_KEY = (
    "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEKkbTARrlhbjf1jqpJyFGrUM67HwfDK/oCgCADVqBrypixcRMH0s1f8PM9sqs3w06eQF17FbwTwzIdwjegHEmvg==")


def events_key(text: str) -> "ec.EllipticCurvePublicKey":
    """SendGrid's event webhook verification key, from its base64 DER form."""
    try:
        key = serialization.load_der_public_key(base64.b64decode(text, validate=True))
    except (ValueError, binascii.Error) as exc:
        raise ValueError("REBOUND_EMAIL_EVENTS_PUBLIC_KEY is not a base64 DER public key") from exc
    if not isinstance(key, ec.EllipticCurvePublicKey):
        raise ValueError("REBOUND_EMAIL_EVENTS_PUBLIC_KEY is not an elliptic-curve (ECDSA) key")
    return key


class NotifySettings(Settings):
    DEVELOPMENT_SECRETS = ("sms_token", "sms_report_secret", "email_api_key", "push_secret", "notice_opening_keys",
                           "email_inbound_secret")
    OUTBOUND_URLS = ("public_url", "sms_api_url", "email_api_url", "push_webhook_url", "email_lookup_url")
    # The port of the contacts API and the providers' delivery reports.
    http_port: int = 8004
    # Notify's private keys (`id:base64,…`) for what the other services seal for it: passengers'
    # choice links, voucher codes (shared/sealed.py). Two while one replaces the other.
    notice_opening_keys: str = sealed.DEVELOPMENT_PRIVATE_KEYS
    public_url: str = "http://127.0.0.1:8004"  # where providers call back with delivery status
    # Which company carries each channel: a batch API, which takes hundreds of messages a request
    # (Infobip for texts, SendGrid for email), or, for airlines that use them, Twilio and SMTP.
    sms_provider: Literal["infobip", "twilio"] = "infobip"
    # `sendgrid` (a batch API) or `smtp`.
    email_provider: Literal["sendgrid", "smtp"] = "sendgrid"
    # The SMTP server, with `REBOUND_EMAIL_PROVIDER=smtp`.
    smtp_host: str = "127.0.0.1"
    # Its port.
    smtp_port: int = 2525
    # Its login, if it asks for one.
    smtp_username: str | None = None
    # Its password.
    smtp_password: str | None = None
    # Upgrade the SMTP connection with STARTTLS.
    smtp_start_tls: bool = False
    # The sender every email shows.
    email_from: str = "Rebound Airline Care <care@rebound.example>"
    sms_api_url: str = "http://127.0.0.1:8090"  # Infobip's or Twilio's base URL
    sms_account: str = "ACsandbox"  # Twilio's account
    # Infobip: the API key. Twilio: the auth token, which also signs its status callbacks.
    sms_token: str = "sandbox-token"
    # Infobip: the password its delivery reports carry (HTTP Basic, user `infobip`).
    sms_report_secret: str = "sandbox-report-secret"
    email_api_url: str = "http://127.0.0.1:8090"  # SendGrid's base URL
    # SendGrid's API key.
    email_api_key: str = "sandbox-email-key"
    # The most messages one request carries, for the batch APIs (SendGrid takes at most 1,000).
    sms_batch: int = Field(default=500, ge=1, le=10_000)
    # Personalisations in one SendGrid request (at most 1,000).
    email_batch: int = Field(default=1000, ge=1, le=1000)
    # Rebooking's choice API, which a passenger's text or email answer (keep, change, refund) is
    # given to, as the choice page gives it.
    rebooking_url: str = "http://127.0.0.1:8002"
    # How soon a person answers a passenger's message: the promise in the automatic reply.
    conversation_answer_minutes: int = Field(default=30, ge=1, le=24 * 60)
    # The airline's line where a person answers at once (HELP's reply names it).
    help_line: str = "+1 555 010 0000"
    # SendGrid's event webhook verification key (base64 of the DER public key, as SendGrid's
    # settings show it): bounces and complaints are read only when signed by it.
    email_events_public_key: str = DEVELOPMENT_EMAIL_EVENTS_PUBLIC_KEY
    # The password SendGrid's Inbound Parse posts replies with (HTTP Basic, user `sendgrid`).
    email_inbound_secret: str = "sandbox-inbound-secret"
    # The sender number or name of every text.
    sms_from: str = "+15550000000"
    # The airline app's push gateway: a signed JSON webhook.
    push_webhook_url: str = "http://127.0.0.1:8090/v1/push"
    # The key id the push gateway knows our signature by.
    push_key_id: str = "notify"
    # The secret that signs each push request.
    push_secret: str = "sandbox-push-secret"
    # SMTP: the email provider's message lookup by Message-ID (`<url>/<Message-ID>`: 200 if accepted,
    # 404 if not), asked before resending an email whose sending a crash interrupted. Unset, such
    # an email is sent again.
    email_lookup_url: str | None = None
    # The bearer token for that lookup.
    email_lookup_token: str | None = None
    # Each provider's rate (messages per second) and burst, as its contract allows.
    sms_rate_per_second: float = 100.0
    # Emails per second the email provider's contract allows.
    email_rate_per_second: float = 100.0
    # Pushes per second the gateway allows.
    push_rate_per_second: float = 500.0
    # The burst above its rate each provider allows.
    provider_burst: int = 200
    # Concurrent calls per provider, for each path (first notices; everything else).
    first_notice_concurrency: int = 32
    # Senders of first notices, each claiming its own batch: while one waits for its batch's
    # provider answers, another is already rendering the next. A claim is about one request to a
    # batch API per channel.
    first_notice_senders: int = 2
    # First notices one sender claims at a time.
    first_notice_claim: int = 500
    # Later notices the bulk sender claims at a time.
    bulk_claim: int = 500
    # Concurrent calls per provider for the bulk path.
    bulk_concurrency: int = 16
    http_connections: int = 32  # to each HTTP provider: the SMS API, the email API, the push gateway
    # Share of each provider's burst the bulk path leaves for first notices.
    bulk_reserve: float = 0.25
    # A notice its provider keeps failing goes by the passenger's other channel after this many
    # tries; with none, it is tried for this long before it is recorded failed.
    max_attempts: int = 6
    # With no other channel, how long a notice is tried before it is recorded failed.
    retry_for_hours: float = 24.0
    # Failed requests in a row that open a provider's circuit breaker.
    breaker_failures: int = 5
    # How long the breaker stays open before one probe, doubling while it fails.
    breaker_cooldown_seconds: float = 15.0
    # The longest the breaker stays open.
    breaker_max_cooldown_seconds: float = 300.0

    def secrets_in_use(self) -> tuple[str, ...]:
        unused = {"sms_report_secret"} if self.sms_provider != "infobip" else set()
        unused |= {"email_api_key", "email_inbound_secret"} if self.email_provider != "sendgrid" else set()
        return tuple(name for name in self.DEVELOPMENT_SECRETS if name not in unused)

    @model_validator(mode="after")
    def _check_opening_keys(self) -> "NotifySettings":
        sealed.Opener.parse(self.notice_opening_keys)
        events_key(self.email_events_public_key)
        # The development key's private half is in the sandbox: anyone could sign with it.
        if (self.in_production and self.email_provider == "sendgrid"
                and self.email_events_public_key == DEVELOPMENT_EMAIL_EVENTS_PUBLIC_KEY):
            raise ValueError("REBOUND_EMAIL_EVENTS_PUBLIC_KEY must be SendGrid's own verification key in production")
        return self


@dataclass(frozen=True)
class Config:
    settings: NotifySettings
    opener: sealed.Opener  # opens what the other services sealed for notify (links, voucher codes)
    # What the process's first-notice senders and its first-notice consumer share (sender.py).
    first_notices: "FirstNoticeQueue"

    @classmethod
    def of(cls, settings: NotifySettings) -> "Config":
        from services.notify.sender import FirstNoticeQueue  # the sender reads this config

        return cls(settings, sealed.Opener.parse(settings.notice_opening_keys), FirstNoticeQueue())
