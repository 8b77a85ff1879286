"""Delivery status notifications read as RFC 3464 defines them, on the RFC's own examples
(Appendix D: https://www.rfc-editor.org/rfc/rfc3464#appendix-D, "Simple DSN" and "Multi-Recipient
DSN", as KumoMTA keeps them among its test data: KumoCorp/kumomta
crates/kumo-log-types/data/rfc3464/1.eml and 2.eml) and a real Postfix report from a French ISP
(the same repository's 5.eml: `text/rfc822-headers`, a per-message block with Postfix's own
fields). Where the RFC writes "[original message goes here]", the tests put the headers of a
message notify sent."""

from pathlib import Path

import pytest

from services.notify import dsn

DATA = Path(__file__).parent / "data" / "dsn"
SENT = "Message-ID: <d-1:NTFY01:NTFY01-1:first_notice:0:email@rebound.notify>\nFrom: care@rebound.example\n"


def report(name: str) -> bytes:
    return (DATA / name).read_bytes().replace(b"[original message goes here]", SENT.encode())


def test_the_rfcs_simple_dsn_is_a_failure_the_server_gave_up_on_not_a_bad_address():
    found = dsn.read(report("rfc3464-simple.eml"))
    assert found and found.message_id == "<d-1:NTFY01:NTFY01-1:first_notice:0:email@rebound.notify>"
    [failed] = found.failed
    assert (failed.recipient, failed.status, failed.for_good) == ("louisl@larry.slip.umd.edu", "4.0.0", False)
    assert failed.diagnostic == "smtp; 426 connection timed out"


def test_the_rfcs_multi_recipient_dsn_names_the_two_failed_and_not_the_delayed():
    found = dsn.read(report("rfc3464-multi.eml"))
    assert found and [(f.recipient, f.status, f.for_good) for f in found.failed] == [
        ("arathib@vnet.ibm.com", "5.0.0", True), ("wsnell@sdcc13.ucsd.edu", "5.0.0", True)]
    # A diagnostic folded over two lines is one line.
    assert found.failed[0].diagnostic == "smtp; 550 'arathib@vnet.IBM.COM' is not a registered gateway user"


def test_a_real_postfix_report_with_the_original_headers_only():
    found = dsn.read(report("postfix-over-quota.eml"))
    assert found and found.message_id == "<d-1:NTFY01:NTFY01-1:first_notice:0:email@rebound.notify>"
    assert [(f.recipient, f.for_good) for f in found.failed] == [("recipient@domain.com", True)]
    assert "over quota" in (found.failed[0].diagnostic or "")


@pytest.mark.parametrize("raw", [
    b"From: ana@example.com\nSubject: Re: your trip\n\nKEEP\n",
    b"Content-Type: multipart/report; report-type=disposition-notification; boundary=x\n\n--x--\n",
    b"\xff\xfe not mail at all",
])
def test_anything_else_is_not_a_report(raw):
    assert dsn.read(raw) is None
