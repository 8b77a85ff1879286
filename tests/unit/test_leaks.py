"""Contact details stay in notify's tables; nothing from outside adds an email header; pages hold
their own scripts only."""

import base64
import hashlib
import json
from pathlib import Path

import pytest

from services.notify.providers import SmtpEmail, plain_text_email
from services.rebooking import choice
from shared.http import inline_hashes, provider_error_code, secure_page

# Twilio's REST error for an invalid 'To' number (error 21211, twilio.com/docs/errors/21211): the
# message quotes the number.
TWILIO_21211 = json.dumps({"code": 21211, "message": "The 'To' number +15005550001 is not a valid phone number.",
                           "more_info": "https://www.twilio.com/docs/errors/21211", "status": 400})


def test_a_provider_error_keeps_its_code_and_drops_its_text():
    assert provider_error_code(TWILIO_21211) == " code 21211"
    assert provider_error_code("The number +15005550001 is blocked") == ""
    assert provider_error_code(json.dumps({"code": "+15005550001 bad"})) == ""
    assert provider_error_code("[1, 2]") == ""
    assert provider_error_code(STRIPE_CARD_DECLINED) == " code card_declined"


# Stripe's error object (docs.stripe.com/api/errors): `error.code`, and a message that may name the
# card ("Your card ending in 4242 was declined"); a payment provider's refusal keeps the code alone.
STRIPE_CARD_DECLINED = json.dumps({"error": {"code": "card_declined", "decline_code": "generic_decline",
                                             "message": "Your card ending in 4242 was declined.",
                                             "type": "card_error"}})


def test_an_id_with_cr_lf_cannot_add_an_email_header():
    key = "0b8e.P1\r\nBcc: someone@example.org.first.0.email"
    message_id = SmtpEmail.message_id(key)
    assert "\r" not in message_id and "\n" not in message_id
    head = plain_text_email("Rebound <a@example.org>", "b@example.org", "Your trip", message_id, "Hello").split(
        b"\r\n\r\n")[0]
    assert not any(line.startswith(b"Bcc") for line in head.split(b"\r\n"))
    assert SmtpEmail.message_id("0b8e.P1.first.0.email") == "<0b8e.P1.first.0.email@rebound.notify>"


def test_a_page_runs_only_its_own_inline_script_and_style():
    page = secure_page("<html><style>p{}</style><script>go()</script></html>")
    policy = page.headers["Content-Security-Policy"]
    for content in ("p{}", "go()"):
        assert base64.b64encode(hashlib.sha256(content.encode()).digest()).decode() in policy
    assert "default-src 'none'" in policy and "frame-ancestors 'none'" in policy
    assert (page.headers["Cache-Control"], page.headers["Referrer-Policy"]) == ("no-store", "no-referrer")


def test_a_templates_page_allows_only_the_blocks_the_template_itself_holds():
    """Hashed from the template as written, not the page as rendered: a script that a rendering
    put in (a value that escaped its escaping) is not among the hashes, so the browser refuses it."""
    template = "<html><style>p{color:red}</style><p>{{ name }}</p></html>"
    rendered = "<html><style>p{color:red}</style><p><script>steal()</script></p></html>"
    policy = secure_page(rendered, hashes=inline_hashes(template)).headers["Content-Security-Policy"]
    assert base64.b64encode(hashlib.sha256(b"p{color:red}").digest()).decode() in policy
    assert base64.b64encode(hashlib.sha256(b"steal()").digest()).decode() not in policy
    assert "script-src" not in policy  # default-src 'none': no script at all
    with pytest.raises(ValueError, match="template syntax"):
        inline_hashes("<script>var token = '{{ token }}';</script>")


def test_the_choice_page_allows_its_templates_own_style():
    source = (Path(choice.__file__).parent / "templates" / "choice.html").read_text(encoding="utf-8")
    assert choice._PAGE_HASHES == inline_hashes(source) and choice._PAGE_HASHES["style"]
