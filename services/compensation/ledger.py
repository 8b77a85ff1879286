"""The ledger: each passenger's grants for one disrupted journey, written exactly once and only ever
raised by difference, with every change kept for audit and every increase of money queued as a
payout (paid later, outside the transaction, by the payout worker)."""

import base64
import secrets
import uuid
from collections.abc import Callable, Mapping
from dataclasses import astuple, dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg

from services.compensation import metrics
from services.compensation.case import Case, Entitlement, from_minor
from shared.events import Grant

MONEY = ("refund", "compensation")  # paid to the original form of payment
_IDS = uuid.UUID("0b8a3c52-6f0e-4a53-9a43-2f7f3f6c1d11")


def voucher_code() -> str:
    """80 random bits in base32 (RFC 4648), grouped for reading aloud: RB-XXXX-XXXX-XXXX-XXXX."""
    raw = base64.b32encode(secrets.token_bytes(10)).decode()
    return "RB-" + "-".join(raw[i:i + 4] for i in range(0, 16, 4))


def _id(*parts: object) -> uuid.UUID:
    return uuid.uuid5(_IDS, "|".join(str(p) for p in parts))


@dataclass(frozen=True)
class Evaluated:
    passenger_id: str
    case: Case
    entitlement: Entitlement


@dataclass(frozen=True)
class Standing:
    """A grant as the ledger holds it."""

    grant_id: uuid.UUID
    passenger_id: str
    kind: str
    amount_minor: int
    currency: str
    rule: str
    code: str | None = None
    expires_at: datetime | None = None


@dataclass(frozen=True)
class Ticket:
    """What one passenger paid for the booking, and how much of it has been refunded so far."""

    currency: str
    paid_minor: int
    refunded_minor: int = 0


@dataclass(frozen=True)
class NewGrant:
    """A row of `grants`, in its columns' order."""

    grant_id: uuid.UUID
    booking_ref: str
    passenger_id: str
    disruption: str
    kind: str
    regime: str
    rule: str
    rule_version: str
    source: str
    reason: str
    amount_minor: int
    currency: str
    due_by: datetime | None
    code: str | None
    expires_at: datetime | None
    evaluated: dict[str, Any]  # the case, as evaluated
    disruption_ids: list[str]


@dataclass(frozen=True)
class Raised:
    """A grant raised: the `grants` columns an update sets, in the statement's order."""

    grant_id: uuid.UUID
    regime: str
    rule: str
    rule_version: str
    source: str
    reason: str
    amount_minor: int
    due_by: datetime | None
    evaluated: dict[str, Any]
    disruption_ids: list[str]


@dataclass(frozen=True)
class GrantChange:
    """A row of `grant_changes`: what one evaluation did to a grant, and why."""

    change_id: uuid.UUID
    grant_id: uuid.UUID
    delta_minor: int
    amount_minor: int
    rule: str
    rule_version: str
    evaluated: dict[str, Any]
    note: str


@dataclass(frozen=True)
class Payout:
    """A row of `payouts`: money to send; its id is the provider's idempotency key."""

    payout_id: uuid.UUID
    grant_id: uuid.UUID
    change_id: uuid.UUID
    booking_ref: str
    passenger_id: str
    kind: str
    amount_minor: int
    currency: str


@dataclass
class Plan:
    """What one evaluation writes: rows for each table, the grants announced, and how much more of
    each passenger's ticket is refunded."""

    new_grants: list[NewGrant] = field(default_factory=list)
    raised: list[Raised] = field(default_factory=list)
    changes: list[GrantChange] = field(default_factory=list)
    payouts: list[Payout] = field(default_factory=list)
    changed: list[Grant] = field(default_factory=list)
    refunded: dict[str, int] = field(default_factory=dict)


