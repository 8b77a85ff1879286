"""Every notice kind renders in every channel, in plain words, short enough for its channel."""

import re
import typing
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.notify import replies
from services.notify.templates import (
    LOCALES,
    Channel,
    RenderedNotice,
    Renderer,
    gsm_safe,
    money,
    render_notice,
    sms_segments,
)
from shared import notices
from shared.events import DisruptionKind

TEMPLATES = sorted({p.name.split(".")[0] for p in
                    (Path(__file__).parents[2] / "services/notify/templates").glob("*.j2")})
FACTS = {
    "flight": "B6 1001", "origin": "JFK", "destination": "BOS",
    "departure": "2013-02-08T22:40:00+00:00",
    "arrival": "2013-02-08T23:55:00+00:00", "cause": "weather",
    "delay_minutes": 95, "estimated_departure": "2013-02-09T00:15:00+00:00",
    "new_flight": "B6 1005", "new_origin": "LGA", "new_destination": "BOS",
    "new_departure": "2013-02-09T14:15:00+00:00", "diverted_to": "PVD",
    "inbound_flight": "B6 88", "inbound_origin": "PWM", "inbound_destination": "JFK",
    "inbound_departure": "2013-02-08T19:00:00+00:00", "inbound_arrival": "2013-02-08T20:20:00+00:00",
    "estimated_arrival": "2013-02-08T22:05:00+00:00",
    "new_arrival": "2013-02-09T15:35:00+00:00", "new_via": None, "cabin": "economy",
    "via": "ORD", "to": "LAX", "whole_trip": True, "topic": "care_at_airport", "place": "Terminal 5, desk B",
    "choice_urls": {"P1": "https://rebound.example/choice/QUJDMTIzV2hhdGV2ZXJ0aGlzaXMxMjM0.OTg3NjU0MzIxMDk4NzY1NA",
                    "P2": "https://rebound.example/choice/UDJXaGF0ZXZlcnRoaXNpczEyMzRBQkMx.MTIzNDU2Nzg5MDk4NzY1NA"},
    "respond_by": "2013-02-09T13:15:00+00:00", "split": False, "downgraded": False,
    "why": "An unaccompanied minor can only be moved to a direct flight, and none has a seat.",
    "grants": [{"passenger_id": "P1", "regime": "AIRLINE", "kind": "meal", "amount": "15.00", "added": "15.00",
                "currency": "USD", "code": "RB-ABCD-EFGH-IJKL-MNOP", "expires_at": "2013-02-10T22:40:00+00:00",
                "due_by": None, "reason": "You wait 3 h because of a crew problem, so we give you a meal voucher."},
               {"passenger_id": "P1", "regime": "US_DOT", "kind": "refund", "amount": "388.00", "added": "388.00",
                "currency": "USD", "code": None, "expires_at": None, "due_by": "2013-02-19T22:40:00+00:00",
                "reason": "Your flight was cancelled and no alternative was offered, so US rules refund it."},
               {"passenger_id": "P2", "regime": "AIRLINE", "kind": "credit", "amount": "75", "added": "75",
                "currency": "USD", "code": "RB-QRST-UVWX-YZ23-4567", "expires_at": "2014-02-08T22:40:00+00:00",
                "due_by": None, "reason": "You arrive 3 h late because of a crew problem, so we add a credit."}],
}


# Notify's longest reply to a passenger: three other flights, numbered.
REPLY = {"topic": "options", "answer_within": 30, "help_line": "+1 555 010 0000",
         "options": [{"flights": f"B6 {n} + B6 88", "origin": "JFK", "destination": "BOS",
                      "departure": "2013-02-09T14:15:00+00:00", "arrival": "2013-02-09T18:35:00+00:00"}
                     for n in (1005, 1007, 1009)]}


def facts_for(kind: str, facts: dict) -> dict:
    """What of `facts` a notice of `kind` holds (a reply's own where the notices' are not its)."""
    if kind in replies.KINDS:
        return REPLY | {k: v for k, v in facts.items() if k in ("text", "topic") and k in facts.get("_reply", ())}
    return {k: v for k, v in facts.items() if k in KINDS[kind].model_fields}


def render(kind: str, channel: Channel, locale: str, facts: dict, name: str, passenger_id: str | None = None
           ) -> RenderedNotice:
    """A notice of `kind`, told what of `facts` its model holds, rendered as notify renders it."""
    notice = KINDS[kind].model_validate(facts_for(kind, facts))
    return render_notice(notice, channel, locale, name, passenger_id)


JARGON = re.compile(r"\b(IROPS?|misconnect\w*|equipment|reaccommodat\w*|PNR|pax|ETD|STD|ETA|"
                    r"involuntary|irregular operations?|EU261|APPR|DOT|"
                    r"reubicaci\w*|irregularidad\w*|pasajero involuntario)\b", re.IGNORECASE)
