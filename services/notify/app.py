"""Wiring for the notify service."""

import asyncio
import time
from pathlib import Path

import aiohttp
from fastapi import FastAPI
from pydantic import model_validator

from services.notify import contacts, handlers, policy, status
from services.notify.providers import EmailChannel, PushChannel, SmsChannel
from services.notify.sender import Provider, Sender
from shared import sealed
from shared.runtime import Service
from shared.settings import Settings


class NotifySettings(Settings):
    DEVELOPMENT_SECRETS = ("sms_token", "push_secret", "notice_opening_keys")
    http_port: int = 8004
    # Notify's private keys (`id:base64,…`) for what the other services seal for it: passengers'
    # choice links, voucher codes (shared/sealed.py). Two while one replaces the other.
    notice_opening_keys: str = sealed.DEVELOPMENT_PRIVATE_KEYS
    public_url: str = "http://127.0.0.1:8004"  # where providers call back with delivery status
    smtp_host: str = "127.0.0.1"
    smtp_port: int = 2525
    smtp_username: str | None = None
    smtp_password: str | None = None
    smtp_start_tls: bool = False
    email_from: str = "Rebound Airline Care <care@rebound.example>"
    sms_api_url: str = "http://127.0.0.1:8090"
    sms_account: str = "ACsandbox"
    sms_token: str = "sandbox-token"
    sms_from: str = "+15550000000"
    push_webhook_url: str = "http://127.0.0.1:8090/v1/push"
    push_key_id: str = "notify"
    push_secret: str = "sandbox-push-secret"
    # The email provider's message lookup by Message-ID (`<url>/<Message-ID>`: 200 if accepted,
    # 404 if not), asked before resending an email whose sending a crash interrupted. Unset, such
    # an email is sent again.
    email_lookup_url: str | None = None
    email_lookup_token: str | None = None
    # Each provider's rate (messages per second) and burst, as its contract allows.
    sms_rate_per_second: float = 100.0
    email_rate_per_second: float = 100.0
    push_rate_per_second: float = 500.0
    provider_burst: int = 200
    # Concurrent calls per provider, for each path (first notices; everything else).
    first_notice_concurrency: int = 32
    # Senders of first notices, each claiming its own batch: while one waits for its batch's
    # slowest provider answer, another is already sending the next.
    first_notice_senders: int = 3
    first_notice_claim: int = 64
    bulk_concurrency: int = 16
    http_connections: int = 32  # to the SMS API and the push gateway
    # Share of each provider's burst the bulk path leaves for first notices.
    bulk_reserve: float = 0.25
    max_attempts: int = 6
    breaker_failures: int = 5
    breaker_cooldown_seconds: float = 15.0
    breaker_max_cooldown_seconds: float = 300.0

    @model_validator(mode="after")
    def _check_opening_keys(self) -> "NotifySettings":
        sealed.Opener.parse(self.notice_opening_keys)
        return self


def create_app(settings: NotifySettings | None = None) -> FastAPI:
    settings = settings or NotifySettings()
    rates = {"sms": settings.sms_rate_per_second, "email": settings.email_rate_per_second,
             "push": settings.push_rate_per_second}
    providers = {c: Provider(c, rate, settings.provider_burst, policy.CircuitBreaker(
        threshold=settings.breaker_failures, cooldown=settings.breaker_cooldown_seconds,
        max_cooldown=settings.breaker_max_cooldown_seconds, clock=time.monotonic)) for c, rate in rates.items()}

    async def send_notices(service: Service) -> None:
        connector = aiohttp.TCPConnector(limit=settings.http_connections)
        async with aiohttp.ClientSession(connector=connector) as client:
            channels = {
                "email": EmailChannel(settings.smtp_host, settings.smtp_port, settings.email_from,
                                      username=settings.smtp_username, password=settings.smtp_password,
                                      start_tls=settings.smtp_start_tls,
                                      connections=settings.first_notice_concurrency + settings.bulk_concurrency,
                                      lookup=(client, settings.email_lookup_url, settings.email_lookup_token)
                                      if settings.email_lookup_url else None),
                "sms": SmsChannel(client, settings.sms_api_url, settings.sms_account, settings.sms_token,
                                  settings.sms_from, status_callback=f"{settings.public_url}{status.SMS_STATUS_PATH}"),
                "push": PushChannel(client, settings.push_webhook_url, settings.push_key_id, settings.push_secret),
            }
            first_notices_idle = asyncio.Event()
            # Small claims, so that one aircraft's notices are shared among the senders at once.
            first = [Sender(settings, service.pool, channels, providers, first_notices=True,
                            concurrency=settings.first_notice_concurrency, max_attempts=settings.max_attempts,
                            first_notices_idle=first_notices_idle, batch_size=settings.first_notice_claim)
                     for _ in range(settings.first_notice_senders)]
            bulk = Sender(settings, service.pool, channels, providers, first_notices=False,
                          concurrency=settings.bulk_concurrency, max_attempts=settings.max_attempts,
                          reserve=settings.bulk_reserve * settings.provider_burst,
                          first_notices_idle=first_notices_idle)
            await asyncio.gather(*(sender.run() for sender in first), bulk.run())

    service = Service(name="notify", settings=settings,
                      migrations=Path(__file__).parent / "migrations", handlers=handlers.HANDLERS,
                      priority_handlers=handlers.FIRST_NOTICE_HANDLERS, background=[send_notices])
    app = service.app(
        title="Rebound notify",
        # Up to 1,000 contacts in one PUT.
        body_limits={"/v1/contacts": contacts.MAX_BODY_BYTES},
        description="Passenger notices by SMS, email and app push, each sent once. Holds contact details.",
    )
    app.include_router(contacts.router)
    app.include_router(status.router)
    return app
