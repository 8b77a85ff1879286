"""Wiring for the notify service."""

from pathlib import Path

import httpx
from fastapi import FastAPI

from services.notify import contacts, handlers
from services.notify.providers import EmailChannel, SmsChannel
from services.notify.sender import Sender
from shared.runtime import Service
from shared.settings import Settings


class NotifySettings(Settings):
    http_port: int = 8004
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
    send_concurrency: int = 32


def create_app(settings: NotifySettings | None = None) -> FastAPI:
    settings = settings or NotifySettings()

    async def send_notices(service: Service) -> None:
        async with httpx.AsyncClient() as client:
            channels = {
                "email": EmailChannel(settings.smtp_host, settings.smtp_port, settings.email_from,
                                      username=settings.smtp_username,
                                      password=settings.smtp_password,
                                      start_tls=settings.smtp_start_tls),
                "sms": SmsChannel(client, settings.sms_api_url, settings.sms_account,
                                  settings.sms_token, settings.sms_from),
            }
            await Sender(settings, service.pool, channels,
                         concurrency=settings.send_concurrency).run()

    service = Service(name="notify", settings=settings,
                      migrations=Path(__file__).parent / "migrations", handlers=handlers.HANDLERS,
                      background=[send_notices])
    app = service.app(
        title="Rebound notify",
        description="Passenger notices by SMS and email, each sent once. Holds contact details.",
    )
    app.include_router(contacts.router)
    return app
