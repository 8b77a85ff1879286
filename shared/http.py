"""HTTP conventions shared by every service: body limits, gates before parsing, problem+json
errors, bearer keys, health, metrics."""

import base64
import hashlib
import hmac
import inspect
import json
import math
import re
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from typing import Annotated, Any, TypeVar

from fastapi import Depends, FastAPI, Request
from fastapi.dependencies.models import Dependant
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response
from fastapi.routing import APIRoute
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared import validation
from shared.pacing import RateLimiter
from shared.settings import Key

PROBLEM = "application/problem+json"
# A body no route here needs more than, unless it says otherwise (partner batches, contact lists).
DEFAULT_BODY_LIMIT = 64 * 1024


class BodyLimit:
    """ASGI middleware that decides on the headers, before a byte of the body is read: 411 for a
    body without a Content-Length (chunked), 413 for one over its route's limit. The server (h11)
    holds a client to its Content-Length, so nothing larger is ever read."""

    def __init__(self, app: ASGIApp, limits: Mapping[str, int] | None = None,
                 default: int = DEFAULT_BODY_LIMIT) -> None:
        self.app = app
        # Longest prefix first: `/v1/messages` before `/v1`.
        self.limits = sorted((limits or {}).items(), key=lambda item: -len(item[0]))
        self.default = default

    def limit_for(self, path: str) -> int:
        return next((limit for prefix, limit in self.limits if path.startswith(prefix)), self.default)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        length = headers.get(b"content-length")
        limit = self.limit_for(scope["path"])
        if length is None and b"chunked" in headers.get(b"transfer-encoding", b"").lower():
            await _send_problem(send, 411, "Length required", "Send a Content-Length header with the body")
        elif length is not None and (not length.isdigit() or int(length) > limit):
            await _send_problem(send, 413, "Too large", f"At most {limit // 1024} KiB here")
        else:
            await self.app(scope, receive, send)


