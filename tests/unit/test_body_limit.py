"""The body limit decides on the headers alone (RFC 9110 §8.6 Content-Length, §15.5.14 413,
§15.5.12 411): the application behind it is not called, so no byte of the body is read."""

import asyncio
import json
from collections.abc import Awaitable, Callable

from shared.http import BodyLimit, NoStore


def run(method: str, path: str, headers: dict[str, str]) -> tuple[int | None, dict, bool]:
    called = False

    async def app(scope, receive, send):
        nonlocal called
        called = True
        await send({"type": "http.response.start", "status": 204, "headers": []})
        await send({"type": "http.response.body", "body": b""})

    sent: list[dict] = []

    async def send(message):
        sent.append(message)

    async def receive():
        raise AssertionError("the body must not be read")

    limit = BodyLimit(app, limits={"/v1/messages": 1024 * 1024}, default=64 * 1024)
    scope = {"type": "http", "method": method, "path": path,
             "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()]}
    asyncio.run(limit(scope, receive, send))
    body = json.loads(sent[1]["body"]) if not called else {}
    return sent[0]["status"], body, called


def test_over_the_route_limit_is_413_problem_json_without_calling_the_app():
    status, body, called = run("POST", "/v1/choices/x", {"content-length": str(64 * 1024 + 1)})
    assert (status, body["title"], called) == (413, "Too large", False)


def test_a_longer_prefix_has_its_own_limit():
    assert run("POST", "/v1/messages", {"content-length": str(1024 * 1024)})[2] is True
    assert run("POST", "/v1/messages", {"content-length": str(1024 * 1024 + 1)})[0] == 413
    assert run("POST", "/v1/flight-events", {"content-length": str(1024 * 1024)})[0] == 413


def test_chunked_without_length_is_411_and_a_bad_length_413():
    assert run("POST", "/v1/x", {"transfer-encoding": "chunked"})[0] == 411
    assert run("PUT", "/v1/x", {"content-length": "-1"})[0] == 413
    assert run("PUT", "/v1/x", {"content-length": "１２"})[0] == 413  # not ASCII digits


def test_requests_without_a_body_pass_and_any_method_is_held_to_the_limit():
    assert run("GET", "/v1/x", {})[2] is True
    assert run("POST", "/v1/x", {})[2] is True
    assert run("DELETE", "/v1/contacts/ABC123/x", {"content-length": str(10 ** 9)})[0] == 413


async def test_an_answer_that_does_not_say_how_to_cache_it_is_no_store():
    """Names, choice tokens and voucher amounts must not stay in a browser's or a proxy's cache."""
    async def app(scope: dict, receive: object, send: Callable[[dict], Awaitable[None]]) -> None:
        given = [(b"cache-control", b"max-age=60")] if scope["path"] == "/static" else []
        await send({"type": "http.response.start", "status": 200, "headers": given})
        await send({"type": "http.response.body", "body": b"{}"})

    for path, expected in (("/ops/api/cases/d/ABC123", b"no-store"), ("/static", b"max-age=60")):
        sent: list[dict] = []

        async def send(message: dict, sent: list[dict] = sent) -> None:
            sent.append(message)

        await NoStore(app)({"type": "http", "path": path, "headers": []}, None, send)
        assert [v for k, v in sent[0]["headers"] if k == b"cache-control"] == [expected]
