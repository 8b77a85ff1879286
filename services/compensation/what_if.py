"""A what-if plan's money: what the journeys a plan would disrupt would be owed, once rebooking
decided as it previews, judged by the same journeys and engine as a real disruption's two halves
(`handlers.journey_cases`, `engine.evaluate`), from this service's own bookings and fares. Nothing
is written: the halves are put beside the stored cases in memory only.

Beside what is owed, what the cause as given exempts: each case judged again with a cause within
the airline's control, and what that adds (the extraordinary circumstances' share: the law's
compensation, and the care and credits the airline gives only for what it controls)."""

from collections import defaultdict
from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Annotated, Any

import asyncpg
from fastapi import APIRouter, Depends

from services.compensation import engine, store
from services.compensation.case import Case, Entitlement
from services.compensation.config import Config
from services.compensation.handlers import journey_cases
from services.compensation.rules import RuleBook
from shared import low_priority
from shared.events import PassengerDisruption, RebookingDecided
from shared.http import GatedRoute, require_role
from shared.runtime import Database, service_config
from shared.what_if import MoneyAsked, MoneyPreview, Owed

router = APIRouter(prefix="/ops/api/what-if", tags=["what-if"], route_class=GatedRoute,
                   dependencies=[Depends(require_role("planner"))])

# A cause within the airline's control under every regime (the engine's own word for a cause it
# was not told): what the passengers would be owed had the cause not exempted the airline.
WITHIN_CONTROL = "operational"


def case_row(d: PassengerDisruption, r: RebookingDecided) -> dict[str, Any]:
    """The two halves of a case as `cases` would hold them once both were in."""
    return {"disruption_id": d.disruption_id, "booking_ref": d.booking_ref, "passenger_ids": d.passenger_ids,
            "kind": d.kind, "cause": d.cause, "delay_minutes": d.delay_minutes, "flight_id": d.flight.flight_id,
            "legs": [leg.model_dump(mode="json") for leg in (d.segments or [d.flight])],
            "announced_at": d.announced_at or d.accepted_at, "outcome": r.outcome,
            "arrival_delay_minutes": r.arrival_delay_minutes, "refund_due": r.refund_due,
            "segments": [leg.model_dump(mode="json") for leg in r.segments], "downgraded": r.downgraded,
            "decided_at": d.announced_at or d.accepted_at, "whole_trip": r.whole_trip}


class Judged:
    """Cases judged once each: a journey's passengers on one fare are one judgment."""

    def __init__(self, book: RuleBook) -> None:
        self.book = book
        self.seen: dict[str, list[Entitlement]] = {}
        self.seen_within: dict[str, list[Entitlement]] = {}

    def __call__(self, case: Case) -> tuple[list[Entitlement], list[Entitlement]]:
        """What the case is owed, and what it would be owed with a cause within the airline's
        control (refunds left out: they are owed whatever the cause)."""
        key = case.model_dump_json(exclude={"passenger": {"id"}, "booking": True})
        if key not in self.seen:
            self.seen[key] = engine.evaluate(case, self.book).entitlements
        if case.disruption.cause == WITHIN_CONTROL:
            return self.seen[key], []
        # What a cause exempts is never the fare (compensation, care and credits are fixed sums),
        # so the passengers of one flight and outcome are judged once, whatever each paid.
        unpriced = case.model_dump_json(exclude={"passenger": {"id"}, "booking": True, "fare": {"amount", "taxes"},
                                                 "itinerary": {"__all__": {"coupon"}}})
        if unpriced not in self.seen_within:
            within = case.model_copy(update={"disruption": case.disruption.model_copy(
                update={"cause": WITHIN_CONTROL})})
            self.seen_within[unpriced] = [e for e in engine.evaluate(within, self.book).entitlements
                                          if e.kind != "refund"]
        return self.seen[key], self.seen_within[unpriced]


Key = tuple[str, str, str, str]  # booking, journey (the ledger's key), passenger, kind


def best(evaluated: Iterable[tuple[Key, Entitlement]]) -> dict[Key, Entitlement]:
    """What the ledger would end with: one grant of each kind per passenger and journey, raised to
    the largest any evaluation of the journey gave (it is only ever raised)."""
    kept: dict[Key, Entitlement] = {}
    for key, e in evaluated:
        if key not in kept or e.amount > kept[key].amount:
            kept[key] = e
    return kept


