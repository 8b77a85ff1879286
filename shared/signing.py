"""Partner request signatures: HMAC-SHA256 over the timestamp, the request target and the body.

A partner holds a secret; Rebound stores only its SHA-256 digest, which is the signing key. A
leaked key table therefore never reveals a partner's secret. Exactly:

    key       = the 64 lower-case hex characters of SHA-256(secret as UTF-8), as ASCII bytes
    message   = the timestamp in ASCII decimal digits, ".", the request target as sent (the path
                and, if there is one, "?" and the query: RFC 9112's origin-form), a line feed,
                then the body's bytes exactly as sent
    signature = HMAC-SHA256(key, message), as 64 hex characters

    Rebound-Key-Id:    <key id>
    Rebound-Signature: t=<unix seconds>,v2=<signature>[,v2=<another>]

The request target cannot hold a line feed, so the message splits one way only. Version 1 (`v1=`,
the message without the target and its line feed, as payment webhooks sign) is still accepted for
a request without a query string, whose target then says nothing the route does not; a request
with a query string needs v2, so no parameter (`sent_at`, `atomic`) can be changed in flight.

The hex is case-blind on our side, for the libraries whose hex is upper-case (.NET's
`Convert.ToHexString`, Java's `DatatypeConverter`): a key written in upper-case hex, and a
signature in either case, are accepted. That costs nothing in safety: the same secret, the same
256 bits, and at most two keys to try (a forger's odds go from 2^-256 to 2^-255).
"""

import hashlib
import hmac
import re
import time
from collections.abc import Mapping
from typing import Any
from urllib.parse import urlsplit

KEY_ID_HEADER = "Rebound-Key-Id"
SIGNATURE_HEADER = "Rebound-Signature"


def key_digest(secret: str) -> str:
    """What Rebound stores for a partner's secret (and the HMAC key both sides use)."""
    return hashlib.sha256(secret.encode()).hexdigest()


def signature(digest: str, timestamp: int, body: bytes, target: str | None = None) -> str:
    """Version 2 over `target` (a path, with its query if any); version 1 without one."""
    covered = b"" if target is None else target.encode("latin-1") + b"\n"
    return hmac.new(digest.encode(), str(timestamp).encode() + b"." + covered + body, hashlib.sha256).hexdigest()


def sign(key_id: str, secret: str, body: bytes, target: str, timestamp: int | None = None) -> dict[str, str]:
    """The headers a partner sends with `body` to `target` (e.g. "/v1/messages?atomic=true"): v2,
    and v1 beside it where the target has no query string, so that a replica of the previous
    release, which knows v1 alone, takes it too while a rollout is under way (the rolling-upgrade
    fault found a partner refused there)."""
    t = int(time.time()) if timestamp is None else timestamp
    digest = key_digest(secret)
    v1 = "" if "?" in target else f",v1={signature(digest, t, body)}"
    return {KEY_ID_HEADER: key_id, SIGNATURE_HEADER: f"t={t},v2={signature(digest, t, body, target)}{v1}"}


def request_target(scope: Mapping[str, Any]) -> str:
    """The request target as the client sent it, from an ASGI HTTP scope."""
    path: bytes = scope.get("raw_path") or scope["path"].encode()
    query: bytes = scope.get("query_string", b"")
    return (path + (b"?" + query if query else b"")).decode("latin-1")


def target_of(url: str) -> str:
    """The request target a request to `url` sends."""
    parts = urlsplit(url)
    return (parts.path or "/") + (f"?{parts.query}" if parts.query else "")


# ASCII only, and bounded: `str.isdigit` takes "²", and a 4,000-digit timestamp overflows a float.
_TIMESTAMP = re.compile(r"[0-9]{1,12}")
_HEX_SIGNATURE = re.compile(r"[0-9a-fA-F]{64}")


def parse_signature_header(value: str) -> tuple[int, dict[str, list[str]]]:
    """`t=…,v2=…[,v2=…]` (or v1) → (timestamp, signatures by version). Raises ValueError when malformed."""
    parts = [p.strip().partition("=") for p in value.split(",")]
    stamps = [v for k, _, v in parts if k == "t"]
    sigs = {version: [v.lower() for k, _, v in parts if k == version and _HEX_SIGNATURE.fullmatch(v)]
            for version in ("v1", "v2")}
    if len(stamps) != 1 or not _TIMESTAMP.fullmatch(stamps[0]) or not any(sigs.values()):
        raise ValueError("expected `t=<unix seconds>,v2=<64 hex digits>`")
    return int(stamps[0]), sigs


def verify(digest: str, header: str, body: bytes, now: float, tolerance_seconds: int, target: str) -> str | None:
    """None when the signature is good and fresh for `target` (the request's, see
    `request_target`), else what is wrong with it."""
    try:
        timestamp, given = parse_signature_header(header)
    except ValueError as exc:
        return f"malformed {SIGNATURE_HEADER} header: {exc}"
    if abs(now - timestamp) > tolerance_seconds:
        return f"the signature's timestamp is more than {tolerance_seconds} s from now"
    if "?" in target and not given["v2"]:
        return "a request with a query string is signed with v2, over the request target and the body"
    keys = (digest.lower(), digest.upper())
    expected = ([signature(key, timestamp, body, target) for key in keys] if given["v2"]
                else [signature(key, timestamp, body) for key in keys])
    if not any(hmac.compare_digest(e, g) for e in expected for g in given["v2"] or given["v1"]):
        return "the signature does not match the request target and body"
    return None
