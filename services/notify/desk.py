"""What an ops agent reviews before a message goes to a flight's passengers: the desk template,
filled in, rendered exactly as passengers will read it, in every channel and language."""

from typing import Any

from fastapi import APIRouter, Depends
from pydantic import BaseModel, ValidationError
from starlette.exceptions import HTTPException

from services.notify.templates import LOCALES, render_notice, sms_segments
from shared import notices
from shared.http import GatedRoute, require_role

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
