"""Whether a flight event's own times contradict each other. Pure: no I/O.

A reader that places a time on the wrong day, or a sender whose message is wrong, would otherwise
tell passengers something false: an arrival estimate before the flight's own off-block, a
take-off before it left the gate, an on-block before touchdown. Such an event is refused with the
reason, never published. Beyond order, the gaps are bounded where no flight goes further: a wrong
decode is worse than a refusal."""

from datetime import datetime, timedelta

from shared.events import FlightArrived, FlightDelayed, FlightDeparted, FlightEventData, FlightRetimed

# A ground hold between off-block and take-off, or between touchdown and on-block, of more than
# this is a misread (US tarmac rules end one at three or four hours, 14 CFR 259.4).
MOST_ON_THE_GROUND = timedelta(hours=12)
# The longest scheduled flights are under 19 hours; with a long delay, still under a day.
MOST_IN_THE_AIR = timedelta(hours=24)


def contradiction(event: FlightEventData) -> str | None:
    """What is wrong with the event's times, or None."""
    match event:
        case FlightDeparted():
            return (_order("take-off", event.airborne_at, "off-block", event.actual_departure, MOST_ON_THE_GROUND)
                    or _order("estimated arrival", event.estimated_arrival, "take-off", event.airborne_at,
                              MOST_IN_THE_AIR)
                    or _order("estimated arrival", event.estimated_arrival, "off-block", event.actual_departure,
                              MOST_IN_THE_AIR + MOST_ON_THE_GROUND))
        case FlightArrived():
            return _order("on-block", event.on_block_at, "touchdown", event.actual_arrival, MOST_ON_THE_GROUND)
        case FlightDelayed():
            return _order("estimated arrival", event.estimated_arrival, "estimated departure",
                          event.estimated_departure, MOST_IN_THE_AIR + MOST_ON_THE_GROUND)
        case FlightRetimed():
            return _order("scheduled arrival", event.scheduled_arrival, "scheduled departure",
                          event.scheduled_departure, MOST_IN_THE_AIR)
    return None


def first_contradiction(events: list[FlightEventData]) -> str | None:
    """The first of the events' own contradictions, or None."""
    return next((why for e in events if (why := contradiction(e))), None)


def contradiction_between(events: list[FlightEventData]) -> str | None:
    """What is wrong between a departure and an arrival of one flight reported in one message (an
    MVT with AD and AA, an OOOI report with out and in), or None."""
    departed = next((e for e in events if isinstance(e, FlightDeparted)), None)
    arrived = next((e for e in events if isinstance(e, FlightArrived)), None)
    if departed is None or arrived is None:
        return None
    return _order("touchdown", arrived.actual_arrival, "take-off", departed.airborne_at or departed.actual_departure,
                  MOST_IN_THE_AIR)


def _order(later: str, at: datetime | None, earlier: str, before: datetime | None, most: timedelta) -> str | None:
    if at is None or before is None:
        return None
    if at < before:
        return f"the {later} {_hhmm(at)} is before the {earlier} {_hhmm(before)}"
    if at - before > most:
        return f"the {later} {_hhmm(at)} is more than {most.total_seconds() / 3600:g} h after the {earlier} " \
               f"{_hhmm(before)}"
    return None


def _hhmm(t: datetime) -> str:
    return t.strftime("%d %H%MZ")
