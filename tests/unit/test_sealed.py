"""Secrets sealed for notify: only notify's private key opens them, altered ones are refused, and
the key can rotate."""

import base64

import pytest
from hypothesis import given
from hypothesis import strategies as st
from nacl.public import PrivateKey

from shared.sealed import DEVELOPMENT_PRIVATE_KEYS, DEVELOPMENT_PUBLIC_KEY, Opener, SealedError, Sealer


def pair(kid: str) -> tuple[str, str]:
    key = PrivateKey.generate()
    return (f"{kid}:{base64.b64encode(bytes(key.public_key)).decode()}",
            f"{kid}:{base64.b64encode(bytes(key)).decode()}")


def test_the_development_pair_is_a_pair():
    assert Opener.parse(DEVELOPMENT_PRIVATE_KEYS).open(Sealer.parse(DEVELOPMENT_PUBLIC_KEY).seal("RB-1")) == "RB-1"


@given(st.text(max_size=300))
def test_what_is_sealed_opens_as_it_was_and_shows_nothing_of_itself(secret):
    public, private = pair("k1")
    sealed = Sealer.parse(public).seal(secret)
    assert sealed.startswith("sealed:k1:")
    if len(secret) >= 4:
        assert secret not in sealed
    assert Opener.parse(private).open(sealed) == secret


def test_sealed_values_open_wherever_they_are_in_a_notices_facts():
    public, private = pair("k1")
    sealer = Sealer.parse(public)
    facts = {"grants": [{"kind": "meal", "code": sealer.seal("RB-ABCD")}, {"kind": "refund", "code": None}],
             "choice_urls": {"P1": sealer.seal("https://x/choice/t1")}, "new_flight": "B6 1"}
    assert Opener.parse(private).open_all(facts) == {
        "grants": [{"kind": "meal", "code": "RB-ABCD"}, {"kind": "refund", "code": None}],
        "choice_urls": {"P1": "https://x/choice/t1"}, "new_flight": "B6 1"}


def test_another_key_or_an_altered_value_is_refused_and_rotation_works():
    (public1, private1), (public2, private2) = pair("k1"), pair("k2")
    sealed = Sealer.parse(public1).seal("RB-ABCD")
    with pytest.raises(SealedError, match="does not hold"):
        Opener.parse(private2).open(sealed)
    both = Opener.parse(f"{private2},{private1}")
    assert both.open(sealed) == "RB-ABCD" and both.open(Sealer.parse(public2).seal("x")) == "x"
    altered = sealed[:-6] + ("A" if sealed[-6] != "A" else "B") + sealed[-5:]
    with pytest.raises(SealedError):
        Opener.parse(private1).open(altered)


@pytest.mark.parametrize("text", ["", "k1", "k1:notbase64!", "k1:" + base64.b64encode(b"short").decode()])
def test_a_key_that_cannot_work_is_refused_without_showing_it(text):
    with pytest.raises(ValueError) as refused:
        Opener.parse(text)
    assert text.partition(":")[2] not in str(refused.value) or not text.partition(":")[2]
