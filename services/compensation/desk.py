"""The ops desk's goodwill vouchers: an agent grants a disrupted passenger a travel credit, in the
ticket's currency, up to the airline's configured limit per passenger of a booking for everything
that befell one flight (its delay growing step by step, then its cancellation, are one flight's
trouble: the limit is not given again at each step), whatever number of agents or actions add
up to it. Written to the ledger like any grant, with its change kept for audit,
told to the others and to the passenger, once per idempotency key."""

import uuid
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Annotated

import asyncpg
from fastapi import APIRouter, Depends, Request
from fastapi import Path as PathParam
from pydantic import BaseModel, Field

from services.compensation import handlers, ledger
from services.compensation.case import from_minor, to_minor
from services.compensation.config import Config
from shared import desk
from shared.events import BOOKING_REF, Grant, PassengerId
from shared.http import GatedRoute, require_covers, require_role
from shared.outbox import Outbox
from shared.runtime import Database, service_config

SOURCE = "rebound/compensation"
RULE = "AIRLINE.desk_goodwill"
# What the passenger reads (the agent's own reason stays in the audit).
REASON = "A goodwill voucher from our team, with our apologies for the disruption to your trip."
VALID_FOR = timedelta(days=365)


class Voucher(desk.Why):
    passenger_id: PassengerId
    amount: Decimal = Field(gt=0, max_digits=9, decimal_places=2)
    currency: str = Field(pattern=r"^[A-Z]{3}$")


def over_limit(given_minor: int, asked_minor: int, limit_minor: int | None) -> str | None:
    """Why this voucher may not be given, or None: the passenger's goodwill for this flight's
    disruptions, with it, would pass the limit (or the currency has none)."""
    if limit_minor is None:
        return "No goodwill limit is configured for this currency: vouchers cannot be given in it"
    if given_minor + asked_minor > limit_minor:
        return (f"This would take the passenger's goodwill for this flight past the limit: "
                f"{given_minor} of {limit_minor} (minor units) already given")
    return None


