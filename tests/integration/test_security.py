"""Every endpoint that is not public refuses a request without credentials or with wrong ones,
read from each service's own OpenAPI description, so a new endpoint is covered the day it is
added. (Signed choice links — forged, expired, answered again differently — are refused in
test_rebooking; contact details on topics and in logs are looked for by every audited replay.)"""

import asyncpg
import httpx
import pytest

from deploy import postgres_access
from shared import signing
from tests.integration.conftest import MONITORING_KEY, RESERVATIONS_KEY, VIEWER_KEY, headers_only

pytestmark = pytest.mark.integration
SERVICES = ("disruption", "rebooking", "compensation", "notify")
# Public on purpose, each with a credential of its own: the passenger's choice link carries a
# signed token in its path, and the SMS provider signs its status callbacks.
OWN_CREDENTIAL = {("GET", "/v1/choices/{token}"), ("POST", "/v1/choices/{token}"),
                  ("POST", "/v1/delivery-status/sms")}
WRONG = [{}, {"Authorization": "Bearer wrong-key"}, {"Authorization": "Basic d3Jvbmc6d3Jvbmc="},
         {signing.KEY_ID_HEADER: "demo-dev", signing.SIGNATURE_HEADER: "t=1,v1=" + "0" * 64}]


def operations(openapi: dict) -> list[tuple[str, str]]:
    return [(method.upper(), path) for path, item in openapi["paths"].items() for method in item
            if method in ("get", "post", "put", "patch", "delete")]


@pytest.mark.parametrize("service", SERVICES)
async def test_every_non_public_endpoint_refuses_missing_or_wrong_credentials(stack, service):
    async with httpx.AsyncClient(base_url=stack.url(service), timeout=10) as client:
        guarded = [op for op in operations((await client.get("/openapi.json")).json()) if op not in OWN_CREDENTIAL]
        assert guarded or service == "rebooking"
        for method, path in guarded:
            url = path.replace("{", "").replace("}", "")  # any value for a path parameter
            # Credentials are checked before the body is parsed: JSON that does not parse, or does not
            # fit the route, still gets 401 or 403, never a 422 that reveals the body was read.
            for headers, body in ((h, b) for h in WRONG for b in (b"{}", b'{"unterminated": [1, 2', b"[" * 5000)):
                response = await client.request(method, url, headers=headers | {"Content-Type": "application/json"},
                                                content=body)
                assert response.status_code in (401, 403), f"{service} {method} {path} with {headers}: " \
                                                           f"{response.status_code}"
                assert response.headers["content-type"].startswith("application/problem+json")


async def test_a_forged_choice_link_is_refused_before_its_answer_is_read(stack):
    async with httpx.AsyncClient(base_url=stack.url("rebooking"), timeout=10) as client:
        forged = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA.AAAAAAAAAAAAAAAAAAAAAA"
        response = await client.post(f"/v1/choices/{forged}", content=b'{"answer": ',
                                     headers={"Content-Type": "application/json"})
        assert response.status_code == 403, response.text
        response = await client.post(f"/choice/{forged}", content=b"answer=accept&" + b"x=1&" * 10000,
                                     headers={"Content-Type": "application/x-www-form-urlencoded"})
        assert response.status_code == 403, response.text


async def test_the_ops_api_behind_the_board_refuses_without_the_key(stack):
    async with httpx.AsyncClient(base_url=stack.url("disruption"), timeout=10) as client:
        found = [(m, p) for m, p in operations((await client.get("/openapi.json")).json()) if p.startswith("/ops/api")]
        assert {m for m, _ in found} == {"GET", "POST"}  # the console's reads and its actions
        for method, path in found:
            assert (await client.request(method, path.replace("{", "").replace("}", ""))).status_code == 401, path


async def test_a_status_callback_without_the_providers_signature_is_refused(stack):
    async with httpx.AsyncClient(base_url=stack.url("notify"), timeout=10) as client:
        for headers in ({}, {"X-Twilio-Signature": "forged"}):
            response = await client.post("/v1/delivery-status/sms", headers=headers,
                                         data={"MessageSid": "SM1", "MessageStatus": "delivered"})
            assert response.status_code in (401, 403)


@pytest.mark.parametrize("service", SERVICES)
async def test_every_body_over_its_limit_is_refused_on_its_headers(stack, service):
    """A body claiming more than its route takes is refused with 413 before it is read or its sender
    is asked who they are: only the claim is sent, never the 64 MiB."""
    async with httpx.AsyncClient(base_url=stack.url(service), timeout=10) as client:
        ops = operations((await client.get("/openapi.json")).json())
    for method, path in ops:
        if method in ("GET", "DELETE"):
            continue
        status, answer = await headers_only(stack.url(service), method, path.replace("{", "").replace("}", ""),
                                            {"Content-Type": "application/json",
                                             "Content-Length": str(64 * 1024 * 1024)})
        assert status == 413, f"{service} {method} {path}: {status}"
        assert b"application/problem+json" in answer


