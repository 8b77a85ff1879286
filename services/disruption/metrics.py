"""The disruption service's own metrics."""

from prometheus_client import Counter, Gauge, Histogram

EVENTS_ACCEPTED = Counter("rebound_flight_events_accepted_total",
                          "Flight events accepted from partners, by way in.", ["channel"])
EVENTS_REJECTED = Counter("rebound_flight_events_rejected_total",
                          "Partner requests or messages refused, by reason.", ["channel", "reason"])
EVENTS_UNMATCHED = Counter("rebound_flight_events_unmatched_total",
                           "Accepted flight events naming no flight in the schedule.")
FLIGHT_EVENTS_APPLIED = Counter("rebound_flight_events_applied_total",
                                "Flight events applied to a flight, by what they did.", ["type", "effect"])
PASSENGERS_AFFECTED = Counter("rebound_passengers_affected_total",
                              "Passengers disrupted, by kind of disruption.", ["kind"])
FIRST_NOTICE_REQUEST_SECONDS = Histogram(
    "rebound_first_notice_request_seconds",
    "From a flight event's acceptance to its first-notice request being committed.",
    buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60))
FLIGHTS_BY_STATUS = Gauge("rebound_flights", "Flights in the schedule, by status.", ["status"])
AWAITING_OUTCOME = Gauge("rebound_passengers_awaiting_outcome",
                         "Disrupted passengers without an outcome yet (rebooked, refunded, kept, an agent…).")
LONGEST_WAIT = Gauge("rebound_passengers_awaiting_outcome_longest_seconds",
                     "How long the passenger who has waited longest for an outcome has waited (0: nobody).")
