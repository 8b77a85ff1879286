"""Choice links: one per passenger, signed with a key the service can rotate, short enough for a
text message, refused when altered, expired, or signed with a key the service no longer holds."""

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.rebooking.links import ChoiceLink, ExpiredLink, InvalidLink, parse_keys, sign, verify

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
OFFER = ChoiceLink("1b4e28ba-2fa1-11d2-883f-0016d3cca427", "ABC123", 0, NOW + timedelta(hours=3))
KEYS = parse_keys("1:secret")


def test_a_link_names_its_rebooking_and_passenger_and_is_short_enough_for_a_text():
    token = sign(KEYS, OFFER)
    assert verify(KEYS, token, NOW) == OFFER
    # With https://…/choice/ in front it stays well inside one 160-character text.
    assert len(token) < 64
    second = ChoiceLink(OFFER.disruption_id, OFFER.booking_ref, 1, OFFER.expires)
    assert sign(KEYS, second) != token and verify(KEYS, sign(KEYS, second), NOW).passenger == 1


def test_a_link_is_refused_after_its_expiry():
    with pytest.raises(ExpiredLink):
        verify(KEYS, sign(KEYS, OFFER), OFFER.expires)


def test_another_secret_or_a_stretched_expiry_or_another_passenger_is_refused():
    token = sign(KEYS, OFFER)
    with pytest.raises(InvalidLink):
        verify(parse_keys("1:other"), token, NOW)
    for changed in (ChoiceLink(OFFER.disruption_id, OFFER.booking_ref, 0, NOW + timedelta(days=30)),
                    ChoiceLink(OFFER.disruption_id, OFFER.booking_ref, 1, OFFER.expires)):
        forged = sign(parse_keys("1:other"), changed)
        with pytest.raises(InvalidLink):
            verify(KEYS, forged.split(".")[0] + "." + token.split(".")[1], NOW)


def test_the_secret_rotates_links_signed_before_still_work_until_the_old_key_goes():
    old = sign(parse_keys("1:first-secret"), OFFER)
    during = parse_keys("2:second-secret,1:first-secret")
    assert verify(during, old, NOW) == OFFER
    new = sign(during, OFFER)
    assert new != old and verify(parse_keys("2:second-secret"), new, NOW) == OFFER
    with pytest.raises(InvalidLink):
        verify(parse_keys("2:second-secret"), old, NOW)


@pytest.mark.parametrize("text", ["", "1:a,1:b", "256:a", "x:a", "1:"])
def test_a_key_ring_that_cannot_work_is_refused(text):
    with pytest.raises(ValueError):
        parse_keys(text)


@given(st.text(max_size=120))
def test_any_garbage_is_refused_cleanly(token):
    with pytest.raises(InvalidLink):
        verify(KEYS, token, NOW)


@given(st.integers(0, 63), st.integers(0, 7))
def test_any_single_altered_character_is_refused(position, bits):
    token = sign(KEYS, OFFER)
    i = position % len(token)
    altered = token[:i] + chr(ord(token[i]) ^ (bits + 1)) + token[i + 1:]
    if altered != token:
        with pytest.raises((InvalidLink, ExpiredLink)):
            verify(KEYS, altered, NOW)
