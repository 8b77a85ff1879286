"""Send a signed request to Rebound's partner ingest, with nothing but Python's standard library.

    python3 sign.py URL KEY_ID SECRET BODY_FILE [CONTENT_TYPE] ["Header: value" ...]

e.g. python3 sign.py https://rebound.example/v1/flight-events demo-dev "$SECRET" event.json
The URL's query, if any, is signed with the rest: write it as it should be sent (percent-encoded).
Prints the HTTP status and the answer's body; exits 0 on a 2xx answer.
"""

import hashlib
import hmac
import sys
import time
import urllib.error
import urllib.parse
import urllib.request


def signature_headers(key_id: str, secret: str, url: str, body: bytes, timestamp: int) -> dict[str, str]:
    # The key: SHA-256 of the secret's UTF-8 bytes, as 64 lower-case hex characters, used as ASCII bytes.
    key = hashlib.sha256(secret.encode("utf-8")).hexdigest().encode("ascii")
    # The request target: the URL's path, and "?" and its query if it has one, as they are sent.
    parts = urllib.parse.urlsplit(url)
    target = (parts.path or "/") + ("?" + parts.query if parts.query else "")
    # The message: the timestamp in decimal, a full stop, the target, a line feed, then the body's bytes as sent.
    message = str(timestamp).encode("ascii") + b"." + target.encode("ascii") + b"\n" + body
    signature = hmac.new(key, message, hashlib.sha256).hexdigest()
    return {"Rebound-Key-Id": key_id, "Rebound-Signature": f"t={timestamp},v2={signature}"}


def main(url: str, key_id: str, secret: str, body_file: str, content_type: str = "application/json",
         *extra: str) -> int:
    with open(body_file, "rb") as f:
        body = f.read()
    headers = signature_headers(key_id, secret, url, body, int(time.time())) | {"Content-Type": content_type}
    headers |= dict(h.split(": ", 1) for h in extra)
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            print(response.status, response.read().decode())
            return 0
    except urllib.error.HTTPError as error:
        print(error.code, error.read().decode())
        return 1


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