async def grant(conn: asyncpg.Connection, outbox: Outbox, config: Config, disruption_id: str, booking_ref: str,
                given: Voucher, action_id: str, agent: str) -> desk.Done:
    ticket = await conn.fetchrow(
        "SELECT currency FROM passengers WHERE booking_ref = $1 AND passenger_id = $2 FOR UPDATE",
        booking_ref, given.passenger_id)
    case = await conn.fetchval("SELECT 1 FROM cases WHERE disruption_id = $1 AND booking_ref = $2",
                               disruption_id, booking_ref)
    if ticket is None or case is None:
        raise desk.Refused(404, f"No passenger {given.passenger_id!r} of {booking_ref} in this disruption")
    if given.currency != ticket["currency"]:
        raise desk.Refused(422, f"Vouchers are given in the ticket's currency, {ticket['currency']}, "
                                f"not {given.currency}")
    # Every voucher this passenger had for any disruption of the same flight (a delay that grew,
    # then the cancellation: each its own disruption).
    given_minor = await conn.fetchval(
        """SELECT coalesce(sum(g.amount_minor), 0) FROM grants g
           WHERE g.booking_ref = $1 AND g.passenger_id = $2 AND g.rule = $3 AND g.currency = $5
             AND g.disruption_ids && ARRAY(
                 SELECT c.disruption_id FROM cases c
                 WHERE c.booking_ref = $1 AND (c.disruption_id = $4 OR c.flight_id = (
                     SELECT flight_id FROM cases WHERE disruption_id = $4 AND booking_ref = $1)))""",
        booking_ref, given.passenger_id, RULE, disruption_id, given.currency)
    limits = config.goodwill_limits
    asked = to_minor(given.amount, given.currency)
    refused = over_limit(given_minor, asked,
                         to_minor(limits[given.currency], given.currency) if given.currency in limits else None)
    if refused:
        raise desk.Refused(422, refused)
    grant_id, code, expires = uuid.uuid4(), ledger.voucher_code(), datetime.now(UTC) + VALID_FOR
    audit = {"agent": agent, "action_id": action_id, "why": given.why}
    await conn.execute(
        """INSERT INTO grants (grant_id, booking_ref, passenger_id, disruption, kind, regime, rule, rule_version,
                               source, reason, amount_minor, currency, code, expires_at, evaluated, disruption_ids)
           VALUES ($1, $2, $3, $4, 'credit', 'AIRLINE', $5, '1', $6, $7, $8, $9, $10, $11, $12, $13)""",
        grant_id, booking_ref, given.passenger_id, f"desk/{action_id}", RULE, f"Ops desk: {agent}", REASON, asked,
        given.currency, code, expires, audit, [disruption_id])
    await conn.execute(
        """INSERT INTO grant_changes (change_id, grant_id, delta_minor, amount_minor, rule, rule_version,
                                      evaluated, note)
           VALUES ($1, $2, $3, $3, $4, '1', $5, $6)""",
        uuid.uuid4(), grant_id, asked, RULE, audit, f"goodwill voucher by {agent}: {given.why}")
    amount = from_minor(asked, given.currency)
    voucher = Grant(passenger_id=given.passenger_id, regime="AIRLINE", kind="credit", rule=RULE, rule_version="1",
                    amount=amount, added=amount, currency=given.currency, reason=REASON,
                    source=f"Ops desk: {agent}", code=code, expires_at=expires)
    handlers.announce(outbox, disruption_id, booking_ref, [handlers.sealed(voucher, config.sealer)], revision=0,
                      at=datetime.now(UTC), told_as=f"desk/{action_id}")
    return desk.Done({"booking_ref": booking_ref, "passenger_id": given.passenger_id, "amount": str(amount),
                      "currency": given.currency, "expires_at": expires.isoformat()},
                     booking_ref=booking_ref, disruption_id=disruption_id, passenger_ids=[given.passenger_id],
                     detail={"kind": "credit", "amount": str(amount), "currency": given.currency})


class Limits(BaseModel):
    goodwill: dict[str, Decimal] = Field(description="The most goodwill per passenger of a booking for one flight's "
                                                     "disruptions, by the ticket's currency")


Configured = Annotated[Config, Depends(service_config)]
router = APIRouter(prefix="/ops/api", tags=["ops desk"], route_class=GatedRoute)


@router.get("/limits", response_model=Limits, operation_id="get_goodwill_limits",
            dependencies=[Depends(require_role("ops-viewer"))])
async def get_limits(config: Configured) -> Limits:
    return Limits(goodwill=config.goodwill_limits)


@router.post("/cases/{disruption_id}/{booking_ref}/voucher", operation_id="grant_voucher",
             responses={404: {"description": "No such passenger"}, 422: {"description": "Past the limit"}})
async def grant_voucher(request: Request,
                        disruption_id: Annotated[str, PathParam(max_length=80, pattern=desk.IDENTIFIER)],
                        booking_ref: Annotated[str, PathParam(pattern=BOOKING_REF)], given: Voucher,
                        agent: Annotated[str, Depends(require_role("ops-agent"))], action_id: desk.ActionId,
                        pool: Database, config: Configured) -> dict[str, object]:
    """Give one passenger a goodwill travel credit, within the configured limit."""
    if f := await pool.fetchrow("SELECT f.carrier, f.origin, f.destination FROM cases c JOIN flights f USING"
                                " (flight_id) WHERE c.disruption_id = $1 AND c.booking_ref = $2 LIMIT 1",
                                disruption_id, booking_ref):
        require_covers(request, f["carrier"], f["origin"], f["destination"])
    return await desk.act(
        pool, config.settings, SOURCE, action_id=action_id, agent=agent, action="voucher", target=booking_ref,
        why=given.why, asked={"disruption_id": disruption_id, **given.model_dump(exclude={"why"})},
        perform=lambda conn, outbox: grant(conn, outbox, config, disruption_id, booking_ref, given, action_id, agent))
