"""The rebooking service's own Prometheus metrics."""

from prometheus_client import Counter, Histogram

OUTCOMES = Counter("rebound_rebooking_passengers_total",
                   "Disrupted passengers by what became of them", ["outcome"])
SOLVE_SECONDS = Histogram("rebound_rebooking_solve_seconds",
                          "Time to assign one batch of disrupted bookings", ["method"],
                          buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10))
SEATS_TAKEN = Counter("rebound_rebooking_seats_taken_total",
                      "Seats taken on alternative flights (one per passenger per flight)")
SEATS_RELEASED = Counter("rebound_rebooking_seats_released_total",
                         "Seats given back to inventory (refunds, unflown legs, changes)")
SEAT_RACES_LOST = Counter("rebound_rebooking_seat_races_lost_total",
                          "Placements another replica's sale beat to the seats (re-assigned)")
CHOICES = Counter("rebound_rebooking_choices_total", "Passengers' answers to a rebooking", ["answer"])
