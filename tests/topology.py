"""Every service's routes, as its consumers run them (settings for a test run)."""

from shared import in_process
from shared.consumer import Routes


def routes_by_service() -> dict[str, list[Routes]]:
    return in_process.routes(in_process.configs("test"))


def read_by_service() -> dict[str, dict[str, set[str]]]:
    """For each service, the event types it reads on each topic."""
    return {service: {topic: r.types_on(topic) for r in routes for topic in r.topics}
            for service, routes in routes_by_service().items()}
