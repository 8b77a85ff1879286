"""What a disrupted passenger is owed. Pure: no I/O.

The walking skeleton knows two rules; the full policy engine (EU261/UK261, APPR, airline
commitments as versioned data) replaces this module's rule list."""

from dataclasses import dataclass
from decimal import Decimal

from shared.events import DisruptionKind, Grant, RebookingOutcome

MEAL_VOUCHER_DELAY_MINUTES = 180
MEAL_VOUCHER = Decimal("15.00")


@dataclass(frozen=True)
class PassengerFare:
    passenger_id: str
    fare: Decimal
    currency: str


@dataclass(frozen=True)
class Case:
    kind: DisruptionKind
    delay_minutes: int
    outcome: RebookingOutcome
    arrival_delay_minutes: int | None
    passengers: list[PassengerFare]
    # The passengers will not fly: no alternative, they asked for a refund, or silence counts so.
    refund_due: bool = False


def entitlements_for(case: Case) -> list[Grant]:
    owed: list[Grant] = []
    for p in case.passengers:
        if case.refund_due:
            owed.append(Grant(
                passenger_id=p.passenger_id, rule="us_dot.refund", kind="refund", amount=p.fare,
                currency=p.currency,
                source="14 CFR 260.6(b): a cancelled flight with no alternative, or whose "
                       "alternative the passenger turned down, is refunded in full, automatically",
            ))
        if _waits(case) >= MEAL_VOUCHER_DELAY_MINUTES:
            owed.append(Grant(
                passenger_id=p.passenger_id, rule="airline.meal_voucher", kind="meal_voucher",
                amount=MEAL_VOUCHER, currency="USD",
                source="Airline customer service plan: a meal voucher when the wait is 3 hours "
                       "or more",
            ))
    return owed


def _waits(case: Case) -> int:
    """How long the passenger waits beyond the plan, in minutes (0 when refunded: no wait)."""
    if case.refund_due:
        return 0
    if case.kind == "delayed":
        return case.delay_minutes
    return case.arrival_delay_minutes or 0
