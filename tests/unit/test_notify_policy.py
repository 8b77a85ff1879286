"""Which channels carry a notice, when to fall back, when to stop calling a failing provider, and
how long to wait: pure rules, no I/O."""

import random
from datetime import UTC, datetime, timedelta

from hypothesis import given
from hypothesis import strategies as st

from services.notify.policy import CircuitBreaker, Planned, after_failure, fallback_for, reachable, supersede
from shared.pacing import backoff as retry_delay


def test_reachable_channels_need_an_address_and_consent():
    assert reachable(["sms", "email"], [], "a@b.c", "+12125550123") == ["sms", "email"]
    assert reachable(["sms", "email"], [], "a@b.c", None) == ["email"]
    assert reachable(["push", "sms"], ["sms"], None, "+12125550123") == ["push"]


def test_fallback_takes_the_next_preference_then_any_address_on_file_never_a_refused_one():
    assert fallback_for("sms", ["sms", "email"], [], "a@b.c", "+1212", already=["sms"]) == "email"
    # chose SMS only, but an email address is on file and was not refused
    assert fallback_for("sms", ["sms"], [], "a@b.c", "+1212", already=["sms"]) == "email"
    assert fallback_for("sms", ["sms"], ["email"], "a@b.c", "+1212", already=["sms"]) is None
    # both chosen: the email is already going, so there is nothing to fall back to
    assert fallback_for("sms", ["sms", "email"], [], "a@b.c", "+1212", already=["sms", "email"]) is None
    assert fallback_for("email", ["email", "push"], [], "a@b.c", None, already=["email"]) == "push"


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_the_breaker_opens_after_repeated_failures_probes_and_closes():
    clock = Clock()
    breaker = CircuitBreaker(threshold=3, cooldown=10, max_cooldown=60, clock=clock)
    for _ in range(2):
        assert breaker.allows()
        breaker.failed()
    assert breaker.state == "closed"
    breaker.failed()
    assert breaker.state == "open" and not breaker.allows() and breaker.reopens_in() == 10
    clock.now = 10
    assert breaker.allows() and not breaker.allows()  # one probe at a time
    breaker.failed()  # the probe failed: open for twice as long
    assert breaker.state == "open" and breaker.reopens_in() == 20
    clock.now = 30
    assert breaker.allows()
    breaker.succeeded()
    assert breaker.state == "closed" and breaker.allows()


def test_a_success_resets_the_count():
    breaker = CircuitBreaker(threshold=2, cooldown=10, max_cooldown=60, clock=Clock())
    breaker.failed()
    breaker.succeeded()
    breaker.failed()
    assert breaker.state == "closed"


@given(st.integers(0, 30), st.integers(0, 2 ** 32))
def test_retry_delay_is_jittered_within_an_exponential_bound(attempt, seed):
    delay = retry_delay(attempt, rand=random.Random(seed))
    assert 0 <= delay <= min(300.0, 2.0 ** attempt)


DAY = 24 * 3600.0


def test_a_provider_outage_is_waited_out_never_counted_against_the_passenger():
    """Twilio's own advice for 20503 "Service unavailable" (twilio.com/docs/api/errors/20503):
    "Try again a few times with exponential back-off; if the problem persists, contact support".
    A few times, then the passenger's other channel; with none, the outage is waited out (a CI
    fault run found three passengers never told their rebooking: six 503s in a row across two
    short SMS outages had marked their only text failed)."""
    assert after_failure(2, 6, 10, DAY, "email", permanent=False) == "retrying"
    assert after_failure(6, 6, 10, DAY, "email", permanent=False) == "fallen_back"
    assert after_failure(6, 6, 10, DAY, None, permanent=False) == "retrying"
    assert after_failure(40, 6, DAY, DAY, None, permanent=False) == "failed"


def test_a_refusal_for_good_goes_by_the_other_channel_at_once():
    """Twilio 21211 "Invalid 'To' Phone Number" will not pass by waiting; an email on file will do."""
    assert after_failure(1, 6, 0, DAY, "email", permanent=True) == "fallen_back"
    assert after_failure(1, 6, 0, DAY, None, permanent=True) == "failed"


@given(st.integers(1, 1000), st.integers(1, 20), st.floats(0, 10 * DAY), st.sampled_from([None, "email", "sms"]),
       st.booleans())
def test_a_notice_is_given_up_only_when_nothing_else_can_carry_it(attempts, most, waited, other, permanent):
    status = after_failure(attempts, most, waited, DAY, other, permanent=permanent)
    if status == "failed":
        assert other is None and (permanent or (attempts >= most and waited >= DAY))
    if status == "fallen_back":
        assert other is not None
    if not permanent and waited < DAY:
        assert status != "failed"


T = datetime(2026, 12, 3, 20, 0, tzinfo=UTC)


def planned(id: int, status: str, minutes: int, notice: str = "old", channel: str = "sms") -> Planned:
    return Planned(id, "P1", channel, status, T + timedelta(minutes=minutes), (notice, 0))


def test_a_newer_notice_replaces_unsent_older_ones_only():
    replaced, stale = supersede([planned(1, "pending", 0), planned(2, "retrying", 1), planned(3, "sending", 2),
                                 planned(4, "sent", 3), planned(5, "pending", 1, channel="email")],
                                T + timedelta(minutes=10), ("new", 0))
    assert replaced == [1, 2, 5] and not stale  # on any channel; one on its way, or gone, is past recall


def test_an_older_notice_arriving_late_is_stale():
    replaced, stale = supersede([planned(1, "sent", 10, "newer")], T, ("older", 0))
    assert not replaced and stale == {"P1"}
    # unless the newer one was itself superseded
    assert supersede([planned(1, "superseded", 10, "newer")], T, ("older", 0)) == ([], set())


def test_a_redelivered_notice_neither_replaces_nor_is_replaced_by_itself():
    assert supersede([planned(1, "pending", 0, "same")], T, ("same", 0)) == ([], set())
