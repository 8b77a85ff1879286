"""The ledger: each passenger's grants for one disrupted journey, written exactly once and only ever
raised by difference, with every change kept for audit and every increase of money queued as a
payout (paid later, outside the transaction, by the payout worker)."""

import base64
import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

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


async def record(conn: asyncpg.Connection, booking_ref: str, disruption: str, disruption_ids: list[str],
                 evaluated: list[Evaluated]) -> list[Grant]:
    """Write what changed since the last evaluation of this journey; return the new and raised grants.

    A grant already given stands: a later evaluation that owes less (the passenger then took a
    refund, so no meal) records why, and takes nothing back."""
    now = datetime.now(UTC)
    existing = {(r["passenger_id"], r["kind"]): r for r in await conn.fetch(
        "SELECT * FROM grants WHERE booking_ref = $1 AND disruption = $2 FOR UPDATE", booking_ref, disruption)}
    new_grants, raised, changes, payouts, changed = [], [], [], [], []
    for item in evaluated:
        e, key = item.entitlement, (item.passenger_id, item.entitlement.kind)
        case_json = item.case.model_dump(mode="json")
        amount = e.amount_minor
        old = existing.get(key)
        if old is None:
            grant_id = _id(booking_ref, item.passenger_id, disruption, e.kind)
            code = voucher_code() if e.kind not in MONEY else None
            expires = now + timedelta(hours=e.valid_hours) if e.valid_hours else None
            new_grants.append((grant_id, booking_ref, item.passenger_id, disruption, e.kind, e.regime, e.rule,
                               e.rule_version, e.source, e.reason, amount, e.currency, e.due_by, code, expires,
                               case_json, disruption_ids))
            delta, note = amount, "granted"
        elif old["currency"] == e.currency and amount > old["amount_minor"]:
            grant_id, code, expires = old["grant_id"], old["code"], old["expires_at"]
            delta, note = amount - old["amount_minor"], f"raised from {old['amount_minor']}"
            raised.append((grant_id, e.regime, e.rule, e.rule_version, e.source, e.reason, amount, e.due_by,
                           case_json, disruption_ids))
        else:
            if amount != old["amount_minor"] or e.currency != old["currency"] or e.rule != old["rule"]:
                changes.append((_id(old["grant_id"], "stands", amount, e.currency, e.rule, len(disruption_ids)),
                                old["grant_id"], 0, old["amount_minor"], e.rule, e.rule_version, case_json,
                                f"re-evaluated as {amount} {e.currency} under {e.rule}; the grant stands"))
            continue
        change_id = _id(grant_id, "change", amount)
        changes.append((change_id, grant_id, delta, amount, e.rule, e.rule_version, case_json, note))
        if e.kind in MONEY and delta > 0:
            payouts.append((_id(change_id, "payout"), grant_id, change_id, booking_ref, item.passenger_id, e.kind,
                            delta, e.currency))
        changed.append(Grant(passenger_id=item.passenger_id, regime=e.regime, kind=e.kind, rule=e.rule,
                             rule_version=e.rule_version, amount=from_minor(amount, e.currency),
                             added=from_minor(delta, e.currency), currency=e.currency, reason=e.reason,
                             source=e.source, due_by=e.due_by, code=code, expires_at=expires))
        metrics.GRANTS.labels(e.regime, e.kind).inc()
        metrics.GRANTED_AMOUNT.labels(e.currency, e.kind).inc(float(from_minor(delta, e.currency)))
    if new_grants:
        await conn.executemany(
            """INSERT INTO grants (grant_id, booking_ref, passenger_id, disruption, kind, regime, rule, rule_version,
                                   source, reason, amount_minor, currency, due_by, code, expires_at, evaluated,
                                   disruption_ids)
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17)""", new_grants)
    if raised:
        await conn.executemany(
            """UPDATE grants SET regime = $2, rule = $3, rule_version = $4, source = $5, reason = $6,
                                 amount_minor = $7, due_by = $8, evaluated = $9, disruption_ids = $10,
                                 updated_at = now()
               WHERE grant_id = $1""", raised)
    if changes:
        await conn.executemany(
            """INSERT INTO grant_changes (change_id, grant_id, delta_minor, amount_minor, rule, rule_version,
                                          evaluated, note)
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT DO NOTHING""", changes)
    if payouts:
        await conn.executemany(
            """INSERT INTO payouts (payout_id, grant_id, change_id, booking_ref, passenger_id, kind, amount_minor,
                                    currency)
               VALUES ($1, $2, $3, $4, $5, $6, $7, $8)""", payouts)
    return changed
