"""The ops console within its limits: each key's requests held to a rate, each key's live streams
and all of them counted, booking references masked for a key that acts on nobody, and nothing in a
desk message that could send passengers anywhere but the airport."""

import asyncio
from types import SimpleNamespace

import pytest
from fastapi import Depends, FastAPI
from pydantic import ValidationError
from starlette.exceptions import HTTPException

from services.disruption import ops
from shared import notices
from shared.events import Leg
from shared.http import GatedRoute, install_problem_handlers, require_role
from shared.settings import Settings

KEYS = "ops-viewer@Vic:viewer-key,ops-agent@Ana:agent-key"


def console_app() -> FastAPI:
    app = FastAPI()
    app.router.route_class = GatedRoute
    install_problem_handlers(app)
    settings = Settings(environment="test", api_keys=KEYS, ops_requests_per_second=1.0, ops_burst=3)
    app.state.service = SimpleNamespace(access=settings.access(), settings=settings)

    @app.get("/ops/api/kpis", dependencies=[Depends(require_role("ops-viewer"))])
    async def kpis() -> dict:
        return {}

    @app.post("/ops/api/act", dependencies=[Depends(require_role("ops-viewer"))])
    async def act(agent: str = Depends(require_role("ops-agent"))) -> dict:
        return {"agent": agent}
    return app


def call(app: FastAPI, method: str, path: str, key: str) -> tuple[int, dict]:
    sent: list[dict] = []

    async def receive():
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message):
        sent.append(message)

    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method, "path": path,
             "raw_path": path.encode(), "query_string": b"", "root_path": "", "scheme": "http",
             "server": ("test", 80), "client": ("test", 1), "app": app,
             "headers": [(b"authorization", f"Bearer {key}".encode())]}
    asyncio.run(app(scope, receive, send))
    return sent[0]["status"], dict(sent[0]["headers"])


def test_each_console_key_is_held_to_its_rate_and_told_when_to_come_back():
    app = console_app()
    assert [call(app, "GET", "/ops/api/kpis", "viewer-key")[0] for _ in range(3)] == [200, 200, 200]
    status, headers = call(app, "GET", "/ops/api/kpis", "viewer-key")
    assert status == 429 and int(headers[b"retry-after"]) >= 1
    assert call(app, "GET", "/ops/api/kpis", "agent-key")[0] == 200  # another key: its own rate
    # Two gates on one request (viewer, then agent) count it once.
    assert [call(app, "POST", "/ops/api/act", "agent-key")[0] for _ in range(2)] == [200, 200]
    assert call(app, "POST", "/ops/api/act", "agent-key")[0] == 429


def test_live_streams_are_counted_by_key_and_in_all():
    seats = ops.StreamSeats(per_key=2, total=3)
    seats.take("Vic")
    seats.take("Vic")
    with pytest.raises(HTTPException) as refused:
        seats.take("Vic")
    assert refused.value.status_code == 429
    seats.take("Ana")
    with pytest.raises(HTTPException) as full:
        seats.take("Bo")
    assert full.value.status_code == 503
    seats.give_back("Vic")
    seats.take("Bo")
    assert seats.open == {"Vic": 1, "Ana": 1, "Bo": 1}


def test_a_viewer_sees_booking_references_masked_and_nothing_else_changed():
    found = {"cases": [{"booking_ref": "ABC123", "passenger_id": "ABC123-1", "name": "LEE/SAM", "flight": "B6 1001"}],
             "actions": [{"booking_ref": None, "why": "x"}]}
    assert ops._masked(found) == {"cases": [{"booking_ref": "AB••••", "passenger_id": "AB••••••", "name": "LEE/SAM",
                                             "flight": "B6 1001"}],
                                  "actions": [{"booking_ref": None, "why": "x"}]}


@pytest.mark.parametrize("place", ["Terminal 5, desk B", "Gate B12", "Hilton JFK lobby", "Door 4 (arrivals)",
                                   "T4 / gate 3", "Baggage hall, belt 7"])
def test_a_place_at_the_airport_in_words_is_taken(place):
    assert notices.DeskMessage(**FLIGHT, topic="agents_at_desk", place=place).place == place


@pytest.mark.parametrize("place", ["rebound-refunds.com", "see www refunds", "https://evil.example/refund",
                                   "bit.ly/refund-now", "claims@airline-help.net", "call +1 212 555 0199",
                                   "call 212-555-0199", "desk.refunds.info"])
def test_a_link_an_address_or_a_number_to_call_is_refused(place):
    """A desk message reaches every passenger of a flight in the airline's voice: a key in the wrong
    hands must not be able to send them to a phishing page or a number to call."""
    with pytest.raises(ValidationError, match="no link, email address or phone number"):
        notices.DeskMessage(**FLIGHT, topic="agents_at_desk", place=place)


FLIGHT = notices.flight_facts(Leg(flight_id="B61001/2013-02-08/JFK", carrier="B6", number="1001", origin="JFK",
                                   destination="BOS", scheduled_departure="2013-02-08T17:00:00Z",
                                   scheduled_arrival="2013-02-08T18:15:00Z"))