class NoStore:
    """ASGI middleware: every answer that does not say how it may be cached is `no-store`. Answers
    here carry passengers' names, choice tokens, voucher amounts and ops figures, none of which a
    browser's or a proxy's cache should keep."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_no_store(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                if not any(name.lower() == b"cache-control" for name, _ in headers):
                    message = {**message, "headers": [*headers, (b"cache-control", b"no-store")]}
            await send(message)

        await self.app(scope, receive, send_no_store)


_INLINE = re.compile(r"<(script|style)>(.*?)</\1>", re.DOTALL)


def inline_hashes(source: str) -> dict[str, list[str]]:
    """The CSP hashes of a page's own inline script and style blocks, from its source: a template's
    as written, never as rendered, so nothing a rendering puts in (a passenger's name, a partner's
    text) can ever be a script the policy allows. A block that holds template syntax is refused:
    its hash would depend on what it is filled with."""
    hashes: dict[str, list[str]] = {"script": [], "style": []}
    for kind, content in _INLINE.findall(source):
        if "{{" in content or "{%" in content:
            raise ValueError(f"an inline {kind} block with template syntax cannot be allowed by its hash")
        digest = base64.b64encode(hashlib.sha256(content.encode()).digest()).decode()
        hashes[kind].append(f"'sha256-{digest}'")
    return hashes


def secure_page(html: str, status_code: int = 200, *, hashes: dict[str, list[str]] | None = None) -> HTMLResponse:
    """An HTML page as a passenger's choice or the ops board needs it: only its own inline script
    and style run (allowed by their hashes: `inline_hashes` of its template, or of a static page
    itself), it talks only to its own origin, nothing frames it or keeps a copy, and its address —
    a choice link carries its token — is never sent on as a referrer."""
    hashes = hashes if hashes is not None else inline_hashes(html)
    policy = ("default-src 'none'; " + "".join(f"{kind}-src {' '.join(h)}; " for kind, h in hashes.items() if h)
              + "connect-src 'self'; img-src 'self' data:; form-action 'self'; base-uri 'none'; "
              "frame-ancestors 'none'")
    return HTMLResponse(html, status_code=status_code, headers={
        "Content-Security-Policy": policy, "Cache-Control": "no-store", "X-Frame-Options": "DENY",
        "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer"})


async def _send_problem(send: Send, status: int, title: str, detail: str) -> None:
    body = json.dumps({"type": "about:blank", "title": title, "status": status, "detail": detail}).encode()
    await send({"type": "http.response.start", "status": status,
                "headers": [(b"content-type", PROBLEM.encode()), (b"content-length", str(len(body)).encode()),
                            (b"connection", b"close")]})
    await send({"type": "http.response.body", "body": body})


def problem(status: int, title: str, detail: str | None = None, *,
            headers: dict[str, str] | None = None, **extra: Any) -> JSONResponse:
    """An RFC 9457 problem details response."""
    body: dict[str, Any] = {"type": "about:blank", "title": title, "status": status}
    if detail:
        body["detail"] = detail
    body.update(extra)
    return JSONResponse(body, status_code=status, media_type=PROBLEM, headers=headers)


def install_problem_handlers(app: FastAPI) -> None:
    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        # Named as the caller wrote them (`cases[2].fare`), never by pydantic's internals.
        body_field = getattr(request.scope.get("route"), "body_field", None)
        errors = []
        for e in exc.errors():
            where, *rest = e["loc"] or ("body",)
            if where == "body":
                errors += validation.field_errors([{**e, "loc": tuple(rest)}], exc.body,
                                                  root=body_field.alias if body_field else "")
            else:
                errors.append({"field": ".".join(map(str, rest)) or where, "in": where,
                               "message": validation.message(e)})
        return problem(422, "Invalid request", validation.summary(errors), errors=errors)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> JSONResponse:
        return problem(exc.status_code, str(exc.detail), headers=getattr(exc, "headers", None))


class Unauthorized(StarletteHTTPException):
    def __init__(self, detail: str) -> None:
        super().__init__(401, detail, headers={"WWW-Authenticate": "Bearer"})


T = TypeVar("T")
Dependency = Callable[..., Awaitable[T]]
_PASSED = "rebound.gates"  # in the request's scope: each gate's result, once it has passed
_GATES: dict[Callable[..., Any], Callable[[Request], Awaitable[Any]]] = {}  # a gate's dependency → its check


def gate(check: Callable[[Request], Awaitable[T]]) -> Callable[[Dependency[T]], Dependency[T]]:
    """Marks a dependency as a gate: a check of credentials, a signature or a link, made from the
    headers, the path and the raw bytes alone. A `GatedRoute` runs `check` before its body is parsed;
    the dependency (whose parameters document the headers in OpenAPI) then hands on its result."""

    def mark(dependency: Dependency[T]) -> Dependency[T]:
        async def resolved(request: Request, **documented: Any) -> T:
            passed: dict[object, T] = request.scope.get(_PASSED, {})
            return passed[check] if check in passed else await check(request)

        resolved.__signature__ = inspect.signature(dependency)  # type: ignore[attr-defined]  # what FastAPI reads
        _GATES[resolved] = check
        return resolved

    return mark


class GatedRoute(APIRoute):
    """A route whose gates are passed before its body is parsed. FastAPI reads and parses a JSON body
    before it resolves any dependency, so without this an unauthenticated caller's megabyte of JSON
    is parsed, and its errors answered, before the caller is asked who they are."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        gates = [_GATES[d.call] for d in _dependencies(self.dependant) if d.call in _GATES]
        if not gates:
            return handler

        async def gated(request: Request) -> Response:
            passed = request.scope.setdefault(_PASSED, {})
            for check in gates:
                if check not in passed:
                    passed[check] = await check(request)
            return await handler(request)

        return gated


def _dependencies(dependant: Dependant) -> list[Dependant]:
    found: list[Dependant] = []
    for d in dependant.dependencies:
        found += [d, *_dependencies(d)]
    return found


_bearer = HTTPBearer(auto_error=False)


