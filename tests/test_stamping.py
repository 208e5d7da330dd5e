"""Emails built once and stamped per reader parse exactly as emails built in full."""

from __future__ import annotations

import string
from email.message import EmailMessage

import pytest
from flask import Flask
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from newsletter_service import emails
from newsletter_service.addresses import InvalidAddress, normalize_address
from newsletter_service.models import Newsletter
from newsletter_service.stamping import StampError, marker, prepare

from .factories import make_newsletter
from .smtp_sink import parse_received

TOKEN = "W1sxLDFdXQ.awpdjQ.3gPCrRsJLlfw"
ascii_local = st.text(string.ascii_letters + string.digits + "!#$%&'*+/=?^_`{|}~-",
                      min_size=1, max_size=30)
unicode_local = st.text(st.characters(categories=["L", "N"]), min_size=1, max_size=20)
addresses = st.one_of(
    st.tuples(ascii_local, st.sampled_from(["example.com", "bücher.example", "пошта.укр"])),
    st.tuples(unicode_local, st.sampled_from(["example.com", "пошта.укр"])),
).map(lambda parts: f"{parts[0]}@{parts[1]}")
# Names and subjects an admin might save: non-ASCII, quotes, angle brackets, commas,
# encoded-word look-alikes, long runs that must fold.
names = st.text(st.characters(blacklist_categories=["Cs", "Cc"]), min_size=1, max_size=120)


def _parsed(raw: bytes) -> EmailMessage:
    return parse_received(raw)  # as a mail client would


def _same(stamped: bytes, full: EmailMessage) -> None:
    ours, theirs = _parsed(stamped), _parsed(emails.as_bytes(full))
    for header in ("From", "To", "Subject", "Date", "Message-ID", "Reply-To",
                   "List-Unsubscribe", "List-Unsubscribe-Post"):
        assert str(ours[header] or "").strip() == str(theirs[header] or "").strip(), header
    assert ours.get_content_type() == theirs.get_content_type()  # the boundary may differ
    for kind in ("plain", "html"):
        ours_part = ours.get_body(preferencelist=(kind,))
        theirs_part = theirs.get_body(preferencelist=(kind,))
        assert ours_part is not None and theirs_part is not None
        assert ours_part.get_content() == theirs_part.get_content()
    # One header a line: nothing a value carried became a header of its own.
    assert sorted(ours.keys()) == sorted(theirs.keys())


@settings(max_examples=60, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(address=addresses, name=names, subject=st.one_of(st.none(), names))
def test_stamped_confirmations_parse_like_fully_built_ones(
        app: Flask, address: str, name: str, subject: str | None) -> None:
    try:
        to = normalize_address(address).email
    except InvalidAddress:
        return
    newsletter = Newsletter(id=1, slug="daily", name=name, confirmation_subject=subject,
                            description="A daily — щоденна", reply_to=None)
    url = f"http://newsletters.test/confirm/{TOKEN}"
    with app.app_context():
        rendered = emails.confirmation_bytes([newsletter], to, url)
        parsed = _parsed(rendered.raw)
        full = emails.confirmation_email(newsletter, to, url, [newsletter],
                                         _fixed={"date": parsed["Date"],
                                                 "message_id": parsed["Message-ID"]})
    _same(rendered.raw, full)
    assert rendered.recipient == full["To"].addresses[0].addr_spec


def test_welcome_is_stamped_with_its_unsubscribe_link_in_the_header(app: Flask) -> None:
    newsletter = make_newsletter(app)
    url = "http://newsletters.test/unsubscribe/W1sxLDBdXQ.abc"
    with app.app_context():
        manage = "http://newsletters.test/preferences/abc"
        first = emails.welcome_bytes(newsletter, "a@example.com", url, manage)
        second = emails.welcome_bytes(newsletter, "josé@example.com", url + "x", manage + "d")
        assert app.extensions["email_stamps"]  # built once per newsletter and policy
        full = emails.welcome_email(newsletter, "a@example.com", url, manage, _fixed={
            "date": _parsed(first.raw)["Date"], "message_id": _parsed(first.raw)["Message-ID"]})
    _same(first.raw, full)
    assert _parsed(second.raw)["List-Unsubscribe"].strip() == f"<{url}x>"
    assert second.recipient == "josé@example.com"
    assert b"http://newsletters.test/preferences/abcd" in second.raw


@pytest.mark.parametrize("value", ["a@example.com\r\nBcc: x@evil.example", "a b@example.com",
                                   "", "a@example.com\x00"])
def test_a_value_that_could_break_a_header_is_refused(value: str) -> None:
    template = prepare(lambda values: f"To: {values['to']}\r\n\r\nhi\r\n".encode(),
                       {"to": marker()}, utf8=False)
    with pytest.raises(StampError):
        template.stamp({"to": value})


def test_non_ascii_goes_only_into_messages_with_utf8_headers() -> None:
    template = prepare(lambda values: f"To: {values['to']}\r\n\r\nhi\r\n".encode(),
                       {"to": marker()}, utf8=False)
    with pytest.raises(StampError):
        template.stamp({"to": "josé@example.com"})


def test_values_are_escaped_in_the_html_part_only() -> None:
    def build(values: dict[str, str]) -> bytes:
        return (f"To: x\r\nContent-Type: multipart/alternative\r\n\r\n{values['to']}\r\n"
                f"Content-Type: text/html\r\n\r\n<p>{values['to']}</p>\r\n").encode()

    template = prepare(build, {"to": marker()}, utf8=False)
    stamped = template.stamp({"to": "o'neil&co@example.com"})
    assert b"\r\no'neil&co@example.com\r\n" in stamped
    assert b"<p>o&#x27;neil&amp;co@example.com</p>" in stamped


def test_a_body_with_a_line_too_long_for_8bit_is_built_in_full(app: Flask) -> None:
    newsletter = make_newsletter(app, confirmation_text="x" * 1200)
    with app.app_context():
        rendered = emails.confirmation_bytes([newsletter], "a@example.com",
                                             f"http://newsletters.test/confirm/{TOKEN}")
        assert list(app.extensions["email_stamps"].values()) == [None]
    body = _parsed(rendered.raw).get_body(preferencelist=("plain",))
    assert body is not None and "x" * 1200 in body.get_content()


def test_a_ukrainian_newsletters_email_is_built_in_ukrainian_even_from_an_english_request(
        app: Flask) -> None:
    newsletter = make_newsletter(app, "novyny", "Новини", language="uk")
    url = f"http://newsletters.test/confirm/{TOKEN}"
    with app.test_request_context(headers={"Accept-Language": "en"}):
        stamped = _parsed(emails.confirmation_bytes([newsletter], "a@example.com", url).raw)
        full = emails.confirmation_email(newsletter, "a@example.com", url)
    body = stamped.get_body(preferencelist=("plain",))
    assert body is not None and "Confirm" not in body.get_content()
    full_body = _parsed(emails.as_bytes(full)).get_body(preferencelist=("plain",))
    assert full_body is not None and body.get_content() == full_body.get_content()
    assert "Новини" in str(stamped["Subject"]) and "Confirm" not in str(stamped["Subject"])
