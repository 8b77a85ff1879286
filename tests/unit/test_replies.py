"""A passenger's reply read as the messaging industry reads one, and what notify answers; and the
choice page's language.

The keywords are the industry's: Twilio's default opt-out handling ("STOP, UNSUBSCRIBE, END,
QUIT, STOPALL, REVOKE, OPTOUT, and CANCEL"; opt-in "START, YES, UNSTOP"; "HELP, INFO":
https://www.twilio.com/docs/messaging/tutorials/advanced-opt-out), Braze's ("Only the exact,
single-word message will be processed (case insensitive). Keywords such as STOP PLEASE will be
ignored": https://braze.com/docs/user_guide/message_building_by_channel/sms/keywords/optin_optout)
and AWS End User Messaging's required list, which adds the French ARRET
(https://docs.aws.amazon.com/sms-voice/latest/userguide/keywords-required.html)."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.notify import replies
from services.notify.replies import Said, answer_for, read
from services.rebooking import page_words
from tests.unit.test_templates import FACTS, render

TWILIO_OPT_OUT = ["STOP", "UNSUBSCRIBE", "END", "QUIT", "STOPALL", "REVOKE", "OPTOUT", "CANCEL"]
TWILIO_OPT_IN = ["START", "YES", "UNSTOP"]
TWILIO_HELP = ["HELP", "INFO"]
AWS_OPT_OUT = ["ARRET", "CANCEL", "END", "OPT-OUT", "OPTOUT", "QUIT", "STOP", "UNSUBSCRIBE"]


@pytest.mark.parametrize("word", sorted({*TWILIO_OPT_OUT, *AWS_OPT_OUT, "STOP ALL"}))
def test_every_industry_opt_out_keyword_opts_out(word):
    assert read(word).intent == "opt_out"
    assert read(f"  {word.lower()}! ").intent == "opt_out"  # case and the edges' punctuation do not matter


@pytest.mark.parametrize("word", TWILIO_OPT_IN)
def test_every_industry_opt_in_keyword_opts_in(word):
    assert read(word).intent == "opt_in"


@pytest.mark.parametrize("word", TWILIO_HELP)
def test_help_and_info_ask_for_help(word):
    assert read(word).intent == "help"


def test_only_the_whole_message_is_a_keyword():
    # Braze's own example: "STOP PLEASE" is not the keyword.
    assert read("STOP PLEASE").intent == "message"
    assert read("please stop, I only want email").intent == "message"
    assert read("Can I get a refund for my daughter too?").intent == "message"


@pytest.mark.parametrize(("text", "intent", "language"), [
    ("Arrêt", "opt_out", "fr"), ("stopp", "opt_out", "de"), ("Baja", "opt_out", "es"),
    ("aide", "help", "fr"), ("HILFE", "help", "de"), ("ayuda", "help", "es"),
    ("garder", "keep", "fr"), ("Behalten", "keep", "de"), ("mantener", "keep", "es"), ("keep", "keep", None),
    ("ändern", "change", "de"), ("changer", "change", "fr"), ("cambiar", "change", "es"),
    ("Remboursement", "refund", "fr"), ("erstattung", "refund", "de"), ("reembolso", "refund", "es"),
    ("devolución", "refund", "es"), ("agent", "agent", None), ("Mitarbeiter", "agent", "de"),
])
def test_each_language_has_its_keywords(text, intent, language):
    said = read(text)
    assert (said.intent, said.language) == (intent, language)


def test_a_digit_picks_an_option():
    assert read("2") == Said("option", option=2)
    assert read(" 3. ") == Said("option", option=3)
    assert read("0").intent == read("12").intent == "message"


@given(st.text(max_size=200))
def test_any_text_is_read_as_something(text):
    said = read(text)
    assert said.intent in replies.KEYWORDS or said.intent in ("option", "message")


@given(st.sampled_from([w for words in replies.KEYWORDS.values() for ws in words.values() for w in ws]),
       st.sampled_from(["", " ", "!", ".", "  \n"]))
def test_a_keyword_is_itself_whatever_its_edges(word, edge):
    assert read(edge + word.lower() + edge).intent == read(word).intent != "message"


def test_the_language_to_answer_in_is_the_passengers_then_the_keywords():
    assert replies.language_of(read("ARRET"), None) == "fr"
    assert replies.language_of(read("ARRET"), "de-DE") == "de"
    assert replies.language_of(read("STOP"), "it") == "en"


def test_stop_is_confirmed_once_and_start_reverses_it():
    first = answer_for(read("STOP"), known=True, opted_out=False, confirmed_before=False, has_choice=True)
    again = answer_for(read("stop"), known=True, opted_out=True, confirmed_before=True, has_choice=True)
    back = answer_for(read("START"), known=True, opted_out=True, confirmed_before=True, has_choice=True)
    assert (first.topic, first.opt) == ("opted_out", "out")
    assert (again.topic, again.opt) == (None, "out")  # no second confirmation
    assert (back.topic, back.opt) == ("opted_in", "in")


def test_yes_from_a_number_not_opted_out_accepts_the_offer():
    assert answer_for(read("yes"), known=True, opted_out=False, confirmed_before=False, has_choice=True).decide
    assert answer_for(read("oui"), known=True, opted_out=True, confirmed_before=True, has_choice=True).opt == "in"


def test_a_choice_goes_to_rebooking_only_with_something_to_choose():
    for text in ("KEEP", "CHANGE", "REFUND", "2"):
        assert answer_for(read(text), known=True, opted_out=False, confirmed_before=False, has_choice=True).decide
        nothing = answer_for(read(text), known=True, opted_out=False, confirmed_before=False, has_choice=False)
        assert (nothing.topic, nothing.for_agent, nothing.decide) == ("nothing_open", True, False)


def test_a_message_or_an_unknown_sender_waits_for_a_person_with_a_polite_answer():
    message = answer_for(read("My wheelchair was not on the plane"), known=True, opted_out=False,
                         confirmed_before=False, has_choice=True)
    stranger = answer_for(read("KEEP"), known=False, opted_out=False, confirmed_before=False, has_choice=False)
    assert (message.topic, message.for_agent) == ("received", True)
    assert (stranger.topic, stranger.for_agent) == ("unknown", True)


def test_an_email_reply_is_read_above_what_it_quotes():
    text = ("Refund\n\nOn Fri, 8 Feb 2013 at 18:02, Rebound <care@rebound.example> wrote:\n"
            "> Reply KEEP, CHANGE or REFUND")
    assert replies.read_email(text).intent == "refund"
    assert replies.read_email("stop") == Said("message")  # an email's unsubscribe is its own link
    assert replies.own_words("Merci !\n\nLe ven. 8 févr. 2013, Rebound a écrit :\n> ...") == "Merci !"


def test_the_choice_page_speaks_the_links_language_else_the_browsers():
    # RFC 9110 §12.5.4's own example: "Accept-Language: da, en-gb;q=0.8, en;q=0.7" prefers Danish,
    # then British English: we have no Danish, so English.
    assert page_words.language_for(None, "da, en-gb;q=0.8, en;q=0.7") == "en"
    assert page_words.language_for(None, "de-CH, fr;q=0.9") == "de"
    assert page_words.language_for(None, "it, fr;q=0.5, es;q=0.8") == "es"  # by quality, not order
    assert page_words.language_for("fr", "de") == "fr"  # the link's own language first
    assert page_words.language_for("xx", None) == page_words.language_for(None, "q=;;,") == "en"


def test_the_choice_page_has_every_word_in_every_language():
    assert all(set(words) == set(page_words.WORDS["en"]) for words in page_words.WORDS.values())
    assert all(set(titles) == {"es", "fr", "de"} for titles in page_words.PROBLEMS.values())


def test_a_link_in_another_language_opens_the_page_in_it():
    facts = FACTS | {"choice_urls": {"P1": "https://rebound.example/choice/abc.def"}}
    assert "https://rebound.example/choice/abc.def?lang=fr" in render("rebooked", "sms", "fr", facts, "Ana", "P1").body
    assert "choice/abc.def\n" in render("rebooked", "email", "en", facts, "Ana", "P1").body  # English: as made