def tally(given: Mapping[Key, Entitlement], within: Mapping[Key, Entitlement]) -> list[Owed]:
    """By currency, kind and regime: what is owed, to how many, and what the cause as given exempts
    (what a cause within the airline's control would owe, less what is owed: the law's compensation,
    and the airline's own care and credits for what it controls)."""
    amount: dict[tuple[str, str, str], Decimal] = defaultdict(Decimal)
    exempt: dict[tuple[str, str, str], Decimal] = defaultdict(Decimal)
    who: dict[tuple[str, str, str], set[tuple[str, str]]] = defaultdict(set)
    for (booking, _, passenger, _), e in given.items():
        amount[(e.currency, e.kind, e.regime)] += e.amount
        who[(e.currency, e.kind, e.regime)].add((booking, passenger))
    for key, e in within.items():
        paid = given[key].amount if key in given and given[key].currency == e.currency else Decimal(0)
        if e.amount > paid:
            exempt[(e.currency, e.kind, e.regime)] += e.amount - paid
    return [Owed(currency=c, kind=k, regime=r, amount=amount[(c, k, r)], passengers=len(who[(c, k, r)]),
                 exempt=exempt[(c, k, r)]) for c, k, r in sorted(set(amount) | set(exempt))]


async def preview(conn: asyncpg.Connection, book: RuleBook, asked: MoneyAsked) -> MoneyPreview:
    """What the plan's disruptions would be owed, from the cases stored beside them; judged on the
    low-priority thread, so that this service's consumers, and the machine's live path, go first."""
    decided = {(r.disruption_id, r.booking_ref): r for r in asked.decided}
    rows: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for d in asked.disruptions:
        if (r := decided.get((d.disruption_id, d.booking_ref))) is not None:
            rows[d.booking_ref].append(case_row(d, r))
    known = await store.known(conn, list(rows))
    return await low_priority.run(judge_all, book, known, rows, asked.disruptions)


def judge_all(book: RuleBook, known: store.Known, rows: dict[str, list[dict[str, Any]]],
              disruptions: list[PassengerDisruption]) -> MoneyPreview:
    """Each journey judged as each disruption the plan gives it completes, beside the cases stored."""
    judged = Judged(book)
    given: list[tuple[Key, Entitlement]] = []
    within: list[tuple[Key, Entitlement]] = []
    evaluated: set[tuple[str, str]] = set()
    for ref, added in rows.items():
        # In the order the halves would complete: a kept flight's decision at once, a round's later.
        # Each completion is judged on what is in by then, and the ledger keeps the most any gave.
        added.sort(key=lambda row: row["outcome"] != "kept")
        for n, row in enumerate(added):
            beside = store.Known({**known.cases, ref: [*known.cases.get(ref, []), *added[:n + 1]]}, known.bookings,
                                 known.legs, known.passengers)
            try:
                found = journey_cases(beside, ref, row["disruption_id"])
            except ValueError:  # flights no journey can be made of (one landing before it leaves)
                found = None
            if found is None:
                continue
            for passenger, cases in found.cases.items():
                evaluated.add((ref, passenger))
                for case in cases:
                    owed, could_be = judged(case)
                    given += [((ref, found.disruption, passenger, e.kind), e) for e in owed]
                    within += [((ref, found.disruption, passenger, e.kind), e) for e in could_be]
    hit = {(d.booking_ref, p) for d in disruptions for p in d.passenger_ids}
    return MoneyPreview(owed=tally(best(given), best(within)), passengers_evaluated=len(evaluated),
                        passengers_not_evaluated=len(hit - evaluated))


@router.post("/money", response_model=MoneyPreview, operation_id="preview_money")
async def preview_money(asked: MoneyAsked, pool: Database,
                        config: Annotated[Config, Depends(service_config)]) -> MoneyPreview:
    """What these disruptions, decided as given, would be owed: by currency, kind and regime, and
    what the cause as given exempts. Nothing is granted. For the disruption service's what-if."""
    async with pool.acquire() as conn, conn.transaction(readonly=True, isolation="repeatable_read"):
        return await preview(conn, config.book, asked)
