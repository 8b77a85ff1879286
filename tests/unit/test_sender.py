"""The sender's guard of a provider: a half-open circuit breaker's probe always ends, whichever
question the probe asks the provider (a send, or only a lookup of messages sent before)."""

import asyncio

import pytest

from services.notify.config import Config, NotifySettings
from services.notify.policy import CircuitBreaker
from services.notify.providers import Accepted, Outgoing, TransientFailure
from services.notify.sender import Sender, Throttle


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


def delivery(uncertain: bool) -> dict:
    return {"id": 1, "channel": "sms", "uncertain": uncertain, "attempts": 2, "traceparent": None,
            "channels": ["sms"], "opted_out": [], "email": None, "phone": "+15550001111", "siblings": ["sms"]}


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
