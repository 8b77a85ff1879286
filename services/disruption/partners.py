"""Who may send flight events: partner keys (stored as digests, two at once for rotation), the
signature check, and a per-partner rate limit."""

import math
import re
import time
from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, Header, Request
from starlette.exceptions import HTTPException

from shared import signing
from shared.events import FlightRef
from shared.http import gate
from shared.pacing import RateLimiter

# The development key: partner `demo`, key id `demo-dev`, secret `dev-only-partner-secret`. It
# replays past days (the demo's 2013), so it may send old times.
DEVELOPMENT_PARTNER_DIGEST = "8d7a975138f12017fa9324e0294374b5e2b2d367b9861fd074b9e0e59884a6e6"
DEVELOPMENT_PARTNER_KEYS = f"demo:demo-dev:{DEVELOPMENT_PARTNER_DIGEST}:history"


@dataclass(frozen=True)
class PartnerKey:
    partner: str
    key_id: str
    digest: str
    # What the key may report for: these airlines' flights, at these airports (None: any).
    carriers: frozenset[str] | None = None
    airports: frozenset[str] | None = None
    # Replays a past day: its old times are taken, and its times are the announcements'. Never in
    # production, where a partner's clock only orders its own events.
    history: bool = False

    def refusal(self, flight: FlightRef) -> str | None:
        """Why this key may not report on the flight, if it may not."""
        if self.carriers is not None and flight.carrier not in self.carriers:
            return f"key {self.key_id!r} reports for {', '.join(sorted(self.carriers))}, not {flight.carrier}"
        if self.airports is not None and not {flight.origin, flight.destination} & self.airports:
            named = flight.origin or flight.destination or "no airport"
            return (f"key {self.key_id!r} reports at {', '.join(sorted(self.airports))}: name the flight's "
                    f"origin or destination there ({flight.designator} names {named})")
        return None


_SCOPE = re.compile(r"(carriers|airports)=([A-Z0-9]{2,3}(?:\+[A-Z0-9]{2,3})*)|(history)")


def parse_partner_keys(text: str) -> dict[str, PartnerKey]:
    """`partner:key_id:sha256hex[:carriers=B6+AA][:airports=JFK+LGA][:history],…` → keys by id. A
    partner may hold several (rotation); a key may be limited to airlines and to airports."""
    keys: dict[str, PartnerKey] = {}
    for number, entry in enumerate(filter(None, (e.strip() for e in text.split(","))), start=1):
        partner, key_id, digest, *scopes = entry.split(":") + [""] * max(0, 3 - entry.count(":") - 1)
        if not (partner and key_id and len(digest) == 64 and all(c in "0123456789abcdef" for c in digest)):
            # Named by its place, not its text: the digest is the signing key.
            raise ValueError(f"partner key {number}: expected partner:key_id:<sha256 hex>")
        if key_id in keys:
            raise ValueError(f"partner key id {key_id!r} appears twice")
        limits: dict[str, frozenset[str]] = {}
        for scope in scopes:
            m = _SCOPE.fullmatch(scope)
            if not m or (m[1] or m[3]) in limits:
                raise ValueError(f"partner key {key_id!r}: a scope is not carriers=AA+BB, airports=JFK+LGA or "
                                 "history (each at most once)")
            limits[m[1] or m[3]] = frozenset(m[2].split("+")) if m[1] else frozenset()
        keys[key_id] = PartnerKey(partner, key_id, digest, limits.get("carriers"), limits.get("airports"),
                                  history="history" in limits)
    return keys


class Unauthenticated(HTTPException):
    def __init__(self, detail: str) -> None:
        super().__init__(401, detail, headers={"WWW-Authenticate": 'HMAC-SHA256 realm="partners"'})


@dataclass(frozen=True)
class Partners:
    """Who may send: the partner keys by id, how old a signature may be, and each partner's rate."""

    keys: dict[str, PartnerKey]
    signature_tolerance_seconds: int
    rates: RateLimiter


async def check_partner(request: Request) -> PartnerKey:
    """The partner key a signed request comes with; 401 for anything else, 429 over its rate. Made
    on the raw bytes, before anything parses them."""
    partners: Partners = request.app.state.service.config.partners  # the bootstrap's
    key_id, signature = request.headers.get(signing.KEY_ID_HEADER), request.headers.get(signing.SIGNATURE_HEADER)
    if not key_id or not signature:
        raise Unauthenticated(f"Sign the request: send {signing.KEY_ID_HEADER} and {signing.SIGNATURE_HEADER}"
                              " headers (HMAC-SHA256 over timestamp, request target and body)")
    key = partners.keys.get(key_id)
    if key is None:
        raise Unauthenticated(f"Unknown partner key id {key_id[:64]!r}")
    wrong = signing.verify(key.digest, signature, await request.body(), time.time(),
                           partners.signature_tolerance_seconds, signing.request_target(request.scope))
    if wrong:
        raise Unauthenticated(wrong[0].upper() + wrong[1:])
    wait = partners.rates.take(key.partner)
    if wait:
        raise HTTPException(429, f"Partner {key.partner!r} is over its rate limit",
                            headers={"Retry-After": str(max(1, math.ceil(wait)))})
    return key


@gate(check_partner)
async def authenticate_partner(
    request: Request,
    key_id: Annotated[str | None, Header(alias=signing.KEY_ID_HEADER,
                                         description="The id of the partner key that signed the request")] = None,
    signature: Annotated[str | None, Header(
        alias=signing.SIGNATURE_HEADER, description=(
            "`t=<unix seconds>,v2=<HMAC-SHA256 hex>`: the HMAC's key is the 64 lower-case hex characters of "
            "SHA-256(UTF-8 secret) as ASCII bytes; its message is `<t>.`, the request target as sent (path, and "
            "`?query` if any), a line feed, then the body's bytes as sent. `v1=` (the message without the "
            "target and its line feed) is accepted for a request without a query string"))] = None,
) -> PartnerKey:
    raise AssertionError("never called: its gate, check_partner, answers for it")


Partner = Annotated[PartnerKey, Depends(authenticate_partner)]
