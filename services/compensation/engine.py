"""The policy engine: what a disrupted passenger is owed under each regime in force (each judged by
its own module, `regimes/`, registered in `regimes.REGIMES`), and which one applies where regimes
overlap. Pure: no I/O (the rule book is data handed in).

Every entitlement says its rule, the rule's version, its legal source and, in one sentence, why."""

import math
from decimal import ROUND_HALF_UP, Decimal

from services.compensation import rules as rb
from services.compensation.case import Case, Entitlement, Evaluation, SetAside, minor_digits
from services.compensation.facts import CARE, Facts, Grants, facts_of, money
from services.compensation.regimes import COMPENSATING, LAW, REGIMES


def evaluate(case: Case, book: rb.RuleBook) -> Evaluation:
    """Everything the passenger is owed under the rules in force on their flight's date."""
    f = facts_of(case, book)
    found: dict[str, Grants] = {}
    for regime in REGIMES:
        rules = book.in_force(regime.name, f.on)
        grants = regime.judge(f, rules) if rules is not None else None
        if grants is not None:
            found[regime.name] = grants
    set_aside = _arrival_regimes_set_aside(found, f)
    kept, overlapping = _one_of_each_kind(found)
    set_aside += overlapping
    order = {k: i for i, k in enumerate(("refund", "compensation", "meal", "hotel", "transport", "credit"))}
    kept.sort(key=lambda e: (order[e.kind], e.regime))
    return Evaluation(entitlements=[_in_payout_currency(e, case) for e in kept], set_aside=set_aside)


def _arrival_regimes_set_aside(found: dict[str, Grants], f: Facts) -> list[SetAside]:
    """EU261 or UK261 by arrival gives way where the departure's regime gave benefits and
    assistance (Art. 3(1)(b)); what it would have granted, set aside (taken out of `found`)."""
    set_aside: list[SetAside] = []
    for regime in ("EU261", "UK261"):
        helped = [r for r in COMPENSATING if r != regime and r in found and found[r].basis == "departure"
                  and _benefits_and_assistance(found[r], f)]
        if regime in found and found[regime].basis == "arrival" and helped:
            why = (f"You receive benefits and assistance under {helped[0]} where you departed, so {regime} "
                   f"does not apply as well (Art. 3(1)(b)).")
            set_aside += [SetAside(entitlement=e, why=why) for e in found.pop(regime).items]
    return set_aside


def _one_of_each_kind(found: dict[str, Grants]) -> tuple[list[Entitlement], list[SetAside]]:
    """Of the regimes' entitlements of one kind, the one that stands (credits all do), and the rest
    set aside for it."""
    kept: list[Entitlement] = []
    set_aside: list[SetAside] = []
    by_kind: dict[tuple[str, bool], list[tuple[Grants, Entitlement]]] = {}
    for grants in found.values():
        for e in grants.items:
            # The re-routing's own delay is another disruption than the one the case is about
            # (Finnair, C-832/18): its compensation stands beside the first, not in for it.
            by_kind.setdefault((e.kind, e.rule.endswith(".rerouting_compensation")), []).append((grants, e))
    for (kind, _), candidates in by_kind.items():
        if kind == "credit":
            kept += [e for _, e in candidates]
            continue
        winner, rest = _one_of(kind, candidates)
        why = _why_one(kind, winner)
        if rest:
            winner = winner.model_copy(update={"overlap": "; ".join(
                f"stands in for {e.regime} {e.kind} ({money(e.amount, e.currency)})" for e in rest)})
        kept.append(winner)
        set_aside += [SetAside(entitlement=e, why=why) for e in rest]
    return kept, set_aside


def _benefits_and_assistance(grants: Grants, f: Facts) -> bool:
    """Art. 3(1)(b): the passenger "received benefits or compensation and [was] given assistance"
    under the regime where they departed — both, not either: a regime that pays nothing, or gives
    no care, leaves the arrival regime in force (Commission guidelines C/2024/5687, 2.1.5)."""
    kinds = {e.kind for e in grants.items}
    rerouted = f.case.alternative is not None and f.case.alternative.accepted
    return bool(kinds & {"compensation", "refund"} or rerouted) and bool(kinds & set(CARE))


def _in_payout_currency(e: Entitlement, case: Case) -> Entitlement:
    """A fixed sum (compensation) in the currency the passenger is paid in, at the case's rate
    (Delfly, C-356/19); refunds go back as they were paid, care is given in kind."""
    payout = case.payout
    if payout is None or e.kind != "compensation" or e.currency == payout.currency \
            or payout.rate_from not in ("", e.currency):
        return e
    unit = Decimal(1).scaleb(-minor_digits(payout.currency))
    return e.model_copy(update={"payout_amount": (e.amount * payout.rate).quantize(unit, rounding=ROUND_HALF_UP),
                                "payout_currency": payout.currency})


def _one_of(kind: str, candidates: list[tuple[Grants, Entitlement]]) -> tuple[Entitlement, list[Entitlement]]:
    """The one entitlement of a kind that applies; the rest it stands in for."""
    if kind == "compensation":
        # The regime that covers the journey where it departs first; then EU261, UK261, APPR, US DOT.
        ranked = sorted(candidates, key=lambda c: (c[0].basis != "departure", LAW.index(c[1].regime)))
    elif kind == "refund":
        # The fare is refunded once: the largest refund, by the earliest deadline any regime sets.
        ranked = sorted(candidates, key=lambda c: (-c[1].amount, c[1].due_by.timestamp() if c[1].due_by
                                                   else math.inf, LAW.index(c[1].regime)))
    else:
        # Care is given once: the law's before the airline's own.
        ranked = sorted(candidates, key=lambda c: (c[1].regime == "AIRLINE",
                                                   LAW.index(c[1].regime) if c[1].regime in LAW else 9))
    return ranked[0][1], [e for _, e in ranked[1:]]


def _why_one(kind: str, winner: Entitlement) -> str:
    if kind == "compensation":
        return (f"One disruption is compensated once: {winner.regime} applies, as the regime of the "
                f"country the journey departs from (or the first that covers it), and the others give "
                f"way to it: a passenger is not compensated twice for the same delay (EU261 Art. 12(1)).")
    if kind == "refund":
        return f"The ticket is refunded once; {winner.regime}'s refund is paid and this one is part of it."
    return f"Care is given once: the {kind} under {winner.regime} is this one."
