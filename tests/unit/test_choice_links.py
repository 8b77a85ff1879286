from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.rebooking.links import ExpiredLink, InvalidLink, Offer, sign, verify

NOW = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
OFFER = Offer("1b4e28ba-2fa1-11d2-883f-0016d3cca427", "ABC123", NOW + timedelta(hours=3))


def test_a_link_names_its_rebooking_and_is_short_enough_for_a_text():
    token = sign("secret", OFFER)
    assert verify("secret", token, NOW) == OFFER
    assert len(token) < 64


def test_a_link_is_refused_after_its_expiry():
    with pytest.raises(ExpiredLink):
        verify("secret", sign("secret", OFFER), OFFER.expires)


def test_another_secret_or_a_stretched_expiry_is_refused():
    token = sign("secret", OFFER)
    with pytest.raises(InvalidLink):
        verify("other", token, NOW)
    forged = sign("other", Offer(OFFER.disruption_id, OFFER.booking_ref, NOW + timedelta(days=30)))
    with pytest.raises(InvalidLink):
        verify("secret", forged.split(".")[0] + "." + token.split(".")[1], NOW)


@given(st.text(max_size=120))
def test_any_garbage_is_refused_cleanly(token):
    with pytest.raises(InvalidLink):
        verify("secret", token, NOW)


@given(st.integers(0, 59), st.integers(0, 7))
def test_any_single_altered_character_is_refused(position, bits):
    token = sign("secret", OFFER)
    i = position % len(token)
    altered = token[:i] + chr(ord(token[i]) ^ (bits + 1)) + token[i + 1:]
    if altered != token:
        with pytest.raises((InvalidLink, ExpiredLink)):
            verify("secret", altered, NOW)
