"""Gates are passed before a body is read or parsed, and a gate never crashes: any Authorization
header, however malformed (non-ASCII bytes, no scheme, a huge value), gets 401 or 403, never 500
(RFC 9110 §11.6.2; RFC 6750 §3 for the bearer scheme's challenge)."""

import asyncio
from types import SimpleNamespace

from fastapi import Depends, FastAPI
from hypothesis import given
from hypothesis import strategies as st

from shared.http import GatedRoute, install_problem_handlers, require_role
from shared.settings import Settings

app = FastAPI()
app.router.route_class = GatedRoute
install_problem_handlers(app)
# What a service's keys are to its gates (shared.runtime.Service.access), without the service.
app.state.service = SimpleNamespace(access=Settings(
    environment="test", api_keys="evaluator:the-right-key,ops-viewer:a-viewers-key").access())
read: list[bytes] = []


@app.post("/guarded", dependencies=[Depends(require_role("evaluator"))])
async def guarded(body: dict) -> dict:
    return body


def call(headers: list[tuple[bytes, bytes]], body: bytes) -> int:
    sent: list[dict] = []

    async def receive():
        read.append(body)
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message):
        sent.append(message)

    scope = {"type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
             "path": "/guarded", "raw_path": b"/guarded", "query_string": b"", "root_path": "",
             "scheme": "http", "server": ("test", 80), "client": ("test", 1), "app": app,
             "headers": [(b"content-type", b"application/json"), *headers]}
    asyncio.run(app(scope, receive, send))
    return sent[0]["status"]


def test_the_right_key_passes_and_the_body_is_then_read():
    assert call([(b"authorization", b"Bearer the-right-key")], b'{"a": 1}') == 200
    assert call([(b"authorization", b"Bearer a-viewers-key")], b'{"a": 1}') == 403


@given(st.binary(max_size=300))
def test_any_authorization_header_gets_401_or_403_and_the_body_is_never_read(value):
    read.clear()
    status = call([(b"authorization", value)], b'{"unterminated": ')
    if status in (401, 403):
        assert not read  # refused on the header alone
    else:  # only the right key gets as far as the body, which does not parse
        assert status == 422 and value.split()[-1:] == [b"the-right-key"], (value, status)
