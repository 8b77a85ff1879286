"""The ops desk's actions, as every service that carries one out records it: once per idempotency
key (asking again answers again, and does nothing more), audited (who, when, what, why) in the
service's own `desk_actions` table, and told to the others as an `AgentActed` event, all in the
transaction that does the action itself."""

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Annotated, Any, Literal, cast, get_args

import asyncpg
from fastapi import Header
from pydantic import BaseModel, Field
from pydantic_core import to_jsonable_python
from starlette.exceptions import HTTPException

from shared import db, topics
from shared.events import AgentActed, DeskAction, event_id
from shared.outbox import Outbox
from shared.settings import Settings

# An idempotency key as the IETF draft has it (draft-ietf-httpapi-idempotency-key-header): one
# the console makes for each action it asks for, e.g. a UUID.
IDEMPOTENCY_KEY = r"^[A-Za-z0-9_.:-]{8,128}$"

# An identifier a path or a body names (a disruption, a flight, a passenger): printable ASCII, as
# Rebound makes them; anything else (a NUL byte, which PostgreSQL's text refuses) is a 422.
IDENTIFIER = r"^[\x20-\x7e]+$"

# Actions audited only where they are done: no release before this one reads them on
# `agent-actions`, so telling them there would dead-letter them in a rolling upgrade.
LocalAction = Literal["apply_plan", "answer_passenger"]

ActionId = Annotated[str, Header(alias="Idempotency-Key", pattern=IDEMPOTENCY_KEY,
                                 description="One key per action: the same key again is the same action, "
                                             "done once")]


class Why(BaseModel):
    """What every action asks for: the agent's reason, kept in the audit."""

    why: str = Field(min_length=3, max_length=500, pattern=r"^[^\x00-\x1f\x7f]+$",
                     description="Why the agent does this, in a sentence: kept in the audit")


@dataclass(frozen=True)
class Done:
    """What an action did: the answer the agent sees, and what the audit records of it."""

    answer: dict[str, Any]
    booking_ref: str | None = None
    disruption_id: str | None = None
    flight_id: str | None = None
    passenger_ids: list[str] = field(default_factory=list)
    detail: dict[str, Any] = field(default_factory=dict)


class Refused(HTTPException):
    """The action cannot be done as asked (a seat gone, a limit passed): nothing was changed."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(status, detail)


async def once(conn: asyncpg.Connection, outbox: Outbox, *, action_id: str, agent: str,
               action: DeskAction | LocalAction,
               target: str, why: str, asked: dict[str, Any],
               perform: Callable[[], Awaitable[Done]]) -> dict[str, Any]:
    """Carry out `perform` once for this key, in the caller's transaction, and audit it. The same
    key again with the same request answers as the first time; with another request it is refused
    (a key names one action)."""
    # Two tabs sending the same action at once: the second waits, then finds the first's answer.
    # The lock is the service's own: one key used at two services is two actions, neither waiting.
    await db.lock(conn, [f"desk:{action_id}"])
    asked = _plain({"action": action, "target": target, "why": why, **asked})
    before = await conn.fetchrow("SELECT asked, answer FROM desk_actions WHERE action_id = $1", action_id)
    if before is not None:
        if before["asked"] != asked:
            raise Refused(422, "This Idempotency-Key was already used for a different action: "
                               "make a new key for each action")
        answer: dict[str, Any] = before["answer"]
        return answer
    done = await perform()
    acted_at = datetime.now(UTC)
    answer = _plain(done.answer)
    await conn.execute(
        "INSERT INTO desk_actions (action_id, agent, action, target, why, asked, answer, acted_at)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8)", action_id, agent, action, target, why, asked, answer, acted_at)
    if action not in get_args(DeskAction):
        return answer
    outbox.publish(topics.AGENT_ACTIONS, AgentActed(
        action_id=action_id, agent=agent, action=cast(DeskAction, action), why=why, acted_at=acted_at,
        booking_ref=done.booking_ref, disruption_id=done.disruption_id, flight_id=done.flight_id,
        passenger_ids=done.passenger_ids, detail=done.detail,
    ), key=done.booking_ref or done.flight_id or target, id=event_id("desk", outbox.source, action_id))
    return answer


async def act(pool: asyncpg.Pool, settings: Settings, source: str, *, action_id: str, agent: str,
              action: DeskAction | LocalAction, target: str, why: str, asked: dict[str, Any],
              perform: Callable[[asyncpg.Connection, Outbox], Awaitable[Done]]) -> dict[str, Any]:
    """An action as a route carries it out: `once`, in a transaction of its own, with what it
    tells the others written to the outbox in that transaction."""
    async with pool.acquire() as conn, conn.transaction():
        outbox = Outbox(settings, source=source)
        answer = await once(conn, outbox, action_id=action_id, agent=agent, action=action, target=target, why=why,
                            asked=asked, perform=lambda: perform(conn, outbox))
        await outbox.flush(conn)
    return answer


def _plain(value: dict[str, Any]) -> dict[str, Any]:
    """As JSON has it (times as text), so a repeat compares and answers alike."""
    plain: dict[str, Any] = to_jsonable_python(value)
    return plain
