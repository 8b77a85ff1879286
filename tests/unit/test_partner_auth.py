from datetime import UTC, date, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from services.disruption.config import DisruptionSettings
from services.disruption.handlers import announced_at
from services.disruption.ingest import clock_problems
from services.disruption.partners import parse_partner_keys
from shared import signing
from shared.consumer import Event
from shared.events import FlightCancelled, FlightRef
from shared.pacing import RateLimiter

DIGEST = signing.key_digest("s3cret")


TARGET = "/v1/flight-events"


def header(body: bytes, t: int, secret: str = "s3cret", target: str = TARGET) -> str:
    return signing.sign("k1", secret, body, target, timestamp=t)[signing.SIGNATURE_HEADER]


def test_a_good_signature_verifies():
    assert signing.verify(DIGEST, header(b"{}", 1000), b"{}", now=1010, tolerance_seconds=300, target=TARGET) is None


def test_wrong_body_wrong_secret_stale_or_malformed_fail_with_a_reason():
    assert "does not match" in signing.verify(DIGEST, header(b"{}", 1000), b"{ }", 1000, 300, TARGET)
    assert "does not match" in signing.verify(DIGEST, header(b"{}", 1000, "other"), b"{}", 1000, 300, TARGET)
    assert "more than 300 s" in signing.verify(DIGEST, header(b"{}", 1000), b"{}", 1301, 300, TARGET)
    assert "malformed" in signing.verify(DIGEST, "v1=abc", b"{}", 1000, 300, TARGET)


def test_the_query_string_is_signed():
    """`/v1/messages` reads `sent_at` and `atomic` from its query: the signature covers them."""
    signed = header(b"MVT", 1000, target="/v1/messages?atomic=true")
    assert signing.verify(DIGEST, signed, b"MVT", 1000, 300, "/v1/messages?atomic=true") is None
    assert "does not match" in signing.verify(DIGEST, signed, b"MVT", 1000, 300, "/v1/messages?atomic=false")
    assert "does not match" in signing.verify(DIGEST, signed, b"MVT", 1000, 300, "/v1/messages")
    assert "does not match" in signing.verify(DIGEST, header(b"{}", 1000), b"{}", 1000, 300, "/v1/other")


def test_version_1_is_taken_without_a_query_string_only():
    """Partners signing v1 (timestamp and body) go on working where the target adds nothing."""
    v1 = f"t=1000,v1={signing.signature(DIGEST, 1000, b'{}')}"
    assert signing.verify(DIGEST, v1, b"{}", 1000, 300, TARGET) is None
    assert "query string is signed with v2" in signing.verify(DIGEST, v1, b"{}", 1000, 300, TARGET + "?atomic=true")


def test_our_signer_is_taken_by_the_previous_release_too_where_no_query_is_signed():
    """A replica of the previous release reads v1 alone (075e135:shared/signing.py); during a
    rollout the partner's request may reach it. With a query string, v2 alone: v1 would let its
    query be changed."""
    plain = header(b"{}", 1000)
    assert f"v1={signing.signature(DIGEST, 1000, b'{}')}" in plain
    assert signing.verify(DIGEST, plain, b"{}", 1000, 300, TARGET) is None
    assert "v1=" not in header(b"MVT", 1000, target="/v1/messages?atomic=true")


def test_the_target_is_as_sent():
    scope = {"path": "/v1/messages", "raw_path": b"/v1/messages", "query_string": b"sent_at=2013-02-08T10%3A00Z"}
    assert signing.request_target(scope) == "/v1/messages?sent_at=2013-02-08T10%3A00Z"
    assert signing.request_target({"path": "/v1/x", "query_string": b""}) == "/v1/x"
    assert signing.target_of("https://push.example/v1/push?a=1#f") == "/v1/push?a=1"
    assert signing.target_of("https://push.example") == "/"


@given(st.binary(max_size=200), st.integers(0, 2**31), st.from_regex(r"/[!-~]{0,40}", fullmatch=True))
def test_signing_round_trip(body, t, target):
    assert signing.verify(DIGEST, header(body, t, target=target), body, t, 0, target) is None


def test_keys_parse_and_rotation_gives_a_partner_two():
    keys = parse_partner_keys(f"acme:k1:{DIGEST},acme:k2:{signing.key_digest('new')}")
    assert {k.partner for k in keys.values()} == {"acme"} and set(keys) == {"k1", "k2"}


def test_a_bad_key_entry_is_refused():
    for bad in ("acme:k1:short", f"acme:{DIGEST}", f"a:k:{DIGEST},b:k:{DIGEST}"):
        try:
            parse_partner_keys(bad)
        except ValueError:
            continue
        raise AssertionError(bad)


