"""The batch provider APIs, read as their makers publish them: Infobip's send answers and delivery
reports, SendGrid's mail send errors. Sources, cited at each test:
- Infobip, "Message status codes": infobip.com/docs/developer-resources/api-fundamentals/message-status-codes
- Infobip, "Receive outbound SMS message report" (the webhook's request sample):
  infobip.com/docs/api/channels/sms/sms-messaging/logs-and-status-reports/receive-outbound-sms-message-report
- SendGrid, "Mail Send errors": twilio.com/docs/sendgrid/api-reference/mail-send/errors
- SendGrid, "Personalizations": twilio.com/docs/sendgrid/for-developers/sending-email/personalizations
"""

import json

from hypothesis import given
from hypothesis import strategies as st

from services.notify.providers import (
    Accepted,
    Deferred,
    Outgoing,
    Refused,
    infobip_outcome,
    sendgrid_refused,
    unique_recipients,
)
from services.notify.status import INFOBIP_FAILED, InfobipReports
from shared.pacing import TokenBucket


def test_infobip_pending_is_taken_and_rejected_is_refused_for_good():
    # Infobip's status objects as its status-code table gives them: the send answer's PENDING
    # group is an acceptance, REJECTED a refusal; an unknown group is not an answer to act on.
    pending = {"groupId": 1, "groupName": "PENDING", "id": 26, "name": "PENDING_ACCEPTED",
               "description": "Message sent to next instance"}
    rejected = {"groupId": 5, "groupName": "REJECTED", "id": 51, "name": "MISSING_TO",
                "description": "Missing destination."}
    assert infobip_outcome("k1", pending) == Accepted("k1")
    assert infobip_outcome("k1", rejected) == Refused("refused: MISSING_TO")
    assert isinstance(infobip_outcome("k1", None), Deferred)
    assert isinstance(infobip_outcome("k1", {"groupName": "SOMETHING_NEW"}), Deferred)
    # The refusal's detail keeps the provider's code, never free text from it.
    odd = infobip_outcome("k1", {"groupName": "REJECTED", "name": "to +15550001111 is blocked"})
    assert odd == Refused("refused: REJECTED")


def test_infobip_delivery_reports_read_as_published():
    # The request sample of Infobip's "Receive outbound SMS message report" webhook, abridged to
    # the fields notify reads plus a few it ignores.
    sample = {"results": [
        {"bulkId": "BULK-ID-123-xyz", "messageId": "MESSAGE-ID-123-xyz", "to": "41793026727",
         "sentAt": "2019-11-09T16:00:00.000+0000", "doneAt": "2019-11-09T16:00:00.000+0000", "smsCount": 1,
         "callbackData": "callbackData", "price": {"pricePerMessage": 0.01, "currency": "EUR"},
         "status": {"groupId": 3, "groupName": "DELIVERED", "id": 5, "name": "DELIVERED_TO_HANDSET",
                    "description": "Message delivered to handset"},
         "error": {"groupId": 0, "groupName": "Ok", "id": 0, "name": "NO_ERROR", "description": "No Error",
                   "permanent": False}},
        {"bulkId": "BULK-ID-123-xyz", "messageId": "12db39c3-7822-4e72-a3ec-c87442c0ffc5", "to": "41793026834",
         "status": {"groupId": 2, "groupName": "UNDELIVERABLE", "id": 9, "name": "UNDELIVERABLE_NOT_DELIVERED",
                    "description": "Message sent not delivered"}},
    ]}
    reports = InfobipReports.model_validate_json(json.dumps(sample))
    assert [(r.messageId, r.status.groupName in INFOBIP_FAILED) for r in reports.results] == [
        ("MESSAGE-ID-123-xyz", False), ("12db39c3-7822-4e72-a3ec-c87442c0ffc5", True)]


def test_a_sendgrid_400_names_the_personalizations_it_refuses():
    # SendGrid's error body: each error names its field, a personalization by its place.
    answer = json.dumps({"errors": [
        {"message": "Does not contain a valid address.", "field": "personalizations.3.to.0.email", "help": None},
        {"message": "Each unique email address in the personalizations array should only be included once.",
         "field": "personalizations.7.to.0.email", "help": None}]})
    assert sendgrid_refused(answer, 10) == {3, 7}


def test_a_sendgrid_400_about_the_whole_request_names_none():
    over = json.dumps({"errors": [{"message": "The personalization block is limited to 1000 personalizations per "
                                              "API request.", "field": "personalizations", "help": None}]})
    assert sendgrid_refused(over, 1001) == set()
    mixed = json.dumps({"errors": [{"field": "personalizations.0.to.0.email"}, {"field": "from.email"}]})
    assert sendgrid_refused(mixed, 2) == set()  # one error is the request's: nothing can go as it is
    assert sendgrid_refused("<html>Bad gateway</html>", 2) == set()
    assert sendgrid_refused(json.dumps({"errors": [{"field": "personalizations.5.to"}]}), 2) == set()


addresses = st.sampled_from(["a@x.org", "A@x.org", "b@x.org", "c@x.org", "d@y.org"])


@given(st.lists(addresses, max_size=40))
def test_no_address_comes_twice_in_one_sendgrid_request(tos):
    # "Each unique email address in the personalizations array should only be included once."
    messages = [Outgoing(key=str(i), to=to, subject="s", body="b") for i, to in enumerate(tos)]
    requests = unique_recipients(messages)
    assert sorted(i for r in requests for i in r) == list(range(len(tos)))  # each message once
    for r in requests:
        assert r == sorted(r)  # in order
        assert len({tos[i].lower() for i in r}) == len(r)
    # As few requests as the most repeated address needs.
    most = max((sum(t.lower() == a.lower() for t in tos) for a in tos), default=0)
    assert len(requests) == most


def test_a_token_bucket_takes_a_batch_at_once_or_says_how_long_to_wait():
    now = [0.0]
    bucket = TokenBucket(rate=100, burst=200, clock=lambda: now[0])
    assert bucket.take(count=150) == 0
    assert bucket.take(count=100) == 0.5  # 50 left: 50 more at 100 a second
    now[0] = 0.5
    assert bucket.take(count=100) == 0
    assert bucket.take(reserve=50, count=1) > 0