def plan(booking_ref: str, disruption: str, disruption_ids: list[str], existing: Mapping[tuple[str, str], Standing],
         tickets: Mapping[str, Ticket], evaluated: list[Evaluated], now: datetime,
         code: Callable[[], str] = voucher_code) -> Plan:
    """What changed since the last evaluation of this journey. Pure: the caller reads and writes.

    A grant already given stands: a later evaluation that owes less records why and takes nothing
    back. A refund is never more than is left of the passenger's ticket: another journey of the
    booking may have refunded part or all of it already (the database's constraint stands behind
    this; the plan keeps a correct evaluation from ever meeting it)."""
    out = Plan()
    for item in evaluated:
        e = item.entitlement
        case_json = item.case.model_dump(mode="json")
        old = existing.get((item.passenger_id, e.kind))
        amount, capped = _within_ticket(item, old, tickets.get(item.passenger_id), out.refunded)
        if old is None:
            if amount == 0 and capped:
                continue  # the ticket was refunded in full for another journey of the booking
            grant_id = _id(booking_ref, item.passenger_id, disruption, e.kind)
            voucher = code() if e.kind not in MONEY else None
            expires = now + timedelta(hours=e.valid_hours) if e.valid_hours else None
            out.new_grants.append(NewGrant(
                grant_id, booking_ref, item.passenger_id, disruption, e.kind, e.regime, e.rule, e.rule_version,
                e.source, e.reason, amount, e.currency, e.due_by, voucher, expires, case_json, disruption_ids))
            delta, note = amount, "granted" + (" (all that was left of the ticket)" if capped else "")
        elif old.currency == e.currency and amount > old.amount_minor:
            grant_id, voucher, expires = old.grant_id, old.code, old.expires_at
            delta, note = amount - old.amount_minor, f"raised from {old.amount_minor}"
            out.raised.append(Raised(grant_id, e.regime, e.rule, e.rule_version, e.source, e.reason, amount,
                                     e.due_by, case_json, disruption_ids))
        else:
            if e.amount_minor != old.amount_minor or e.currency != old.currency or e.rule != old.rule:
                out.changes.append(_stands(old, item, case_json, capped, len(disruption_ids)))
            continue
        _changed(out, booking_ref, item, grant_id, amount, delta, note, case_json, voucher, expires)
    return out


def _within_ticket(item: Evaluated, old: Standing | None, ticket: Ticket | None,
                   refunded_now: Mapping[str, int]) -> tuple[int, bool]:
    """The amount to grant, and whether what is left of the ticket capped it (a refund only)."""
    e = item.entitlement
    base = old.amount_minor if old is not None and old.currency == e.currency else 0
    if e.kind != "refund" or ticket is None or ticket.currency != e.currency or e.amount_minor <= base:
        return e.amount_minor, False
    room = ticket.paid_minor - ticket.refunded_minor - refunded_now.get(item.passenger_id, 0)
    if e.amount_minor - base > room:
        return base + max(room, 0), True
    return e.amount_minor, False


def _stands(old: Standing, item: Evaluated, case_json: dict[str, Any], capped: bool,
            evaluations: int) -> GrantChange:
    """A grant a new evaluation would change otherwise: it stands, and the ledger says why."""
    e = item.entitlement
    why = "the ticket is refunded in full already" if capped else "the grant stands"
    return GrantChange(_id(old.grant_id, "stands", e.amount_minor, e.currency, e.rule, evaluations),
                       old.grant_id, 0, old.amount_minor, e.rule, e.rule_version, case_json,
                       f"re-evaluated as {e.amount_minor} {e.currency} under {e.rule}; {why}")


def _changed(out: Plan, booking_ref: str, item: Evaluated, grant_id: uuid.UUID, amount: int, delta: int, note: str,
             case_json: dict[str, Any], voucher: str | None, expires: datetime | None) -> None:
    """A grant new or raised: its change, its payout if it is money, and its announcement."""
    e = item.entitlement
    change_id = _id(grant_id, "change", amount)
    out.changes.append(GrantChange(change_id, grant_id, delta, amount, e.rule, e.rule_version, case_json, note))
    if e.kind in MONEY and delta > 0:
        out.payouts.append(Payout(_id(change_id, "payout"), grant_id, change_id, booking_ref, item.passenger_id,
                                  e.kind, delta, e.currency))
    if e.kind == "refund":
        out.refunded[item.passenger_id] = out.refunded.get(item.passenger_id, 0) + delta
    out.changed.append(Grant(passenger_id=item.passenger_id, regime=e.regime, kind=e.kind, rule=e.rule,
                             rule_version=e.rule_version, amount=from_minor(amount, e.currency),
                             added=from_minor(delta, e.currency), currency=e.currency, reason=e.reason,
                             source=e.source, due_by=e.due_by, code=voucher, expires_at=expires))


@dataclass(frozen=True)
class Journey:
    """One disrupted journey of a booking, evaluated: the ledger's unit."""

    booking_ref: str
    disruption: str  # the journey's first disruption, which its grants are kept under
    disruption_ids: list[str]
    evaluated: list[Evaluated]


