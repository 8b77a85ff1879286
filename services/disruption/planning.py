"""A what-if plan played on the flights as they stand: the flight events it would be, whom they
would hurt, by the same rules a real event is decided on (`domain.decide`), and the preview's
figures put together from what each owner answered. Pure: no I/O."""

from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any, Literal

from services.disruption import domain
from shared.events import (
    FlightCancelled,
    FlightDelayed,
    FlightDiverted,
    FlightEventData,
    FlightRef,
    FlightRetimed,
    Leg,
    PassengerDisruption,
)
from shared.events import event_id as derived_id
from shared.what_if import (
    Cancel,
    Change,
    CloseAirport,
    Delay,
    Divert,
    MoneyPreview,
    NoticesPreview,
    PlannedFlight,
    RebookingPreview,
    Retime,
    percentile,
)

# The statuses a plan may still change: a flight in the air or landed is history.
GONE = ("departed", "arrived")


def flight_ref(leg: Leg) -> FlightRef:
    """The flight as a partner names it (its flight id holds its local departure date)."""
    day = date.fromisoformat(leg.flight_id.split("/")[1])
    return FlightRef(carrier=leg.carrier, number=leg.number, departure_date=day, origin=leg.origin)


def events_for(change: Change, legs: Mapping[str, Leg], closed: Sequence[str], at: datetime, tag: str
               ) -> list[tuple[str, FlightEventData]]:
    """The flight events a change would be, one per flight, each with its flight; `closed`: the
    flights an airport's closure finds; `tag`: what makes the events' ids the plan's own."""
    def pid(flight_id: str, what: str) -> str:
        return derived_id(tag, what, flight_id)
    match change:
        case Cancel(flights=flights, cause=cause):
            return [(f, FlightCancelled(partner_event_id=pid(f, "cancel"), flight=flight_ref(legs[f]), reason=cause,
                                        occurred_at=at)) for f in flights]
        case CloseAirport(cause=cause):
            return [(f, FlightCancelled(partner_event_id=pid(f, "close"), flight=flight_ref(legs[f]), reason=cause,
                                        occurred_at=at)) for f in closed]
        case Delay(flights=flights, minutes=minutes, cause=cause):
            late = timedelta(minutes=minutes)
            return [(f, FlightDelayed(partner_event_id=pid(f, f"delay{minutes}"), flight=flight_ref(legs[f]),
                                      estimated_departure=legs[f].scheduled_departure + late,
                                      estimated_arrival=legs[f].scheduled_arrival + late, reason=cause,
                                      occurred_at=at)) for f in flights]
        case Retime(flight=f, departure=departure, arrival=arrival):
            return [(f, FlightRetimed(partner_event_id=pid(f, f"retime{departure.isoformat()}"),
                                      flight=flight_ref(legs[f]), scheduled_departure=departure,
                                      scheduled_arrival=arrival, occurred_at=at))]
        case Divert(flight=f, to=to, cause=cause):
            return [(f, FlightDiverted(partner_event_id=pid(f, f"divert{to}"), flight=flight_ref(legs[f]),
                                       new_destination=to, reason=cause, occurred_at=at))]
    raise TypeError(f"not a plan change: {type(change).__name__}")


@dataclass
class Played:
    """What the plan's events would do: each disruption of a booking, the flights as it leaves
    them, and each flight's effect."""

    hurt: list[PassengerDisruption] = field(default_factory=list)
    planned: dict[str, PlannedFlight] = field(default_factory=dict)
    effects: list[tuple[str, str]] = field(default_factory=list)


def play(events: Sequence[tuple[str, FlightEventData]], seen: domain.Seen, *, at: datetime, source: str,
         minimum_connecting: Mapping[str, int], same_city: Callable[[str, str], bool]) -> Played:
    """Each event decided in turn on the flights as the events before it left them, exactly as
    the disruption service decides a real one: a booking hurt by two events has two disruptions
    (a delay, and the connection it breaks), each once."""
    now = {f.leg.flight_id: f for f in seen.flights}
    played = Played()
    hurt: dict[tuple[str, str], PassengerDisruption] = {}
    for n, (flight_id, event) in enumerate(events):
        event_id = derived_id(source, event.partner_event_id, str(n))
        plan = domain.decide(event, domain.Seen([now[flight_id]], seen.aboard, seen.onward), occurred_at=at,
                             source=source, event_id=event_id, minimum_connecting=minimum_connecting,
                             same_city=same_city)
        for u in plan.updates:
            now[u.flight_id] = replace(now[u.flight_id], state=u.state)
            played.effects.append((u.flight_id, u.effect))
            if (status := _planned_status(u.state, seen, u.flight_id)) is not None:
                played.planned[u.flight_id] = PlannedFlight(
                    flight_id=u.flight_id, status=status,
                    departure=u.state.estimated_departure or u.state.scheduled_departure,
                    arrival=u.state.expected_arrival)
        for h in [*plan.connections, *plan.hurt]:
            disruption_id = h.disruption_id or event_id
            if (disruption_id, h.booking_ref) in hurt:
                continue
            hurt[(disruption_id, h.booking_ref)] = PassengerDisruption(
                disruption_id=disruption_id, booking_ref=h.booking_ref, passenger_ids=h.passenger_ids,
                flight=h.segments[0], segments=h.segments, kind=h.kind, severity=h.severity, cause=h.cause,
                delay_minutes=h.delay_minutes, earliest_departure=h.earliest_departure, accepted_at=at,
                announced_at=at)
    played.hurt = list(hurt.values())
    return played