APOLOGY = {"en": ("sorry",), "es": ("sentimos", "lo sentimos"), "fr": ("désolés",), "de": ("es tut uns leid",)}
# Notify's own replies to passengers' messages beside the notices the services ask for.
KINDS = notices.KINDS | replies.KINDS
FIRST_NOTICES = [t for t in TEMPLATES if t.startswith("first_notice")]


def test_every_notice_kind_has_its_model_and_its_templates():
    assert set(KINDS) == set(TEMPLATES)


def test_there_are_templates():
    assert {f"first_notice_{kind}" for kind in typing.get_args(DisruptionKind)} <= set(TEMPLATES)
    assert {"rebooked", "no_alternative", "no_onward", "returned", "needs_agent", "changed", "entitlements",
            "flight_reinstated"} <= set(TEMPLATES)


@pytest.mark.parametrize("locale", LOCALES)
def test_a_refund_notice_says_which_part_is_refunded(locale):
    words = {"en": ("this trip and your return", "this part of your trip"),
             "es": ("este viaje y la vuelta", "esta parte del viaje"),
             "fr": ("ce voyage et votre retour", "cette partie du voyage"),
             "de": ("diese Reise und Ihren Rückflug", "diesen Teil der Reise")}
    whole, part = words[locale]
    assert whole in render("no_alternative", "sms", locale, FACTS, "Ana").body
    assert part in render("no_alternative", "sms", locale, FACTS | {"whole_trip": False}, "Ana").body
    told = render("no_onward", "email", locale, FACTS, "Ana").body
    assert "Chicago" in told and "Los Angeles" in told


@pytest.mark.parametrize("template", TEMPLATES)
@pytest.mark.parametrize("channel", ["sms", "email"])
@pytest.mark.parametrize("locale", LOCALES)
def test_every_kind_renders_in_every_channel_and_language_in_plain_words(template, channel, locale):
    path = Path(__file__).parents[2] / f"services/notify/templates/{template}.{channel}.{locale}.j2"
    assert path.exists(), f"{path.name} is missing"
    notice = render(template, channel, locale, FACTS, "Christopher", "P1")
    assert notice.body and "{" not in notice.body and "None" not in notice.body
    assert not JARGON.search(notice.body + notice.subject), JARGON.search(notice.body + notice.subject)
    if channel == "sms":
        assert sms_segments(notice.body) <= 2, (sms_segments(notice.body), notice.body)
    else:
        assert notice.subject and len(notice.subject) <= 78


@pytest.mark.parametrize("template", FIRST_NOTICES)
@pytest.mark.parametrize("locale", LOCALES)
def test_a_first_notice_apologises_and_says_what_happened(template, locale):
    email = render(template, "email", locale, FACTS, "Ana").body.lower()
    assert any(word in email for word in APOLOGY[locale]) or "reinstated" in template
    assert FACTS["flight"].lower() in email


@pytest.mark.parametrize("locale", LOCALES)
def test_a_cancellation_text_fits_one_segment(locale):
    sms = render("first_notice_cancelled", "sms", locale, FACTS, "Christopher").body
    assert sms_segments(sms) == 1, (len(sms), sms)


def test_first_notice_says_what_happened_and_apologises():
    notice = render("first_notice_cancelled", "sms", "en", FACTS, "Ana")
    assert "5:40 pm" in notice.body  # the local time in New York, not UTC
    assert "Boston" in notice.body and "cancelled" in notice.body and "sorry" in notice.body


def test_an_unknown_locale_falls_back_to_english():
    assert render("rebooked", "email", "xx", FACTS, "Ana").subject.startswith("Your new")


def test_formatting():
    assert "at 9:15 am on Saturday 9 February" in render("changed", "email", "en", FACTS, "Ana").body
    spanish = render("changed", "email", "es", FACTS, "Ana").body
    assert "a las 9:15 del sábado 9 de febrero" in spanish  # 24-hour clock, New York time
    assert money("15.00", "USD") == "$15" and money("1200.5", "EUR") == "€1,200.50"
    # French and German as the Unicode CLDR writes them (Babel), whole amounts without cents.
    assert money("400.00", "EUR", "fr") == "400 €" and money("1200.5", "EUR", "de") == "1.200,50 €"


