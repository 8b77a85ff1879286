"""The airline's own commitments: meals, hotels and travel credits beyond the law. Pure: no I/O."""

from services.compensation import rules as rb
from services.compensation.facts import CAUSE_WORDS, HOUR, Facts, Grants, hours


def judge(f: Facts, r: rb.Airlines) -> Grants:
    plan = r.plan_of(f.operator)
    g = Grants(r.regime, r.version, "route", [])
    if f.cause not in plan.controllable:
        return g
    _care(f, plan, g)
    _credit(f, plan, g)
    return g


def _care(f: Facts, plan: rb.Commitments, g: Grants) -> None:
    """A meal for a long wait, and a hotel with its transport for each night the wait takes."""
    cause, wait = CAUSE_WORDS[f.cause], f.wait
    if not f.waiting or wait is None or f.kind == "downgrade" or f.volunteered or f.told_ahead(plan.care_notice_days):
        return
    if wait >= plan.meal.after_hours * HOUR:
        g.add("meal", "meal", plan.meal.amount, plan.currency, plan.source,
              f"You wait {hours(wait)} because of {cause}, so we give you a meal voucher.",
              valid_hours=plan.meal.valid_hours)
    if f.nights:
        g.add("hotel", "hotel", plan.hotel.amount_per_night * f.nights, plan.currency, plan.source,
              f"Your new flight leaves on a later day because of {cause}, so we give you a hotel.",
              valid_hours=plan.hotel.valid_days * 24)
        g.add("transport", "transport", plan.transport.amount_per_night * f.nights, plan.currency,
              plan.source, "We also pay your transport between the airport and the hotel.",
              valid_hours=plan.transport.valid_days * 24)


def _credit(f: Facts, plan: rb.Commitments, g: Grants) -> None:
    """A travel credit for a late cancellation, or for the delay a passenger flew with."""
    cause, credit = CAUSE_WORDS[f.cause], plan.credit
    if f.kind == "cancellation" and f.notice < credit.cancellation_within_hours * HOUR:
        g.add("credit", "cancellation_credit", credit.cancellation_amount, plan.currency, plan.source,
              f"We cancelled your flight less than {credit.cancellation_within_hours:g} hours before departure "
              f"because of {cause}, so we add a travel credit, on top of anything the law gives.",
              valid_hours=credit.valid_days * 24)
    elif f.kind == "delay" and f.waiting and f.arrival_delay is not None \
            and f.arrival_delay >= credit.from_hours[0] * HOUR:  # for the delay suffered: the passenger flew
        tier = max(i for i, h in enumerate(credit.from_hours) if f.arrival_delay >= h * HOUR)
        g.add("credit", "delay_credit", credit.amounts[tier], plan.currency, plan.source,
              f"You arrive {hours(f.arrival_delay)} late because of {cause}, so we add a travel credit, on "
              f"top of anything the law gives.", valid_hours=credit.valid_days * 24)
