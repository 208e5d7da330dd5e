"""Hostile input the signup accepts: stored inert, normalized, never mailed or echoed.

What is refused (the right 4xx, nothing stored) is one table in test_bad_input.py.
"""

from __future__ import annotations

import pytest
from flask import Flask
from flask.testing import FlaskClient

from newsletter_service.models import ConsentEvent, FieldMode, Subscriber, Subscription

from .factories import all_rows, make_newsletter, outbox_rows

SIGNUP = "/newsletters/daily/subscribe"
NAMED = "/newsletters/named/subscribe"


@pytest.fixture(autouse=True)
def newsletters(app: Flask) -> None:
    make_newsletter(app, "daily", "The Daily")
    make_newsletter(app, "named", "Named", name_field=FieldMode.optional)


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
