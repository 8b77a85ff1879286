"""Contact details stay in notify's tables; nothing from outside adds an email header; pages hold
their own scripts only."""

import base64
import hashlib
import json

from services.notify.providers import SmtpEmail, plain_text_email
from shared.http import provider_error_code, secure_page

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
