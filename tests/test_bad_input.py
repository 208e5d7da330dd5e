"""Malformed and hostile signups: a 4xx with a message, never a 500, nothing stored."""

from __future__ import annotations

from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.datastructures import MultiDict

from newsletter_service.models import Subscriber

from .factories import all_rows, make_newsletter, outbox_rows

URL = "/newsletters/daily/subscribe"


@pytest.fixture(autouse=True)
def newsletter(app: Flask) -> None:
    make_newsletter(app)


def assert_nothing_stored(app: Flask) -> None:
    assert all_rows(app, Subscriber) == []
    assert outbox_rows(app) == []


REQUESTS: list[tuple[str, dict[str, Any], int]] = [
    ("unknown slug", {"path": "/newsletters/nope/subscribe", "data": {"email": "a@example.com"}},
     404),
    ("missing email", {"data": {}}, 422),
    ("empty body", {}, 422),
    ("300-character address", {"data": {"email": "a" * 288 + "@example.com"}}, 422),
    ("CRLF header injection",
     {"data": {"email": "victim@example.com\r\nBcc: spam@evil.example"}}, 422),
    ("field sent twice",
     {"data": MultiDict([("email", "a@example.com"), ("email", "b@example.com")])}, 400),
    ("wrong content type", {"data": "email=a@example.com", "content_type": "text/plain"}, 415),
    ("xml body", {"data": "<email>a@example.com</email>", "content_type": "application/xml"}, 415),
    ("malformed JSON", {"data": '{"email": ', "content_type": "application/json"}, 400),
    ("JSON array", {"json": ["a@example.com"]}, 400),
    ("JSON list value", {"json": {"email": ["a@example.com"]}}, 400),
    ("JSON number", {"json": {"email": 123}}, 400),
    ("JSON null", {"data": "null", "content_type": "application/json"}, 400),
    ("JSON invalid UTF-8", {"data": b'{"email": "\xff\xfe@example.com"}',
                            "content_type": "application/json"}, 400),
    ("form invalid UTF-8", {"data": b"email=%FF%FE%40example.com",
                            "content_type": "application/x-www-form-urlencoded"}, 400),
    ("multipart invalid UTF-8",
     {"data": b'--b\r\nContent-Disposition: form-data; name="email"\r\n\r\n\xff@example.com'
              b"\r\n--b--\r\n", "content_type": "multipart/form-data; boundary=b"}, 400),
    ("NUL byte", {"data": {"email": "al\x00ice@example.com"}}, 422),
    ("zero-width space", {"data": {"email": "al\u200bice@example.com"}}, 422),
    ("right-to-left override", {"data": {"email": "\u202ealice@example.com"}}, 422),
    ("display name form", {"data": {"email": "Bob <bob@example.com>"}}, 422),
    ("domain literal", {"data": {"email": "user@[127.0.0.1]"}}, 422),
    ("several megabytes", {"data": {"email": "a@example.com", "pad": "x" * 3_000_000}}, 413),
    ("wrong method", {"method": "put", "data": {"email": "a@example.com"}}, 405),
]


@pytest.mark.parametrize(("request_args", "status"), [(r[1], r[2]) for r in REQUESTS],
                         ids=[r[0] for r in REQUESTS])
@pytest.mark.parametrize("accept", ["text/html", "application/json"])
def test_bad_request_gets_a_clear_4xx_and_stores_nothing(
        app: Flask, client: FlaskClient, request_args: dict[str, Any], status: int,
        accept: str) -> None:
    args = dict(request_args)
    method = getattr(client, args.pop("method", "post"))
    response = method(args.pop("path", URL), headers={"Accept": accept}, **args)
    assert response.status_code == status
    if response.is_json:
        body = response.json
        assert body["ok"] is False
        assert body.get("error") or body.get("errors")
    else:
        assert "text/html" in response.content_type
        assert "Traceback" not in response.get_data(as_text=True)
        assert len(response.get_data(as_text=True)) > 100  # a page with a message
    assert_nothing_stored(app)


def test_json_client_gets_json_errors(client: FlaskClient) -> None:
    response = client.post(URL, data='{"email": ', content_type="application/json")
    assert response.status_code == 400
    assert response.json["ok"] is False and "JSON object" in response.json["error"]


def test_field_sent_twice_names_the_field(client: FlaskClient) -> None:
    response = client.post(URL, data=MultiDict([("email", "a@example.com"),
                                                ("email", "b@example.com")]),
                           headers={"Accept": "application/json"})
    assert response.json["error"] == "The field 'email' was sent more than once."


def test_name_with_line_breaks_is_flattened(app: Flask, client: FlaskClient) -> None:
    from newsletter_service.models import FieldMode, Subscription

    make_newsletter(app, "named", "Named", name_field=FieldMode.optional)
    client.post("/newsletters/named/subscribe",
                data={"email": "n@example.com", "name": "Bob\r\nSubject: hi"})
    [subscription] = all_rows(app, Subscription)
    assert subscription.name == "Bob Subject: hi"
