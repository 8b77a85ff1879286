"""The sender's guard of a provider: a half-open circuit breaker's probe always ends, whichever
question the probe asks the provider (a send, or only a lookup of messages sent before)."""

import asyncio
import re
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.notify.config import Config, NotifySettings
from services.notify.policy import CircuitBreaker
from services.notify.providers import Accepted, Deferred, Outgoing, Refused, TransientFailure
from services.notify.sender import Sender, Throttle, provider_key, provider_outcomes
from services.notify.store import Claimed


class Provider:
    most = 10

    def __init__(self, lookup_fails: bool, taken: bool) -> None:
        self.lookup_fails, self.taken, self.sent = lookup_fails, taken, 0

    async def accepted(self, keys):
        if self.lookup_fails:
            raise TransientFailure("HTTP 503")
        return {k: k for k in keys} if self.taken else {}

    async def send(self, messages):
        self.sent += len(messages)
        return [Accepted(m.key) for m in messages]


def delivery(uncertain: bool, attempts: int = 2, email: str | None = None, hours_ago: float = 0.0) -> Claimed:
    return Claimed(id=1, passenger_id="1", disruption_id="d-1", booking_ref="ABC123", stage="first_notice",
                   revision=0, channel="sms", about=None, template="first_notice_cancelled", facts={},
                   occurred_at=datetime.now(UTC), created_at=datetime.now(UTC) - timedelta(hours=hours_ago),
                   attempts=attempts, traceparent=None, given_name="Ana", email=email, phone="+15550001111",
                   locale="en", channels=["sms"], opted_out=[], siblings=["sms"], uncertain=uncertain)


@pytest.mark.parametrize(("lookup_fails", "taken", "state"), [(True, False, "open"), (False, True, "closed"),
                                                             (False, False, "closed")])
async def test_a_half_open_breakers_probe_ends_even_when_it_only_looks_up(lookup_fails, taken, state):
    now = [0.0]
    breaker = CircuitBreaker(threshold=1, cooldown=10, max_cooldown=60, clock=lambda: now[0])
    breaker.failed()
    now[0] = 11.0  # half open: the next call is the probe
    provider = Provider(lookup_fails, taken)
    sender = Sender(Config.of(NotifySettings(environment="test")), None, {"sms": provider},
                    {"sms": Throttle("sms", 1000, 1000, breaker)}, first_notices=True, concurrency=1,
                    first_notices_idle=asyncio.Event())
    [result] = await sender._send("sms", [(delivery(uncertain=True), Outgoing("k", "+15550001111", "s", "b"))])
    assert (breaker.state, breaker.probing) == (state, False)
    assert result.status == ("retrying" if lookup_fails else "sent")
    assert provider.sent == (0 if lookup_fails or taken else 1)


class RaisesOnOne:
    """A batch provider whose HTTP client raises for one message's value, as aiohttp raises
    `ValueError` for a header holding CR or LF (found here: the whole claimed batch went unrecorded
    and was sent again every lease, to everyone else on the flight). It had taken nothing when it
    raised."""

    most = 10

    def __init__(self) -> None:
        self.requests: list[list[str]] = []
        self.lookups: list[list[str]] = []

    async def accepted(self, keys):
        self.lookups.append(list(keys))
        return {}

    async def send(self, messages):
        self.requests.append([m.key for m in messages])
        if any("\r\n" in m.to for m in messages):
            raise ValueError("Newline or carriage return character detected in HTTP status message or header")
        return [Accepted(f"id-{m.key}") for m in messages]


async def test_one_message_a_provider_cannot_take_is_refused_alone():
    provider = RaisesOnOne()
    messages = [Outgoing(key=f"k{n}", to="+15550001111\r\nX-Evil: 1" if n == 2 else "+15550001111",
                         subject="s", body="b") for n in range(4)]
    outcomes = await provider_outcomes(provider, messages)
    assert outcomes[:2] == [Accepted("id-k0"), Accepted("id-k1")] and outcomes[3] == Accepted("id-k3")
    assert outcomes[2] == Refused("could not be sent: ValueError")  # its kind, never its text
    assert provider.lookups == [["k0", "k1", "k2", "k3"]]  # the batch request may have left: asked first
    assert provider.requests == [["k0", "k1", "k2", "k3"], ["k0"], ["k1"], ["k2"], ["k3"]]


@given(st.text(), st.text(), st.text(), st.text(), st.integers(0, 99), st.sampled_from(["sms", "email", "push"]))
def test_a_providers_idempotency_key_is_safe_anywhere_whatever_the_ids_hold(disruption, booking, passenger, stage,
                                                                           revision, channel):
    """Readable where every part is plain, else a digest: never a CR, LF, quote or space."""
    key = provider_key(disruption, booking, passenger, stage, revision, channel)
    assert re.fullmatch(r"[A-Za-z0-9._:-]{1,200}", key)
    assert key == provider_key(disruption, booking, passenger, stage, revision, channel)
    assert key != provider_key(disruption, booking + "X", passenger, stage, revision, channel)


def test_two_bookings_passengers_of_the_same_id_have_two_keys():
    assert provider_key("d-1", "ABC123", "1", "first_notice", 0, "sms") == "d-1:ABC123:1:first_notice:0:sms"
    assert provider_key("d-1", "XYZ789", "1", "first_notice", 0, "sms") == "d-1:XYZ789:1:first_notice:0:sms"
    assert provider_key('d "1"\r\n', "ABC123", "1", "first_notice", 0, "sms").startswith("sha256-")


def test_beside_the_previous_release_its_key_is_given_so_a_delivery_has_one_key_at_the_provider():
    """075e135:services/notify/sender.py keyed `<disruption>.<passenger>.<stage>.<revision>.<channel>`:
    a delivery one release claimed and the other sends again must be the same message there."""
    assert provider_key("d-1", "ABC123", "1", "first_notice", 0, "sms", as_previous_release=True) == \
        "d-1.1.first_notice.0.sms"
    assert provider_key('d "1"', "ABC123", "1", "first_notice", 0, "sms",
                        as_previous_release=True).startswith("sha256-")


class Down:
    """An SMS provider answering 503 to everything, as the sandbox does under the `sms_failing` fault."""

    most = 10

    async def accepted(self, keys):
        raise TransientFailure("HTTP 503")

    async def send(self, messages):
        return [Deferred("HTTP 503") for _ in messages]


@pytest.mark.parametrize(("attempts", "email", "hours_ago", "status"), [
    (2, None, 0, "retrying"), (6, None, 0, "retrying"), (6, "p@example.org", 0, "fallen_back"),
    (30, None, 25, "failed")])
async def test_a_failing_provider_is_waited_out_or_the_other_channel_taken(attempts, email, hours_ago, status):
    breaker = CircuitBreaker(threshold=1000, cooldown=10, max_cooldown=60, clock=lambda: 0.0)
    sender = Sender(Config.of(NotifySettings(environment="test")), None, {"sms": Down()},
                    {"sms": Throttle("sms", 1000, 1000, breaker)}, first_notices=False, concurrency=1,
                    first_notices_idle=asyncio.Event())
    d = delivery(uncertain=False, attempts=attempts, email=email, hours_ago=hours_ago)
    [result] = await sender._send("sms", [(d, Outgoing("k", "+15550001111", "s", "b"))])
    assert result.status == status
    assert (result.fallback == "email") == (status == "fallen_back")
