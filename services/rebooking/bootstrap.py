"""The rebooking service, wired: its settings parsed once, its handlers routed by payload, and the
choice page and the ops desk. The assignment rounds and the answer deadlines are its queues'
workers, which the runtime starts from the system's declaration (shared/system.py)."""

from fastapi import FastAPI

from services.rebooking import choice, desk, handlers, what_if
from services.rebooking.config import Config, RebookingSettings
from shared import topics
from shared.consumer import Routes
from shared.events import BookingConfirmed, FlightScheduled, FlightStatusChanged, PassengerDisruption
from shared.runtime import Service
from shared.what_if import MAX_BODY_BYTES


def routes(config: Config) -> Routes:
    """What the rebooking service reads, and which handler takes each event."""
    return (Routes()
            .on(topics.SCHEDULE, FlightScheduled, handlers.record_schedule)
            .on_batch(topics.BOOKINGS, BookingConfirmed, handlers.record_bookings)
            .on(topics.FLIGHT_STATUS, FlightStatusChanged, handlers.record_status)
            .on(topics.PASSENGER_DISRUPTIONS, PassengerDisruption, handlers.rebook))


def create_app(settings: RebookingSettings | None = None) -> FastAPI:
    config = Config.of(settings or RebookingSettings())
    service = Service(name="rebooking", settings=config.settings, config=config)
    app = service.app(
        title="Rebound rebooking",
        description="Seat inventory; disrupted bookings assigned the best flights with seats; the "
                    "passenger's choice (accept, change, refund) through a signed link; the ops desk's "
                    "rebookings and refunds.",
        body_limits={"/ops/api/what-if/rebooking": MAX_BODY_BYTES},
    )
    app.include_router(choice.router)
    app.include_router(desk.router)
    app.include_router(what_if.router)
    return app