def _planned_status(state: domain.FlightState, seen: domain.Seen, flight_id: str
                    ) -> Literal["cancelled", "diverted", "delayed", "retimed"] | None:
    before = next(f.state for f in seen.flights if f.leg.flight_id == flight_id)
    if state.status == "cancelled":
        return "cancelled"
    if state.status == "diverted":
        return "diverted"
    if state.scheduled_departure != before.scheduled_departure:
        return "retimed"
    if state.status == "delayed":
        return "delayed"
    return None


# --- the preview's figures -------------------------------------------------------------------------


def _passengers(hurt: Sequence[PassengerDisruption]) -> set[tuple[str, str]]:
    return {(d.booking_ref, p) for d in hurt for p in d.passenger_ids}


def hit_figures(played: Played) -> dict[str, Any]:
    """Passengers hit (each once, however many of the plan's events hit them), by what hit them
    first; connections broken downstream; flights changed."""
    first: dict[tuple[str, str], str] = {}
    for d in played.hurt:
        for p in d.passenger_ids:
            first.setdefault((d.booking_ref, p), d.kind)
    broken = {(d.booking_ref, p) for d in played.hurt if d.kind == "connection_at_risk" for p in d.passenger_ids}
    flights = len({f for f, effect in played.effects if not effect.startswith(("ignored", "stale"))})
    return {"flights": flights, "bookings": len({d.booking_ref for d in played.hurt}), "passengers": len(first),
            "by_kind": dict(Counter(first.values())), "connections_broken": len(broken)}


# What became of a passenger, from every decision about them: the strongest first (a passenger whose
# delay they keep and whose connection it breaks is rebooked, not kept).
FATES = (("rebooked", ("rebooked",)), ("flown_home", ("returned",)), ("refunded", ("no_alternative",)),
         ("needs_agent", ("needs_agent",)), ("kept", ("kept",)))


def rebooking_figures(hurt: Sequence[PassengerDisruption], answer: RebookingPreview, top: int = 10
                      ) -> dict[str, Any]:
    """Re-accommodated, how late (p50, p90 of each rebooked passenger's arrival delay), on which
    flights; flown home or refunded; left to an agent; kept their flight."""
    outcomes: dict[tuple[str, str], set[str]] = {}
    delays: dict[tuple[str, str], int] = {}
    onto = Counter[str]()
    for d in answer.decided:
        for p in d.passenger_ids:
            outcomes.setdefault((d.booking_ref, p), set()).add(d.outcome)
        if d.outcome == "rebooked":
            delays |= {(d.booking_ref, p): d.arrival_delay_minutes or 0 for p in d.passenger_ids}
            for leg in d.segments:
                onto[f"{leg.carrier} {leg.number} {leg.origin}-{leg.destination} "
                     f"{leg.scheduled_departure:%d %b %H:%M}Z"] += len(d.passenger_ids)
    fates = Counter[str]()
    for found in outcomes.values():
        fates[next((fate for fate, of in FATES if found & set(of)), "kept")] += 1
    late = list(delays.values())
    return {
        "rebooked": fates["rebooked"], "refunded": fates["refunded"] + fates["flown_home"],
        "flown_home": fates["flown_home"], "needs_agent": fates["needs_agent"], "kept": fates["kept"],
        "without_outcome": len(_passengers(hurt) - set(outcomes)),
        "arrival_delay_minutes": {"p50": percentile(late, 0.5), "p90": percentile(late, 0.9)},
        "onto_flights": [{"flight": f, "passengers": n} for f, n in onto.most_common(top)],
        "cabins": answer.cabins, "tiers": answer.tiers, "special_services": answer.special_services,
        "unaccompanied_minors": answer.unaccompanied_minors, "method": answer.method,
        "solve_seconds": round(answer.solve_seconds, 3),
        "cost": {"profile": answer.cost_profile, "total": answer.cost},
    }


def money_figures(answer: MoneyPreview) -> dict[str, Any]:
    """By currency: refunds, compensation by regime (with what the cause exempts), care, credits."""
    out: dict[str, dict[str, Any]] = {}
    for o in answer.owed:
        c = out.setdefault(o.currency, {"currency": o.currency, "refund": "0", "compensation": {}, "care": {},
                                        "credit": "0", "exempt": "0", "total": "0"})
        c["exempt"] = str(_add(c["exempt"], o.exempt))
        if o.kind == "compensation":
            c["compensation"][o.regime] = str(_add(c["compensation"].get(o.regime, "0"), o.amount))
        elif o.kind in ("meal", "hotel", "transport"):
            c["care"][o.kind] = str(_add(c["care"].get(o.kind, "0"), o.amount))
        else:
            c[o.kind] = str(_add(c[o.kind], o.amount))
        c["total"] = str(_add(c["total"], o.amount))
    return {"by_currency": sorted(out.values(), key=lambda c: c["currency"]),
            "passengers_evaluated": answer.passengers_evaluated,
            "passengers_not_evaluated": answer.passengers_not_evaluated}


def _add(a: str, b: Decimal) -> Decimal:
    return Decimal(a) + b


def notice_figures(answer: NoticesPreview) -> dict[str, Any]:
    return answer.model_dump()
