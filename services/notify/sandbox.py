"""Local stand-ins for notify's providers, for the demo and the tests:
a Twilio-style SMS API and an SMTP server. Each records what it received (in memory, and as JSON
lines under REBOUND_SANDBOX_DIR) and shows it at GET /v1/sms and GET /v1/mail.

    python -m services.notify.sandbox            # SMS API on :8090, SMTP on :2525
"""

import asyncio
import json
import secrets
from datetime import UTC, datetime
from email import message_from_bytes
from email.policy import default as default_policy
from pathlib import Path
from typing import Annotated

import uvicorn
from aiosmtpd.controller import Controller
from fastapi import Depends, FastAPI, Form, Header, HTTPException
from fastapi.security import HTTPBasic, HTTPBasicCredentials
from pydantic_settings import BaseSettings, SettingsConfigDict


class SandboxSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="REBOUND_SANDBOX_", extra="ignore")

    host: str = "127.0.0.1"
    sms_port: int = 8090
    smtp_port: int = 2525
    account: str = "ACsandbox"
    token: str = "sandbox-token"
    dir: Path = Path(".local/sandbox")


class Recorder:
    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._path = path
        self.items: list[dict] = []

    def add(self, item: dict) -> None:
        self.items.append(item)
        with self._path.open("a") as f:
            f.write(json.dumps(item) + "\n")


class _MailHandler:
    def __init__(self, recorder: Recorder) -> None:
        self._recorder = recorder

    async def handle_DATA(self, server, session, envelope) -> str:  # noqa: N802 (aiosmtpd's name)
        message = message_from_bytes(envelope.original_content or envelope.content,
                                     policy=default_policy)
        self._recorder.add({
            "received_at": datetime.now(UTC).isoformat(),
            "mail_from": envelope.mail_from,
            "rcpt_tos": envelope.rcpt_tos,
            "message_id": message["Message-ID"],
            "subject": message["Subject"],
            "body": message.get_body(("plain",)).get_content(),
        })
        return "250 Message accepted for delivery"


def create_sms_app(settings: SandboxSettings, sms: Recorder, mail: Recorder) -> FastAPI:
    app = FastAPI(title="Rebound sandbox providers")
    basic = HTTPBasic()
    by_token: dict[str, dict] = {}

    def authorised(credentials: Annotated[HTTPBasicCredentials, Depends(basic)]) -> None:
        if not (secrets.compare_digest(credentials.username, settings.account)
                and secrets.compare_digest(credentials.password, settings.token)):
            raise HTTPException(401, "bad credentials")

    @app.post("/2010-04-01/Accounts/{account}/Messages.json", status_code=201,
              dependencies=[Depends(authorised)])
    async def send_sms(account: str, to: Annotated[str, Form(alias="To")],
                       sender: Annotated[str, Form(alias="From")],
                       body: Annotated[str, Form(alias="Body")],
                       token: Annotated[str | None, Header(alias="I-Twilio-Idempotency-Token")] = None,
                       ) -> dict:
        if token and token in by_token:
            return by_token[token]  # like the real API: the same token is the same message
        message = {"sid": "SM" + secrets.token_hex(16), "to": to, "from": sender, "body": body,
                   "idempotency_token": token, "received_at": datetime.now(UTC).isoformat(),
                   "status": "queued"}
        sms.add(message)
        if token:
            by_token[token] = message
        return message

    @app.get("/v1/sms")
    async def list_sms() -> list[dict]:
        return sms.items

    @app.get("/v1/mail")
    async def list_mail() -> list[dict]:
        return mail.items

    return app


async def main() -> None:
    settings = SandboxSettings()
    sms = Recorder(settings.dir / "sms.jsonl")
    mail = Recorder(settings.dir / "mail.jsonl")
    smtp = Controller(_MailHandler(mail), hostname=settings.host, port=settings.smtp_port)
    smtp.start()
    try:
        server = uvicorn.Server(uvicorn.Config(create_sms_app(settings, sms, mail),
                                               host=settings.host, port=settings.sms_port,
                                               log_level="warning"))
        await server.serve()
    finally:
        smtp.stop()


if __name__ == "__main__":
    asyncio.run(main())
