"""The compensation service, wired: the rule book and its settings parsed once, its handlers given
them and routed by payload, the payout worker, and the evaluate API."""

import functools
import time
from typing import Annotated

from fastapi import Body, Depends, FastAPI

from services.compensation import desk, engine, handlers, metrics, what_if
from services.compensation.case import CaseOrCases, Evaluation
from services.compensation.config import CompensationSettings, Config
from services.compensation.payouts import PaymentProvider, PayoutWorker
from shared import topics
from shared.consumer import Routes
from shared.events import BookingConfirmed, FlightScheduled, PassengerDisruption, RebookingDecided
from shared.http import require_role
from shared.runtime import Service
from shared.what_if import MAX_BODY_BYTES


def routes(config: Config) -> Routes:
    """What the compensation service reads, and which handler takes each event."""
    return (Routes()
            .on(topics.SCHEDULE, FlightScheduled, handlers.record_schedule)
            .on_batch(topics.BOOKINGS, BookingConfirmed, handlers.record_bookings)
            .on_batch(topics.PASSENGER_DISRUPTIONS, PassengerDisruption,
                      functools.partial(handlers.record_disruptions, book=config.book, sealer=config.sealer))
            .on_batch(topics.REBOOKINGS, RebookingDecided,
                      functools.partial(handlers.record_outcomes, book=config.book, sealer=config.sealer)))


async def pay_out(service: Service[Config]) -> None:
    """The payout worker, with its provider, for as long as the service runs."""
    settings = service.config.settings
    provider = PaymentProvider(settings.payment_api_url, settings.payment_api_key, settings.payment_timeout_seconds)
    try:
        await PayoutWorker(settings, service.database, provider).run()
    finally:
        await provider.close()


def create_app(settings: CompensationSettings | None = None) -> FastAPI:
    config = Config.of(settings or CompensationSettings())
    service = Service(name="compensation", settings=config.settings, config=config)
    # A list of up to 500 cases fits in a megabyte; every other route keeps the shared 64 KiB.
    app = service.app(title="Rebound compensation", body_limits={"/v1/entitlements/evaluate": 1024 * 1024,
                                                                   "/ops/api/what-if/money": MAX_BODY_BYTES},
                      description="What disrupted passengers are owed under EU261, UK261, the US DOT refund rule, "
                                  "Canada's APPR and the airline's own commitments, granted exactly once.")

    @app.post("/v1/entitlements/evaluate", dependencies=[Depends(require_role("evaluator"))],
              response_model=Evaluation | list[Evaluation], tags=["entitlements"])
    async def evaluate(cases: Annotated[CaseOrCases, Body()]) -> Evaluation | list[Evaluation]:
        """What one case (or each of a list of cases) is owed, and which overlapping entitlements give way.
        Nothing is granted: the ledger only takes cases from the event stream."""
        results = []
        for case in cases if isinstance(cases, list) else [cases]:
            started = time.perf_counter()
            results.append(engine.evaluate(case, config.book))
            metrics.EVALUATION_SECONDS.labels("api").observe(time.perf_counter() - started)
        return results if isinstance(cases, list) else results[0]

    app.include_router(desk.router)
    app.include_router(what_if.router)
    return app
