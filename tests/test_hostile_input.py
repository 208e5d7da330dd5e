"""Hostile requests against every public endpoint: the right 4xx, never a 500, nothing stored.

Each row of HOSTILE is one request; the test checks its status, that the body is a
message (JSON or a page, no traceback), that no subscriber beyond the expected is
stored and that no email is queued for it.
"""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.datastructures import MultiDict

from newsletter_service.models import ConsentEvent, FieldMode, Subscriber, Subscription
from newsletter_service.tokens import Purpose, make_token

from .factories import all_rows, make_newsletter, outbox_rows

SIGNUP = "/newsletters/daily/subscribe"
NAMED = "/newsletters/named/subscribe"

# (id, request arguments, expected status)
HOSTILE: list[tuple[str, dict[str, Any], int]] = [
    # header injection
    ("CRLF Bcc", {"data": {"email": "victim@example.com\r\nBcc: x@evil.example"}}, 422),
    ("encoded CRLF", {"data": {"email": "victim@example.com%0d%0aBcc:x@evil.example"}}, 422),
    ("lone LF", {"data": {"email": "victim@example.com\nBcc: x@evil.example"}}, 422),
    ("CR in JSON", {"json": {"email": "a@example.com\rSubject: hi"}}, 422),
    # addresses email-validator refuses
    ("quoted local part", {"data": {"email": '"john doe"@example.com'}}, 422),
    ("display name", {"data": {"email": "Bob <bob@example.com>"}}, 422),
    ("domain literal", {"data": {"email": "user@[127.0.0.1]"}}, 422),
    ("dotless domain", {"data": {"email": "a@b"}}, 422),
    ("double dot", {"data": {"email": "a..b@example.com"}}, 422),
    ("special-use domain", {"data": {"email": "user@invalid"}}, 422),
    ("zero-width space", {"data": {"email": "al\u200bice@example.com"}}, 422),
    ("bidi override", {"data": {"email": "\u202eevil@example.com"}}, 422),
    ("NUL byte", {"data": {"email": "a\x00b@example.com"}}, 422),
    ("invalid IDN", {"data": {"email": "a@xn--ls8h.invalid-"}}, 422),
    # lengths
    ("65-char local part", {"data": {"email": "a" * 65 + "@example.com"}}, 422),
    ("255-char address", {"data": {"email": "a" * 64 + "@" + "b" * 63 + "." + "c" * 63 + "."
                                   + "d" * 58 + ".com"}}, 422),
    ("10k-char address", {"data": {"email": "a" * 10_000 + "@example.com"}}, 422),
    ("huge body", {"data": {"email": "a@example.com", "pad": "x" * 200_000}}, 413),
    ("huge JSON", {"json": {"email": "a@example.com", "pad": "x" * 200_000}}, 413),
    # injection in every field
    ("SQL in email", {"data": {"email": "a'; DROP TABLE subscribers;--@example.com"}}, 422),
    ("HTML in email", {"data": {"email": "<script>alert(1)</script>@example.com"}}, 422),
    # duplicate, missing and mistyped fields
    ("email twice", {"data": MultiDict([("email", "a@example.com"), ("email", "b@x.com")])},
     400),
    ("name twice", {"path": NAMED, "data": MultiDict([("email", "a@example.com"),
                                                      ("name", "A"), ("name", "B")])}, 400),
    ("no email", {"data": {"name": "Bob"}}, 422),
    ("email list", {"json": {"email": ["a@example.com"]}}, 400),
    ("email object", {"json": {"email": {"$ne": ""}}}, 400),
    ("email number", {"json": {"email": 123}}, 400),
    ("JSON string", {"json": "a@example.com"}, 400),
    ("JSON truncated", {"data": '{"email": "a@example.com"', "content_type": "application/json"},
     400),
    ("JSON not UTF-8", {"data": b'{"email": "\xc3\x28@example.com"}',
                        "content_type": "application/json"}, 400),
    ("form not UTF-8", {"data": b"email=%C3%28%40example.com",
                        "content_type": "application/x-www-form-urlencoded"}, 400),
    # wrong methods and content types
    ("GET on subscribe", {"method": "get"}, 405),
    ("DELETE on subscribe", {"method": "delete"}, 405),
    ("PUT on confirm", {"method": "put", "path": "/confirm/abc"}, 405),
    ("text/plain body", {"data": "email=a@example.com", "content_type": "text/plain"}, 415),
    ("XML body", {"data": "<a>a@example.com</a>", "content_type": "text/xml"}, 415),
    # unknown slugs and path tricks
    ("unknown slug", {"path": "/newsletters/nope/subscribe", "data": {"email": "a@x.com"}}, 404),
    ("slug with dots", {"path": "/newsletters/../admin/subscribe",
                        "data": {"email": "a@example.com"}}, 404),
    ("encoded traversal", {"path": "/newsletters/%2e%2e%2fdaily/subscribe",
                           "data": {"email": "a@example.com"}}, 404),
    ("SQL in slug", {"path": "/newsletters/daily'%20OR%201=1--/subscribe",
                     "data": {"email": "a@example.com"}}, 404),
    ("very long slug", {"path": "/newsletters/" + "a" * 5000 + "/subscribe",
                        "data": {"email": "a@example.com"}}, 404),
    # tokens
    ("garbage confirm token", {"method": "post", "path": "/confirm/not-a-token"}, 404),
    ("garbage unsubscribe token", {"method": "post", "path": "/unsubscribe/not-a-token"}, 404),
    ("token of another key", {"method": "post", "path": "/confirm/" + make_token(
        "attacker-key", Purpose.confirm, [(1, 1)])}, 404),
    ("unsubscribe token of another key", {"method": "post", "path": "/unsubscribe/" + make_token(
        "attacker-key", Purpose.unsubscribe, [(1, 0)])}, 404),
    ("token for no subscription", {"method": "post", "path": "/unsubscribe/" + make_token(
        "test-secret-key", Purpose.unsubscribe, [(999_999, 0)])}, 404),
    ("huge token", {"method": "get", "path": "/confirm/" + "A" * 20_000}, 404),
    ("resend with garbage token", {"method": "post", "path": "/confirm/xyz/resend"}, 404),
]


