"""What a service set aside (shared/sql/parked.sql), as ops read it: where each came from or was
going, why, and when; never the record's bytes, which may hold what a viewer should not see."""

from datetime import datetime
from typing import Annotated

import asyncpg
from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel

from shared.http import require_role

router = APIRouter(prefix="/v1/parked", tags=["operations"])


class ParkedRecord(BaseModel):
    id: int
    stage: str
    topic: str
    origin: str | None
    bytes: int
    reason: str
    parked_at: datetime


class Parked(BaseModel):
    total: int
    latest: list[ParkedRecord]


@router.get("", response_model=Parked, operation_id="list_parked", dependencies=[Depends(require_role("ops-viewer"))])
async def list_parked(request: Request, limit: Annotated[int, Query(ge=1, le=500)] = 100) -> Parked:
    """The records this service set aside, newest first: consumed ones it could neither handle
    nor dead-letter (`consumer`), outbox rows the broker would not take (`relay`)."""
    pool: asyncpg.Pool = request.app.state.service.database
    rows = await pool.fetch("""SELECT id, stage, topic, origin, length(value) AS bytes, reason, parked_at,
                                      count(*) OVER () AS total
                               FROM parked ORDER BY id DESC LIMIT $1""", limit)
    return Parked(total=rows[0]["total"] if rows else 0,
                  latest=[ParkedRecord(**{k: r[k] for k in ParkedRecord.model_fields}) for r in rows])
