"""Wiring for the compensation service: the rule book, the consumer, the payout worker and the
evaluate API."""

import time
from pathlib import Path
from typing import Annotated

from fastapi import Body, Depends, FastAPI

from services.compensation import engine, handlers, metrics, rules
from services.compensation.case import CaseOrCases, Evaluation
from services.compensation.config import CompensationSettings
from services.compensation.payouts import PaymentProvider, PayoutWorker
from shared.http import require_role
from shared.runtime import Service


def create_app(settings: CompensationSettings | None = None) -> FastAPI:
    settings = settings or CompensationSettings()
    book = rules.load(settings.rules_dir)

    async def pay_out(service: Service) -> None:
        provider = PaymentProvider(settings.payment_api_url, settings.payment_api_key,
                                   settings.payment_timeout_seconds)
        try:
            await PayoutWorker(settings, service.pool, provider).run()
        finally:
            await provider.close()

    service = Service(name="compensation", settings=settings, migrations=Path(__file__).parent / "migrations",
                      handlers=handlers.handlers(book, settings.sealer), background=[pay_out])
    # A list of up to 500 cases fits in a megabyte; every other route keeps the shared 64 KiB.
    app = service.app(title="Rebound compensation", body_limits={"/v1/entitlements/evaluate": 1024 * 1024},
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
            results.append(engine.evaluate(case, book))
            metrics.EVALUATION_SECONDS.labels("api").observe(time.perf_counter() - started)
        return results if isinstance(cases, list) else results[0]

    return app