def test_rate_limit_refills_and_says_how_long_to_wait():
    now = [0.0]
    limiter = RateLimiter(rate=2, burst=3, clock=lambda: now[0])
    assert [limiter.take("acme") for _ in range(3)] == [0, 0, 0]
    assert limiter.take("acme") == 0.5
    assert limiter.take("other") == 0  # each partner has its own bucket
    now[0] = 0.5
    assert limiter.take("acme") == 0


@given(st.text(max_size=300), st.binary(max_size=50), st.floats(allow_nan=False, allow_infinity=False))
def test_any_signature_header_gets_a_reason_never_an_exception(header_value, body, now):
    """Verifiers never crash: any text at all as the header, at any time."""
    assert signing.verify(DIGEST, header_value, body, now, 300, TARGET) is not None


def test_a_timestamp_too_long_for_a_float_or_not_ascii_is_malformed():
    for value in ("t=" + "9" * 4000 + ",v1=" + "0" * 64, "t=²,v1=" + "0" * 64, "t=1,v1=é" + "0" * 63):
        assert "malformed" in signing.verify(DIGEST, value, b"{}", 1000, 300, TARGET)


def test_a_key_may_be_limited_to_airlines_and_airports():
    (key,) = parse_partner_keys(f"jfk:k1:{DIGEST}:carriers=B6+AA:airports=JFK+LGA").values()
    day = date(2013, 2, 8)
    assert key.refusal(FlightRef(carrier="B6", number="1", departure_date=day, origin="JFK")) is None
    assert key.refusal(FlightRef(carrier="AA", number="1", departure_date=day, destination="LGA")) is None
    assert "not DL" in key.refusal(FlightRef(carrier="DL", number="1", departure_date=day, origin="JFK"))
    assert "reports at" in key.refusal(FlightRef(carrier="B6", number="1", departure_date=day, origin="BOS"))
    assert "reports at" in key.refusal(FlightRef(carrier="B6", number="1", departure_date=day))
    (any_key,) = parse_partner_keys(f"demo:k2:{DIGEST}").values()
    assert any_key.refusal(FlightRef(carrier="DL", number="1", departure_date=day)) is None
    for bad in (f"a:k:{DIGEST}:carriers=", f"a:k:{DIGEST}:region=EU", f"a:k:{DIGEST}:carriers=B6:carriers=AA"):
        try:
            parse_partner_keys(bad)
        except ValueError:
            continue
        raise AssertionError(f"{bad} was accepted")


def test_only_a_replay_key_sends_old_news_and_only_outside_production():
    (replay, partner) = parse_partner_keys(f"demo:k1:{DIGEST}:history,jfk:k2:{DIGEST}:carriers=B6").values()
    assert replay.history and not partner.history
    now = datetime(2026, 11, 30, 12, tzinfo=UTC)
    ref = FlightRef(carrier="B6", number="1", departure_date=date(2026, 11, 30))
    events = [FlightCancelled(partner_event_id=str(i), flight=ref, reason="weather", occurred_at=now + ago)
              for i, ago in enumerate((-timedelta(days=4), -timedelta(hours=2), timedelta(minutes=6)))]
    assert clock_problems(partner, events, now) == [
        {"field": "events[0].occurred_at", "pointer": "/0/occurred_at", "message": "more than 3 days old"},
        {"field": "events[2].occurred_at", "pointer": "/2/occurred_at", "message": "in the future"}]
    assert clock_problems(replay, events, now) == [{"field": "events[2].occurred_at", "pointer": "/2/occurred_at",
                                                    "message": "in the future"}]
    with pytest.raises(ValidationError, match="history"):
        DisruptionSettings(environment="production", api_keys="ops-viewer:" + "k" * 40,
                           partner_keys=f"demo:k1:{DIGEST}:history")


def test_only_the_airlines_own_clock_or_a_replays_dates_an_announcement():
    """A partner's back-dated stamp must not lengthen the notice EU261 art. 5(1)(c) counts."""
    accepted = datetime(2026, 11, 30, 12, tzinfo=UTC)
    event = FlightCancelled(partner_event_id="1", reason="weather", occurred_at=accepted - timedelta(days=2),
                            flight=FlightRef(carrier="B6", number="1", departure_date=date(2026, 12, 10)))
    for source, told in (("partner/jfk", accepted), ("replay/demo", event.occurred_at),
                         ("operations/nycflights13", event.occurred_at), ("/ops/flight-control", event.occurred_at)):
        assert announced_at(Event(id="e1", source=source, time=accepted, payload=event)) == told
