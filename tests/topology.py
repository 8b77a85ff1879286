"""Every service's routes, as its bootstrap declares them (settings for a test run)."""

from services.compensation import bootstrap as compensation
from services.compensation.config import CompensationSettings
from services.compensation.config import Config as CompensationConfig
from services.disruption import bootstrap as disruption
from services.disruption.config import Config as DisruptionConfig
from services.disruption.config import DisruptionSettings
from services.notify import bootstrap as notify
from services.rebooking import bootstrap as rebooking
from shared.consumer import Routes


def routes_by_service() -> dict[str, list[Routes]]:
    return {
        "disruption": [disruption.routes(),
                       disruption.flight_event_routes(DisruptionConfig.of(DisruptionSettings(environment="test")))],
        "rebooking": [rebooking.routes()],
        "compensation": [compensation.routes(CompensationConfig.of(CompensationSettings(environment="test")))],
        "notify": [notify.routes(), notify.first_notice_routes()],
    }


def read_by_service() -> dict[str, dict[str, set[str]]]:
    """For each service, the event types it reads on each topic."""
    return {service: {topic: r.types_on(topic) for r in routes for topic in r.topics}
            for service, routes in routes_by_service().items()}
