"""Partner request signatures: HMAC-SHA256 over the timestamp and the body, as payment webhooks do.

A partner holds a secret; Rebound stores only its SHA-256 digest, which is the signing key. A
leaked key table therefore never reveals a partner's secret. Headers on every signed request:

    Rebound-Key-Id:    <key id>
    Rebound-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256(key, "<t>." + body)>
"""

import hashlib
import hmac
import re
import time

KEY_ID_HEADER = "Rebound-Key-Id"
SIGNATURE_HEADER = "Rebound-Signature"


def key_digest(secret: str) -> str:
    """What Rebound stores for a partner's secret (and the HMAC key both sides use)."""
    return hashlib.sha256(secret.encode()).hexdigest()


def signature(digest: str, timestamp: int, body: bytes) -> str:
    return hmac.new(digest.encode(), str(timestamp).encode() + b"." + body, hashlib.sha256).hexdigest()


def sign(key_id: str, secret: str, body: bytes, timestamp: int | None = None) -> dict[str, str]:
    """The headers a partner sends with `body`."""
    t = int(time.time()) if timestamp is None else timestamp
    return {KEY_ID_HEADER: key_id,
            SIGNATURE_HEADER: f"t={t},v1={signature(key_digest(secret), t, body)}"}


# ASCII only, and bounded: `str.isdigit` takes "²", and a 4,000-digit timestamp overflows a float.
_TIMESTAMP = re.compile(r"[0-9]{1,12}")
_HEX_SIGNATURE = re.compile(r"[0-9a-f]{64}")


def parse_signature_header(value: str) -> tuple[int, list[str]]:
    """`t=…,v1=…[,v1=…]` → (timestamp, signatures). Raises ValueError when malformed."""
    parts = [p.strip().partition("=") for p in value.split(",")]
    stamps = [v for k, _, v in parts if k == "t"]
    sigs = [v for k, _, v in parts if k == "v1" and _HEX_SIGNATURE.fullmatch(v)]
    if len(stamps) != 1 or not _TIMESTAMP.fullmatch(stamps[0]) or not sigs:
        raise ValueError("expected `t=<unix seconds>,v1=<64 hex digits>`")
    return int(stamps[0]), sigs


def verify(digest: str, header: str, body: bytes, now: float, tolerance_seconds: int) -> str | None:
    """None when the signature is good and fresh, else what is wrong with it."""
    try:
        timestamp, given = parse_signature_header(header)
    except ValueError as exc:
        return f"malformed {SIGNATURE_HEADER} header: {exc}"
    if abs(now - timestamp) > tolerance_seconds:
        return f"the signature's timestamp is more than {tolerance_seconds} s from now"
    expected = signature(digest, timestamp, body)
    if not any(hmac.compare_digest(expected, g) for g in given):
        return "the signature does not match the body"
    return None