# The ops console's jobs: each key's requests are held to a rate (REBOUND_OPS_REQUESTS_PER_SECOND).
CONSOLE_ROLES = ("ops-viewer", "ops-agent", "planner")
KEY = "rebound.key"  # in the request's scope: the key that passed, for what its holder may see


def _within_rate(request: Request, key: Key) -> None:
    """A leaked or scripted console key costs the service no more than one busy agent would."""
    state = request.app.state
    if not hasattr(state, "console_rates"):
        settings = state.service.settings
        state.console_rates = RateLimiter(settings.ops_requests_per_second, settings.ops_burst)
    if wait := state.console_rates.take(key.holder):
        raise StarletteHTTPException(429, "Too many requests with this key: slow down",
                                     headers={"Retry-After": str(math.ceil(wait))})


def key_of(request: Request) -> Key | None:
    """The key a request's gate let through, if any."""
    key: Key | None = request.scope.get(KEY)
    return key


def require_covers(request: Request, carrier: str, *airports: str | None) -> None:
    """403 unless the request's key covers a flight of `carrier` at `airports` (its origin,
    destination, diversion): a key limited to some airlines and stations sees and acts on theirs."""
    key = key_of(request)
    if key is not None and not key.covers(carrier, airports):
        raise StarletteHTTPException(403, f"This key is for {key.scope}: not this {carrier} flight")


def key_limits(request: Request) -> tuple[list[str] | None, list[str] | None]:
    """The airlines and stations the request's key is limited to (None: all), for a query's filter."""
    key = key_of(request)
    return ((sorted(key.carriers) if key and key.carriers is not None else None),
            (sorted(key.stations) if key and key.stations is not None else None))


def require_role(role: str) -> Dependency[str]:
    """A gate that lets through only a key for this job (or, in development, a key for every job):
    a board viewer's key cannot rewrite a passenger's phone number. It hands on who holds the key,
    for the audit of what they do."""

    async def check(request: Request) -> str:
        scheme, _, given_text = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer" or not given_text.strip():
            raise Unauthorized("An API key is required: send `Authorization: Bearer <key>`")
        given = given_text.strip().encode()
        access = request.app.state.service.access  # shared.runtime.Service's, parsed once
        for k in access.keys_for(role):
            if hmac.compare_digest(given, k.key.encode()):
                if role in CONSOLE_ROLES and KEY not in request.scope:
                    _within_rate(request, k)
                request.scope[KEY] = k
                return str(k.holder)
        if any(hmac.compare_digest(given, k.encode()) for k in access.all_keys):
            raise StarletteHTTPException(403, f"This key is not for this: it needs the {role} role")
        raise Unauthorized("The API key is not valid")

    @gate(check)
    async def bearer_key(request: Request,
                         credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)]) -> str:
        raise AssertionError("the gate's check answers for this dependency")

    return bearer_key


def install_operational_routes(app: FastAPI, ready: Callable[[], dict[str, bool]]) -> None:
    @app.get("/healthz", include_in_schema=False)
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", include_in_schema=False)
    async def readyz() -> JSONResponse:
        checks = ready()
        ok = all(checks.values())
        return JSONResponse({"ready": ok, "checks": checks}, status_code=200 if ok else 503)

    # The metrics say how busy each flight and partner is: for the monitoring key only.
    @app.get("/metrics", include_in_schema=False, dependencies=[Depends(require_role("monitoring"))])
    async def prometheus_metrics() -> Response:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)


def provider_error_code(answer: str) -> str:
    """A provider's error code (` code 21211`), never its message: a provider's text may quote the
    phone number, address or card it refused (Twilio's 21211 does), and none of that belongs in
    logs or error text. Read from `{"code": …}` (Twilio, push) or `{"error": {"code": …}}` (Stripe)."""
    try:
        body = json.loads(answer)
        code = body.get("code") or (body.get("error") or {}).get("code")
    except (ValueError, AttributeError):
        return ""
    return f" code {code}" if isinstance(code, int | str) and re.fullmatch(r"[A-Za-z0-9_.-]{1,32}", str(code)) else ""
