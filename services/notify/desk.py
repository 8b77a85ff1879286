"""What an ops agent reviews before a message goes to a flight's passengers (the desk template,
filled in, rendered exactly as passengers will read it, in every channel and language), and the
passengers' own messages, which an agent reads and answers."""

from typing import Annotated, Any

import asyncpg
from fastapi import APIRouter, Depends, Query, Request
from fastapi import Path as PathParam
from pydantic import BaseModel, Field, ValidationError
from starlette.exceptions import HTTPException

from services.notify import conversations, store
from services.notify.config import Config
from services.notify.templates import LOCALES, render_notice, sms_segments
from shared import notices
from shared.desk import ActionId, Done, Refused, Why, act
from shared.http import GatedRoute, key_of, require_role
from shared.outbox import Outbox
from shared.runtime import Database, running

router = APIRouter(prefix="/ops/api", tags=["ops desk"], route_class=GatedRoute,
                   dependencies=[Depends(require_role("ops-viewer"))])
# Where the passenger's name will stand.
NAME = "[name]"


class Preview(BaseModel):
    template: str
    facts: dict[str, Any]


class Rendered(BaseModel):
    channel: str
    locale: str
    subject: str
    body: str
    sms_segments: int | None = None


@router.post("/preview", response_model=list[Rendered], operation_id="preview_notice")
async def preview(asked: Preview) -> list[Rendered]:
    """A desk message as each passenger will read it, by SMS and email, in each language."""
    if asked.template != "desk_message":
        raise HTTPException(422, "Only the desk's messages can be previewed here")
    try:
        notice = notices.read(asked.template, asked.facts)
    except ValidationError as exc:
        raise HTTPException(422, "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
                            ) from exc
    shown = []
    for channel in ("sms", "email"):
        for locale in LOCALES:
            r = render_notice(notice, channel, locale, NAME)
            shown.append(Rendered(channel=channel, locale=locale, subject=r.subject, body=r.body,
                                  sms_segments=sms_segments(r.body) if channel == "sms" else None))
    return shown


# --- passengers' messages: the console's conversations ----------------------------------------

conversation_router = APIRouter(prefix="/ops/api/conversations", tags=["ops desk"], route_class=GatedRoute)
Agent = Annotated[str, Depends(require_role("ops-agent"))]


def whole_desk(request: Request) -> None:
    """What passengers write is theirs and the airline's: a key limited to some airlines or
    stations is refused here (a thread names a booking, not the flight an agent may cover)."""
    key = key_of(request)
    if key is not None and (key.carriers is not None or key.stations is not None):
        raise HTTPException(403, "Passengers' messages need a key for every airline and station")


class AgentAnswer(Why):
    text: str = Field(min_length=1, max_length=600, pattern=r"^[^\x00-\x08\x0b\x0c\x0e-\x1f\x7f]+$",
                      description="What the passenger reads, as written (one or more lines)")


@conversation_router.get("", response_model=list[store.Thread], operation_id="list_conversations",
                         dependencies=[Depends(whole_desk)])
async def list_conversations(pool: Database, _agent: Agent,
                             waiting: Annotated[bool, Query(description="Only those waiting for a person")] = True,
                             most: Annotated[int, Query(ge=1, le=200)] = 50) -> list[store.Thread]:
    """Passengers' messages for a person: those waiting, longest first (or the latest of all)."""
    return await store.threads(pool, waiting, most)


@conversation_router.get("/{conversation_id}", response_model=store.Thread, operation_id="get_conversation",
                         dependencies=[Depends(whole_desk)])
async def get_conversation(pool: Database, _agent: Agent,
                           conversation_id: Annotated[int, PathParam(ge=1, le=2**62)]) -> store.Thread:
    t = await store.thread(pool, conversation_id)
    if t is None:
        raise HTTPException(404, f"No conversation {conversation_id}")
    return t


@conversation_router.post("/{conversation_id}/answer", operation_id="answer_conversation",
                          dependencies=[Depends(whole_desk)])
async def answer_conversation(request: Request, pool: Database, agent: Agent, action_id: ActionId,
                              given: AgentAnswer,
                              conversation_id: Annotated[int, PathParam(ge=1, le=2**62)]) -> dict[str, Any]:
    """An agent's answer to a passenger, sent on the channel they wrote by, once per key, audited."""
    config: Config = running(request.app).config

    async def perform(conn: asyncpg.Connection, _outbox: Outbox) -> Done:
        sent = await conversations.answer_by_agent(conn, config, conversation_id, given.text, agent)
        if sent is None:
            raise Refused(404, f"No conversation {conversation_id}")
        return Done({"conversation_id": conversation_id, "message_id": sent})

    return await act(pool, config.settings, "rebound/notify", action_id=action_id, agent=agent,
                     action="answer_passenger", target=f"conversation {conversation_id}", why=given.why,
                     asked={"text": given.text}, perform=perform)
