"""Partner request signatures: HMAC-SHA256 over the timestamp and the body, as payment webhooks do.

A partner holds a secret; Rebound stores only its SHA-256 digest, which is the signing key. A
leaked key table therefore never reveals a partner's secret. Exactly:

    key       = the 64 lower-case hex characters of SHA-256(secret as UTF-8), as ASCII bytes
    message   = the timestamp in ASCII decimal digits, ".", then the body's bytes exactly as sent
    signature = HMAC-SHA256(key, message), as 64 hex characters

    Rebound-Key-Id:    <key id>
    Rebound-Signature: t=<unix seconds>,v1=<signature>[,v1=<another>]

The hex is case-blind on our side, for the libraries whose hex is upper-case (.NET's
`Convert.ToHexString`, Java's `DatatypeConverter`): a key written in upper-case hex, and a
signature in either case, are accepted. That costs nothing in safety: the same secret, the same
256 bits, and at most two keys to try (a forger's odds go from 2^-256 to 2^-255).
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
_HEX_SIGNATURE = re.compile(r"[0-9a-fA-F]{64}")


def parse_signature_header(value: str) -> tuple[int, list[str]]:
    """`t=…,v1=…[,v1=…]` → (timestamp, signatures). Raises ValueError when malformed."""
    parts = [p.strip().partition("=") for p in value.split(",")]
    stamps = [v for k, _, v in parts if k == "t"]
    sigs = [v.lower() for k, _, v in parts if k == "v1" and _HEX_SIGNATURE.fullmatch(v)]
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
    expected = [signature(key, timestamp, body) for key in (digest.lower(), digest.upper())]
    if not any(hmac.compare_digest(e, g) for e in expected for g in given):
        return "the signature does not match the body"
    return None
