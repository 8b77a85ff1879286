"""A local stand-in for the payment provider, for the demo and the tests: a Stripe-style payouts
API that honours idempotency keys, records every payout (in memory, and as JSON lines under
REBOUND_SANDBOX_DIR), and can be told to fail or slow down.

    python -m services.compensation.sandbox      # on :8091
"""

import asyncio
import json
import os
import secrets
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import uvicorn
from fastapi import Depends, FastAPI, Header, HTTPException
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from pydantic import BaseModel, Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class PaymentsSandboxSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="REBOUND_SANDBOX_", extra="ignore")

    host: str = "127.0.0.1"
    payments_port: int = 8091
    payments_key: str = "sandbox-payments-key"
    dir: Path = Path(".local/sandbox")


class PayoutRequest(BaseModel):
    amount_minor: int = Field(gt=0)
    currency: str = Field(pattern=r"^[A-Z]{3}$")
    booking_ref: str
    passenger_id: str
    kind: str
    destination: str


class Control(BaseModel):
    fail_next: int = Field(default=0, ge=0, description="Answer the next N payouts with `fail_status`")
    fail_status: int = Field(default=503, ge=400, le=599)
    delay_ms: int = Field(default=0, ge=0, le=60_000, description="Take this long over each payout")


def create_app(settings: PaymentsSandboxSettings) -> FastAPI:
    app = FastAPI(title="Rebound sandbox payment provider")
    bearer = HTTPBearer()
    path = settings.dir / "payouts.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    by_key: dict[str, tuple[dict, dict]] = {}
    control = {"state": Control()}

    def authorised(credentials: Annotated[HTTPAuthorizationCredentials, Depends(bearer)]) -> None:
        if not secrets.compare_digest(credentials.credentials, settings.payments_key):
            raise HTTPException(401, "bad key")

    @app.post("/v1/payouts", dependencies=[Depends(authorised)])
    async def pay(request: PayoutRequest,
                  key: Annotated[str | None, Header(alias="Idempotency-Key")] = None) -> JSONResponse:
        if not key:
            raise HTTPException(400, "Idempotency-Key is required")
        body = request.model_dump()
        if key in by_key:
            seen_body, payout = by_key[key]
            if seen_body != body:
                raise HTTPException(422, "Idempotency-Key reused with a different request")
            return JSONResponse(payout, headers={"Idempotent-Replayed": "true"})
        state = control["state"]
        if state.fail_next:
            control["state"] = state.model_copy(update={"fail_next": state.fail_next - 1})
            raise HTTPException(state.fail_status, "sandbox told to fail")
        if state.delay_ms:
            await asyncio.sleep(state.delay_ms / 1000)
        if key in by_key:  # the same key arrived again while this one slept
            return JSONResponse(by_key[key][1], headers={"Idempotent-Replayed": "true"})
        payout = body | {"id": f"po_{secrets.token_hex(8)}", "idempotency_key": key, "status": "paid",
                         "created_at": datetime.now(UTC).isoformat()}
        by_key[key] = (body, payout)
        with path.open("a") as f:
            f.write(json.dumps(payout) + "\n")
        return JSONResponse(payout, status_code=201)

    @app.get("/v1/payouts")
    async def payouts() -> list[dict]:
        return [payout for _, payout in by_key.values()]

    @app.post("/v1/control", dependencies=[Depends(authorised)])
    async def set_control(new: Control) -> Control:
        control["state"] = new
        return new

    return app


if __name__ == "__main__":
    os.nice(10)  # a stand-in for someone else's machine: it must not slow this one's notices
    settings = PaymentsSandboxSettings()
    uvicorn.run(create_app(settings), host=settings.host, port=settings.payments_port, log_level="warning")