async def test_signature_headers_of_any_shape_get_401_never_500(stack):
    """Non-ASCII signatures, a timestamp too long for a float, digits that are not ASCII: refused."""
    odd = ["t=" + "9" * 4000 + ",v1=" + "0" * 64, "t=²,v1=" + "0" * 64, "t=1,v1=é" + "0" * 63,
           "t=1,v1=" + "0" * 65, "", ",,,", "t=,v1=", "v1=" + "f" * 64]
    async with httpx.AsyncClient(base_url=stack.url("disruption"), timeout=10) as client:
        for value in odd:
            response = await client.post("/v1/flight-events", content=b"{}", headers={
                "Content-Type": "application/json", signing.KEY_ID_HEADER: "demo-dev",
                signing.SIGNATURE_HEADER: value.encode()})
            assert response.status_code == 401, (value[:20], response.status_code)
    async with httpx.AsyncClient(base_url=stack.url("notify"), timeout=10) as client:
        response = await client.post("/v1/delivery-status/sms", data={"MessageSid": "SM1"},
                                     headers={"X-Twilio-Signature": "é".encode()})
        assert response.status_code == 401


async def test_pages_carry_their_security_headers(stack):
    """The ops board and the choice page (even refusing a forged link) run only their own scripts,
    cannot be framed or cached, and never pass their address (with a choice token) on as a referrer."""
    async with httpx.AsyncClient(timeout=10) as client:
        for url in (stack.url("disruption") + "/ops", stack.url("rebooking") + "/choice/forged.token"):
            response = await client.get(url)
            assert response.headers["content-type"].startswith("text/html"), url
            assert "frame-ancestors 'none'" in response.headers["content-security-policy"], url
            assert (response.headers["cache-control"], response.headers["referrer-policy"],
                    response.headers["x-frame-options"]) == ("no-store", "no-referrer", "DENY"), url


async def test_a_key_does_only_its_own_job(stack):
    """A board viewer's key reads the board and cannot touch contact details; the reservation
    system's key writes contacts and cannot read the board."""
    viewer = {"Authorization": f"Bearer {VIEWER_KEY}"}
    reservations = {"Authorization": f"Bearer {RESERVATIONS_KEY}"}
    contact = [{"passenger_id": "ROLE01-0", "booking_ref": "ROLE01", "given_name": "Sam", "channels": ["sms"],
                "phone": "+16465550199"}]
    async with httpx.AsyncClient(timeout=10) as client:
        board = stack.url("disruption") + "/ops/api/flights"
        contacts = stack.url("notify") + "/v1/contacts"
        assert (await client.get(board, headers=viewer)).status_code == 200
        assert (await client.put(contacts, json=contact, headers=viewer)).status_code == 403
        assert (await client.delete(contacts + "/ROLE01/ROLE01-0", headers=viewer)).status_code == 403
        assert (await client.get(board, headers=reservations)).status_code == 403
        assert (await client.put(contacts, json=contact, headers=reservations)).status_code == 200
        evaluate = await client.post(stack.url("compensation") + "/v1/entitlements/evaluate", json={},
                                     headers=reservations)
        assert evaluate.status_code == 403 and evaluate.headers["content-type"] == "application/problem+json"


@pytest.mark.parametrize("service", SERVICES)
async def test_metrics_are_for_the_monitoring_key(stack, service):
    async with httpx.AsyncClient(base_url=stack.url(service), timeout=10) as client:
        assert (await client.get("/metrics")).status_code == 401
        assert (await client.get("/metrics", headers={"Authorization": f"Bearer {VIEWER_KEY}"})).status_code == 403
        scraped = await client.get("/metrics", headers={"Authorization": f"Bearer {MONITORING_KEY}"})
        assert scraped.status_code == 200 and "process_cpu_seconds_total" in scraped.text


async def test_each_service_role_reaches_its_own_schema_and_no_other(stack, environment):
    """What deploy/postgres_access.py grants: a service's role owns its schema; another's schema,
    the public schema and a new schema are all refused it; a wrong password is refused."""
    for service in postgres_access.SERVICES:
        conn = await asyncpg.connect(postgres_access.service_url(environment.database_url, service))
        try:
            assert await conn.fetchval(f"SELECT count(*) FROM {service}.inbox") >= 0
            for other in set(postgres_access.SERVICES) - {service}:
                with pytest.raises(asyncpg.InsufficientPrivilegeError):
                    await conn.fetchval(f"SELECT count(*) FROM {other}.inbox")
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                await conn.execute("CREATE TABLE public.stolen (x int)")
            with pytest.raises(asyncpg.InsufficientPrivilegeError):
                await conn.execute("CREATE SCHEMA elsewhere")
            # A service's locks are rows of its own schema: another role cannot hold them, as it
            # could hold any advisory lock (its outbox relay's, its seat counting's) for ever.
            async with conn.transaction():
                assert await conn.fetchval(f"SELECT count(*) FROM (SELECT FROM {service}.locks FOR UPDATE) l") == 4097
            for other in set(postgres_access.SERVICES) - {service}:
                with pytest.raises(asyncpg.InsufficientPrivilegeError):
                    async with conn.transaction():
                        await conn.execute(f"SELECT FROM {other}.locks FOR UPDATE")
            assert await conn.fetchval("SHOW password_encryption") == "scram-sha-256"
        finally:
            await conn.close()
    with pytest.raises(asyncpg.InvalidPasswordError):
        await asyncpg.connect(postgres_access.service_url(environment.database_url, "notify", "not-the-password"))