async def record(conn: asyncpg.Connection, journeys: list[Journey]) -> list[list[Grant]]:
    """Write what changed since the last evaluation of each journey (each booking at most once in
    the list), in a few statements for any number; return each journey's new and raised grants."""
    keys = [(j.booking_ref, j.disruption) for j in journeys]
    existing: dict[tuple[str, str], dict[tuple[str, str], Standing]] = {k: {} for k in keys}
    for r in await conn.fetch(
            """SELECT g.* FROM grants g JOIN unnest($1::text[], $2::text[]) AS j(booking_ref, disruption)
                 ON g.booking_ref = j.booking_ref AND g.disruption = j.disruption
               ORDER BY g.grant_id FOR UPDATE OF g""", [b for b, _ in keys], [d for _, d in keys]):
        existing[(r["booking_ref"], r["disruption"])][(r["passenger_id"], r["kind"])] = Standing(
            r["grant_id"], r["passenger_id"], r["kind"], r["amount_minor"], r["currency"].strip(), r["rule"],
            r["code"], r["expires_at"])
    wanted = sorted({(j.booking_ref, e.passenger_id) for j in journeys for e in j.evaluated})
    tickets: dict[str, dict[str, Ticket]] = {}
    for r in await conn.fetch(
            """SELECT p.booking_ref, p.passenger_id, p.currency, p.paid_minor, p.refunded_minor
               FROM passengers p JOIN unnest($1::text[], $2::text[]) AS w(booking_ref, passenger_id)
                 ON p.booking_ref = w.booking_ref AND p.passenger_id = w.passenger_id
               ORDER BY p.booking_ref, p.passenger_id FOR UPDATE OF p""",
            [b for b, _ in wanted], [p for _, p in wanted]):
        tickets.setdefault(r["booking_ref"], {})[r["passenger_id"]] = Ticket(
            r["currency"], r["paid_minor"], r["refunded_minor"])
    now = datetime.now(UTC)
    plans = [plan(j.booking_ref, j.disruption, j.disruption_ids, existing[(j.booking_ref, j.disruption)],
                  tickets.get(j.booking_ref, {}), j.evaluated, now) for j in journeys]
    await _write(conn, plans, [j.booking_ref for j in journeys])
    return [p.changed for p in plans]


async def _write(conn: asyncpg.Connection, plans: list[Plan], booking_refs: list[str]) -> None:
    done = Plan()
    for p in plans:
        done.new_grants += p.new_grants
        done.raised += p.raised
        done.changes += p.changes
        done.payouts += p.payouts
        done.changed += p.changed
    for g in done.changed:
        metrics.GRANTS.labels(g.regime, g.kind).inc()
        metrics.GRANTED_AMOUNT.labels(g.currency, g.kind).inc(float(g.added))
    if done.new_grants:
        await conn.executemany(
            """INSERT INTO grants (grant_id, booking_ref, passenger_id, disruption, kind, regime, rule, rule_version,
                                   source, reason, amount_minor, currency, due_by, code, expires_at, evaluated,
                                   disruption_ids)
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)""",
            [astuple(row) for row in done.new_grants])
    if done.raised:
        await conn.executemany(
            """UPDATE grants SET regime = $2, rule = $3, rule_version = $4, source = $5, reason = $6,
                                 amount_minor = $7, due_by = $8, evaluated = $9, disruption_ids = $10,
                                 updated_at = now()
               WHERE grant_id = $1""", [astuple(row) for row in done.raised])
    if done.changes:
        await conn.executemany(
            """INSERT INTO grant_changes (change_id, grant_id, delta_minor, amount_minor, rule, rule_version,
                                          evaluated, note)
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT DO NOTHING""",
            [astuple(row) for row in done.changes])
    if done.payouts:
        await conn.executemany(
            """INSERT INTO payouts (payout_id, grant_id, change_id, booking_ref, passenger_id, kind, amount_minor,
                                    currency)
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8)""", [astuple(row) for row in done.payouts])
    refunded = [(ref, p, n) for ref, plan_ in zip(booking_refs, plans, strict=True)
                for p, n in plan_.refunded.items() if n]
    if refunded:
        # The constraint `refunds_within_fare` fails the transaction rather than let this pass the fare.
        await conn.executemany(
            "UPDATE passengers SET refunded_minor = refunded_minor + $3 WHERE booking_ref = $1 AND passenger_id = $2",
            refunded)