@pytest.fixture(autouse=True)
def newsletters(app: Flask) -> None:
    make_newsletter(app, "daily", "The Daily")
    make_newsletter(app, "named", "Named", name_field=FieldMode.optional)


@pytest.mark.parametrize(("args", "status"), [(row[1], row[2]) for row in HOSTILE],
                         ids=[row[0] for row in HOSTILE])
def test_hostile_request_gets_a_clear_4xx(app: Flask, client: FlaskClient, args: dict[str, Any],
                                          status: int) -> None:
    args = dict(args)
    method = getattr(client, args.pop("method", "post"))
    response = method(args.pop("path", SIGNUP), **args)
    assert response.status_code == status
    body = response.get_data(as_text=True)
    assert "Traceback" not in body and len(body) > 20
    if response.is_json:
        assert response.json["ok"] is False
    assert all_rows(app, Subscriber) == []
    assert outbox_rows(app) == []


def test_there_are_at_least_forty_hostile_requests() -> None:
    assert len(HOSTILE) >= 40


@pytest.mark.parametrize(("raw", "stored"), [
    ("user@bücher.example", "user@bücher.example"),
    ("user@BÜCHER.example", "user@bücher.example"),
    ("user@xn--bcher-kva.example", "user@bücher.example"),
    ("me@ｄｏｍａｉｎ.com", "me@domain.com"),
])
def test_valid_international_addresses_are_accepted_and_normalized(
        app: Flask, client: FlaskClient, raw: str, stored: str) -> None:
    assert client.post(SIGNUP, json={"email": raw}).status_code == 200
    assert [s.email for s in all_rows(app, Subscriber)] == [stored]


def test_fullwidth_domain_is_the_same_reader(app: Flask, client: FlaskClient) -> None:
    client.post(SIGNUP, json={"email": "me@domain.com"})
    client.post(SIGNUP, json={"email": "me@ｄｏｍａｉｎ.com"})
    assert len(all_rows(app, Subscriber)) == 1


@pytest.mark.parametrize("name", [
    "<script>alert(1)</script>",
    "Robert'); DROP TABLE subscribers;--",
    "=HYPERLINK(\"http://evil.example\")",
    "WIN $$$ http://spam.example",
])
def test_hostile_names_are_stored_inert_and_never_mailed(app: Flask, client: FlaskClient,
                                                         name: str) -> None:
    response = client.post(NAMED, data={"email": "n@example.com", "name": name})
    assert response.status_code == 200
    assert "<script>alert(1)</script>" not in response.get_data(as_text=True)
    [subscription] = all_rows(app, Subscription)
    assert subscription.name == name  # kept as data; escaped on pages, neutralized in exports
    [mail] = outbox_rows(app)
    assert name.encode() not in mail.message and b"spam.example" not in mail.message


# (id, posted source or None, Referer or None, stored source): only an http(s) page's origin
# and path are kept; no scripts, no query strings or fragments that may carry others' tokens.
SOURCES: list[tuple[str, str | None, str | None, str | None]] = [
    ("javascript: posted", "javascript:alert(document.cookie)", None, None),
    ("data: posted", "data:text/html,<script>alert(1)</script>", None, None),
    ("javascript: referer", None, "javascript:alert(1)", None),
    ("bad posted, good referer", "javascript:alert(1)", "https://pub.example/a",
     "https://pub.example/a"),
    ("query and fragment", "https://pub.example/story?token=secret&u=1#frag", None,
     "https://pub.example/story"),
    ("referer's query", None, "https://pub.example/p?reset=abc", "https://pub.example/p"),
    ("user and password", "https://user:pw@Pub.Example:8443/p", None,
     "https://pub.example:8443/p"),
    ("control characters", "https://pub.example/a\r\nSet-Cookie: x", None, None),
    ("no host", "https:///path", None, None),
]


@pytest.mark.parametrize("as_json", [False, True], ids=["form", "json"])
@pytest.mark.parametrize(("posted", "referer", "stored"), [row[1:] for row in SOURCES],
                         ids=[row[0] for row in SOURCES])
def test_source_keeps_only_an_http_pages_origin_and_path(
        app: Flask, client: FlaskClient, as_json: bool, posted: str | None, referer: str | None,
        stored: str | None) -> None:
    fields = {"email": "reader@example.com", **({"source": posted} if posted else {})}
    headers = {"Referer": referer} if referer else {}
    response = client.post(SIGNUP, headers=headers,
                           **({"json": fields} if as_json else {"data": fields}))
    assert response.status_code == 200
    [subscription] = all_rows(app, Subscription)
    assert subscription.source == stored
    [event] = all_rows(app, ConsentEvent)
    assert event.source == stored
