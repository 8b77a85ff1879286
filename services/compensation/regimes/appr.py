"""Canada's Air Passenger Protection Regulations (SOR/2019-150). Pure: no I/O."""

import math
from datetime import timedelta
from decimal import Decimal

from services.compensation import rules as rb
from services.compensation.facts import CAUSE_WORDS, HOUR, Facts, Grants, hours, money
from shared import airports


def judge(f: Facts, r: rb.Appr) -> Grants | None:
    if not f.countries & r.territory:
        return None
    rules = r.rules
    basis = "departure" if airports.country_of(f.origin) in r.territory else "route"
    g = Grants(r.regime, r.version, basis, [])
    if f.kind not in ("delay", "cancellation", "denied_boarding"):
        return g  # downgrades have their own APPR section (s. 21), not modelled
    in_control = f.cause not in rules.control.outside_control
    fare = f.case.fare
    if f.refund_chosen and (f.kind != "delay" or (f.arrival_delay or timedelta(0))
                            >= rules.refund.delay_hours * HOUR):
        g.add("refund", "refund", f.refund_fare, fare.currency, rules.refund.source,
              "You are not taking the flight, so Canadian rules refund the unused ticket.",
              due_by=f.due_from + timedelta(days=rules.refund.due_days), pay_to="original form of payment")
    if not in_control:
        return g  # s. 10: neither compensation nor care outside the carrier's control
    if f.waiting and not f.volunteered:
        _care(f, r, g)
    if f.kind == "denied_boarding":
        _denied_boarding(f, r, g)
        return g
    if f.kind == "cancellation" and f.notice > rules.cancellation_notice.no_compensation_days * 24 * HOUR:
        return g
    _compensation(f, r, g)
    return g


def _compensation(f: Facts, r: rb.Appr, g: Grants) -> None:
    """ss. 19 and 12(2)(b): by how late the passenger arrives, or a fixed sum with a refund."""
    rules, size, cause = r.rules, f.carrier_size, CAUSE_WORDS[f.cause]
    if f.refund_chosen:
        rc = rules.refund_compensation
        amount = Decimal(rc.large if size == "large" else rc.small)
        g.add("compensation", "refund_compensation", amount, r.currency, rc.source,
              f"The {'cancellation' if f.kind == 'cancellation' else 'delay'} was caused by {cause}, within "
              f"the airline's control, and your ticket is refunded, so Canadian rules add "
              f"{money(amount, r.currency)}.", due_by=f.due_from + timedelta(days=rc.due_days),
              pay_to="original form of payment")
        return
    tiers = rules.compensation
    if f.arrival_delay is None or f.arrival_delay < tiers.from_hours[0] * HOUR:
        return
    tier = max(i for i, h in enumerate(tiers.from_hours) if f.arrival_delay >= h * HOUR)
    amount = Decimal((tiers.large if size == "large" else tiers.small)[tier])
    g.add("compensation", "compensation", amount, r.currency, tiers.source,
          f"You reach {f.destination} {hours(f.arrival_delay)} late because of {cause}, within the "
          f"{size} airline's control, so Canadian rules owe you {money(amount, r.currency)}.",
          due_by=f.due_from + timedelta(days=tiers.due_days), pay_to="original form of payment")


def _denied_boarding(f: Facts, r: rb.Appr, g: Grants) -> None:
    rules = r.rules.denied_boarding
    if f.volunteered or not f.case.presented:
        return
    late = f.arrival_delay
    tier = len(rules.from_hours) - 1 if late is None else \
        max(i for i, h in enumerate(rules.from_hours) if late >= h * HOUR or i == 0)
    amount = Decimal(rules.amounts[tier])
    when = "with no alternative" if late is None else f"and reach {f.destination} {hours(late)} late"
    g.add("compensation", "denied_boarding", amount, r.currency, rules.source,
          f"You were denied boarding against your will, for a reason within the airline's control, {when}, "
          f"so Canadian rules owe you {money(amount, r.currency)} within {rules.due_hours} hours.",
          due_by=f.disrupted.scheduled_departure + timedelta(hours=rules.due_hours), pay_to="original form of payment")


def _care(f: Facts, r: rb.Appr, g: Grants) -> None:
    care, wait = r.rules.care, f.wait
    if wait is None or wait < care.after_hours * HOUR or f.notice >= care.informed_within_hours * HOUR:
        return
    count = max(1, math.ceil(wait / (care.hours_per_meal * HOUR)))
    g.add("meal", "food_and_drink", care.meal_amount * count, r.currency, care.source,
          f"You wait {hours(wait)} for your flight, so Canadian rules give you "
          + (f"a food and drink voucher worth {money(Decimal(care.meal_amount), r.currency)}." if count == 1 else
             f"{count} food and drink vouchers worth {money(Decimal(care.meal_amount), r.currency)} each."),
          valid_hours=care.valid_hours)
    if f.nights:
        nights = f"{f.nights} night{'s' if f.nights > 1 else ''}"
        g.add("hotel", "hotel", care.hotel_per_night * f.nights, r.currency, care.source,
              f"You wait overnight for your flight, so Canadian rules give you a hotel for {nights}.",
              valid_hours=care.valid_days * 24)
        g.add("transport", "transport", care.transport_per_night * f.nights, r.currency, care.source,
              "Canadian rules also cover your transport between the airport and the hotel.",
              valid_hours=care.valid_days * 24)
