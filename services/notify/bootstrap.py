"""The notify service, wired: its settings parsed once, the notice handlers routed by payload (first
notices on a consumer group of their own), the providers and the senders, and the contacts API."""

import asyncio
import contextlib
import time

import aiohttp
from fastapi import FastAPI

from services.notify import contacts, desk, handlers, inbound, policy, status, what_if
from services.notify.config import Config, NotifySettings
from services.notify.providers import InfobipSms, Provider, PushGateway, SendGridEmail, SmtpEmail, TwilioSms
from services.notify.sender import Sender, Throttle
from shared import topics
from shared.consumer import Routes
from shared.events import FlightNoticeRequested, NoticeRequested
from shared.runtime import Service
from shared.what_if import MAX_BODY_BYTES


def routes(config: Config) -> Routes:
    """Notices other than first notices."""
    return Routes().on_batch(topics.NOTICES, NoticeRequested, handlers.plan_deliveries)


def first_notice_routes(config: Config) -> Routes:
    """First notices, read by a consumer group of their own: nothing else is ever ahead of them. A
    flight's come as one message for all its passengers."""
    return (Routes().on_batch(topics.FLIGHT_NOTICES, FlightNoticeRequested, handlers.plan_flight_notices)
            .on_batch(topics.FIRST_NOTICES, NoticeRequested, handlers.plan_deliveries)
            # Handled once its passengers' notices are with the providers: until then they wait,
            # and the group's lag says so to everything that stands back for them.
            .done_when(config.first_notices.handed_on))


def throttles(settings: NotifySettings) -> dict[str, Throttle]:
    """Each provider's rate and circuit breaker, shared by every sender."""
    rates = {"sms": settings.sms_rate_per_second, "email": settings.email_rate_per_second,
             "push": settings.push_rate_per_second}
    return {c: Throttle(c, rate, settings.provider_burst, policy.CircuitBreaker(
        threshold=settings.breaker_failures, cooldown=settings.breaker_cooldown_seconds,
        max_cooldown=settings.breaker_max_cooldown_seconds, clock=time.monotonic)) for c, rate in rates.items()}


def providers(settings: NotifySettings, clients: dict[str, aiohttp.ClientSession]) -> dict[str, Provider]:
    """Each channel's provider, as configured, each on its own HTTP connections."""
    email: Provider
    sms: Provider
    if settings.email_provider == "sendgrid":
        email = SendGridEmail(clients["email"], settings.email_api_url, settings.email_api_key, settings.email_from,
                              most=settings.email_batch)
    else:
        email = SmtpEmail(settings.smtp_host, settings.smtp_port, settings.email_from,
                          username=settings.smtp_username, password=settings.smtp_password,
                          start_tls=settings.smtp_start_tls,
                          connections=settings.first_notice_concurrency + settings.bulk_concurrency,
                          lookup=(clients["email"], settings.email_lookup_url, settings.email_lookup_token)
                          if settings.email_lookup_url else None)
    if settings.sms_provider == "infobip":
        sms = InfobipSms(clients["sms"], settings.sms_api_url, settings.sms_token, settings.sms_from,
                         report_url=status.infobip_report_url(settings), most=settings.sms_batch)
    else:
        sms = TwilioSms(clients["sms"], settings.sms_api_url, settings.sms_account, settings.sms_token,
                        settings.sms_from, status_callback=f"{settings.public_url}{status.SMS_STATUS_PATH}")
    return {"email": email, "sms": sms,
            "push": PushGateway(clients["push"], settings.push_webhook_url, settings.push_key_id, settings.push_secret)}


async def send_notices(service: Service[Config]) -> None:
    """The senders: several for first notices, each claiming its own small batch, and one for the
    rest, which stands back while first notices are waiting."""
    config, settings = service.config, service.config.settings
    guards = throttles(settings)
    async with contextlib.AsyncExitStack() as sessions:
        # A pool of connections per provider: texts slowed to seconds each must not hold every
        # connection while app pushes wait for one past their timeout, which counts the wait.
        clients = {channel: await sessions.enter_async_context(aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=settings.http_connections))) for channel in ("sms", "email", "push")}
        carriers = providers(settings, clients)
        first_notices_idle = asyncio.Event()
        # Small claims, so that one aircraft's notices are shared among the senders at once.
        first = [Sender(config, service.database, carriers, guards, first_notices=True,
                        concurrency=settings.first_notice_concurrency,
                        first_notices_idle=first_notices_idle, batch_size=settings.first_notice_claim)
                 for _ in range(settings.first_notice_senders)]
        bulk = Sender(config, service.database, carriers, guards, first_notices=False,
                      concurrency=settings.bulk_concurrency,
                      reserve=settings.bulk_reserve * settings.provider_burst, first_notices_idle=first_notices_idle,
                      batch_size=settings.bulk_claim)
        async with config.first_notices.listening(service.database, settings.database_url) as woken:
            await asyncio.gather(*(sender.run(woken) for sender in first), bulk.run())


def create_app(settings: NotifySettings | None = None) -> FastAPI:
    config = Config.of(settings or NotifySettings())
    service = Service(name="notify", settings=config.settings, config=config)
    app = service.app(
        title="Rebound notify",
        # Up to 1,000 contacts in one PUT; a bucket of delivery reports.
        body_limits={"/v1/contacts": contacts.MAX_BODY_BYTES,
                     status.INFOBIP_REPORT_PATH: status.INFOBIP_REPORTS_MAX_BYTES,
                     "/ops/api/what-if/notices": MAX_BODY_BYTES,
                     inbound.EMAIL_INBOUND_PATH: inbound.EMAIL_INBOUND_MAX_BYTES,
                     inbound.EMAIL_EVENTS_PATH: inbound.EMAIL_EVENTS_MAX_BYTES},
        description="Passenger notices by SMS, email and app push, each sent once. Holds contact details.",
    )
    app.include_router(contacts.router)
    app.include_router(status.router)
    app.include_router(desk.router)
    app.include_router(desk.conversation_router)
    app.include_router(inbound.router)
    app.include_router(what_if.router)
    return app