def test_a_spanish_text_stays_in_the_sms_alphabet():
    sms = render("first_notice_cancelled", "sms", "es", FACTS | {"cause": "technical"}, "Ana").body
    # é is in the SMS alphabet and stays; á and ó are not, and lose their accents
    assert "técnico" in sms and "esta cancelado" in sms and "del avion" in sms
    assert sms == gsm_safe(sms)
    assert sms_segments("á" * 70) == 1 and sms_segments("a" * 160) == 1 and sms_segments("a" * 161) == 2
    assert sms_segments("€" * 80) == 1 and sms_segments("€" * 81) == 2  # extension characters count twice


@given(st.text(max_size=400))
def test_gsm_safe_never_lengthens_the_segments(text):
    assert sms_segments(gsm_safe(text)) <= sms_segments(text) or len(gsm_safe(text)) > len(text)


def test_a_rebooking_notice_carries_the_choice_link_and_a_connection_says_where():
    facts = FACTS | {"new_via": "BOS", "new_destination": "PWM", "downgraded": True, "split": True}
    sms = render("rebooked", "sms", "en", facts, "Ana", "P1").body
    assert FACTS["choice_urls"]["P1"] in sms and "Boston" in sms and "refund" in sms
    email = render("rebooked", "email", "en", facts, "Ana", "P2").body
    assert FACTS["choice_urls"]["P2"] in email and "8:15 am" in email  # respond by, in New York time
    assert FACTS["choice_urls"]["P1"] not in email  # each passenger's own link
    assert "different flight" in email and "refund the difference" in email


def test_entitlements_name_only_the_passengers_own():
    email = render("entitlements", "email", "en", FACTS, "Ana", "P1").body
    assert "RB-ABCD-EFGH-IJKL-MNOP" in email and "refund of $388," in email and "19 February 2013" in email
    assert "RB-QRST" not in email
    sms = render("entitlements", "sms", "en", FACTS, "Ben", "P2").body
    assert "$75 travel credit, code RB-QRST-UVWX-YZ23-4567" in sms and "$388" not in sms


# A name as the contacts API takes it: one line, no control characters or line separators.
NAMES = st.text(st.characters(exclude_categories=["Cc", "Zl", "Zp"]), min_size=1, max_size=20).filter(
    lambda n: n.strip() == n)


@given(names=st.lists(NAMES, min_size=1, max_size=4),
       template=st.sampled_from(TEMPLATES), channel=st.sampled_from(["sms", "email"]),
       locale=st.sampled_from([*LOCALES, "it"]))
def test_a_text_rendered_once_for_many_reads_as_each_passengers_own(names, template, channel, locale):
    """The renderer that renders each distinct text once, then puts each passenger's name in,
    writes what rendering for that one passenger writes, accents and links included."""
    facts = facts_for(template, FACTS)
    renderer = Renderer(lambda kind, f: KINDS[kind].model_validate(f))
    for i, name in enumerate([*names, *names]):
        pid = ("P1", "P2")[i % 2]
        assert renderer.render(template, facts, channel, locale, name, pid) == render(
            template, channel, locale, facts, name, pid)


# Words only English has, among those a notice uses most: none may be left in another language's
# text (a sentence not translated, a filter that fell back to English).
ENGLISH_ONLY = {"the", "your", "you", "we", "our", "flight", "flights", "sorry", "with", "will", "reply", "and",
                "please", "thanks", "arrives", "leaving", "booked", "refund", "seats", "other", "more"}


@pytest.mark.parametrize("template", TEMPLATES)
@pytest.mark.parametrize("channel", ["sms", "email"])
@pytest.mark.parametrize("locale", [language for language in LOCALES if language != "en"])
def test_no_english_is_left_in_another_language(template, channel, locale):
    notice = render(template, channel, locale, FACTS, "Christopher", "P1")
    words = set(re.findall(r"[^\W\d_]+", (notice.subject + " " + notice.body).lower()))
    assert not words & ENGLISH_ONLY, (words & ENGLISH_ONLY, notice.body)


@pytest.mark.parametrize("topic", typing.get_args(replies.Topic))
@pytest.mark.parametrize("locale", LOCALES)
def test_every_reply_to_a_passenger_renders_in_every_language_within_two_texts(topic, locale):
    facts = REPLY | {"topic": topic, "text": "We found you a seat on B6 1305." if topic == "answer" else None}
    for channel in ("sms", "email"):
        notice = render_notice(replies.ConversationReply.model_validate(facts), channel, locale, "Christopher")
        assert notice.body and "{" not in notice.body and "None" not in notice.body
        if channel == "sms":
            assert sms_segments(notice.body) <= 2, notice.body
        if locale != "en" and topic != "answer":
            assert not set(re.findall(r"[^\W\d_]+", notice.body.lower())) & ENGLISH_ONLY, notice.body
    if topic in ("opted_out", "help"):  # the industry's rule: say how to come back, and where help is
        assert "+1 555 010 0000" in notice.body
