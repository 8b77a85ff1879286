"""A what-if plan's first notices: the deliveries they would be, by channel, and by the language
each passenger is written to in, from the contact details only this service holds (none of which
leaves it: only counts do); and how long they would take at the rate first notices were last
measured going out."""

import time
from collections import Counter
from collections.abc import Mapping
from typing import Annotated

import asyncpg
from fastapi import APIRouter, Depends, Request

from services.notify import policy, store
from services.notify.config import Config
from services.notify.templates import LOCALES
from shared.http import GatedRoute, require_role
from shared.runtime import Database, service_config
from shared.what_if import NoticesAsked, NoticesPreview

router = APIRouter(prefix="/ops/api/what-if", tags=["what-if"], route_class=GatedRoute,
                   dependencies=[Depends(require_role("planner"))])
# The measured rate is read again at most this often (it scans a day's deliveries).
RATE_FOR_SECONDS = 60.0


def configured_rates(config: Config) -> dict[str, float]:
    s = config.settings
    return {"sms": s.sms_rate_per_second, "email": s.email_rate_per_second, "push": s.push_rate_per_second}


def forecast(contacts: Mapping[tuple[str, str], policy.Contact], bookings: list[tuple[str, list[str]]],
             measured: Mapping[str, float], configured: Mapping[str, float]) -> NoticesPreview:
    """Deliveries by channel (`policy.reachable`, as a first notice is planned), passengers by
    language, and the time the busiest channel takes at its measured rate (else its configured one)."""
    channels, languages = Counter[str](), Counter[str]()
    unreachable = 0
    for booking_ref, passenger_ids in bookings:
        for passenger_id in passenger_ids:
            found = contacts.get((booking_ref, passenger_id))
            usable = policy.reachable(found.channels, found.opted_out, found.email, found.phone) if found else []
            channels.update(usable)
            unreachable += not usable
            if usable and found:
                languages[found.locale if found.locale in LOCALES else "en"] += 1
    rates = {c: measured.get(c) or configured[c] for c in configured}
    seconds = max((n / rates[c] for c, n in channels.items() if rates.get(c)), default=0.0)
    told = sum(channels.values())
    return NoticesPreview(by_channel=dict(channels), by_language=dict(languages), unreachable=unreachable,
                          rate_per_second=round(told / seconds, 1) if seconds else 0.0,
                          rate_measured=any(c in measured for c in channels), seconds=round(seconds, 1))


async def _rates(request: Request, pool: asyncpg.Pool) -> dict[str, float]:
    state = request.app.state
    taken, rates = getattr(state, "what_if_rates", (0.0, {}))
    if time.monotonic() - taken > RATE_FOR_SECONDS:
        async with pool.acquire() as conn:
            rates = await store.first_notice_rates(conn)
        state.what_if_rates = (time.monotonic(), rates)
    return dict(rates)


@router.post("/notices", response_model=NoticesPreview, operation_id="preview_notices")
async def preview_notices(request: Request, asked: NoticesAsked, pool: Database,
                          config: Annotated[Config, Depends(service_config)]) -> NoticesPreview:
    """The first notices these passengers would get: counts only. Nothing is planned or sent."""
    async with pool.acquire() as conn:
        contacts = await store.contacts(conn, [(b, p) for b, ps in asked.bookings for p in ps])
    return forecast(contacts, asked.bookings, await _rates(request, pool), configured_rates(config))
