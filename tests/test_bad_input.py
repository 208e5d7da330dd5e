"""Malformed and hostile requests: the right 4xx, never a 500, nothing stored.

Each row of REFUSED is one request, sent asking for a page and asking for JSON; the test
checks its status, that the body is a message (JSON or a page, no traceback), and that no
reader is stored and no email queued. Input that is accepted but hostile (names, sources,
international addresses) is in test_hostile_input.py.
"""

from __future__ import annotations

import io
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.datastructures import MultiDict
from werkzeug.test import EnvironBuilder
from werkzeug.wrappers import Request

from newsletter_service.models import FieldMode, SignupRequest, Subscriber, Subscription
from newsletter_service.tokens import Purpose
from newsletter_service.tokens import make_token as make_link_token

from .admin_support import bearer, make_token
from .factories import all_rows, make_newsletter, outbox_rows

URL = "/newsletters/daily/subscribe"
NAMED = "/newsletters/named/subscribe"


@pytest.fixture(autouse=True)
def newsletters(app: Flask) -> None:
    make_newsletter(app, "daily", "The Daily")
    make_newsletter(app, "named", "Named", name_field=FieldMode.optional)


def assert_nothing_stored(app: Flask) -> None:
    assert all_rows(app, SignupRequest) == []  # not even recorded for later
    assert all_rows(app, Subscriber) == []
    assert outbox_rows(app) == []


# (id, request arguments, expected status): every request the public endpoints refuse.
REFUSED: list[tuple[str, dict[str, Any], int]] = [
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
    ("SQL in email", {"data": {"email": "a'; DROP TABLE subscribers;--@example.com"}}, 422),
    ("HTML in email", {"data": {"email": "<script>alert(1)</script>@example.com"}}, 422),
    # lengths
    ("65-char local part", {"data": {"email": "a" * 65 + "@example.com"}}, 422),
    ("255-char address", {"data": {"email": "a" * 64 + "@" + "b" * 63 + "." + "c" * 63 + "."
                                   + "d" * 58 + ".com"}}, 422),
    ("10k-char address", {"data": {"email": "a" * 10_000 + "@example.com"}}, 422),
    ("huge form", {"data": {"email": "a@example.com", "pad": "x" * 200_000}}, 413),
    ("huge JSON", {"json": {"email": "a@example.com", "pad": "x" * 200_000}}, 413),
    # missing, repeated and mistyped fields
    ("no email", {"data": {"name": "Bob"}}, 422),
    ("empty body", {}, 422),
    ("email twice", {"data": MultiDict([("email", "a@example.com"), ("email", "b@x.com")])},
     400),
    ("name twice", {"path": NAMED, "data": MultiDict([("email", "a@example.com"),
                                                      ("name", "A"), ("name", "B")])}, 400),
    ("email list", {"json": {"email": ["a@example.com"]}}, 400),
    ("email object", {"json": {"email": {"$ne": ""}}}, 400),
    ("email number", {"json": {"email": 123}}, 400),
    # bodies that are not what they claim
    ("JSON string", {"json": "a@example.com"}, 400),
    ("JSON array", {"json": ["a@example.com"]}, 400),
    ("JSON null", {"data": "null", "content_type": "application/json"}, 400),
    ("JSON truncated", {"data": '{"email": "a@example.com"', "content_type": "application/json"},
     400),
    ("JSON nested 2,000 deep", {"data": "[" * 2000 + "]" * 2000,
                                "content_type": "application/json"}, 400),
    ("JSON key twice", {"data": '{"email": "a@example.com", "email": "b@example.com"}',
                        "content_type": "application/json"}, 400),
    ("JSON not UTF-8", {"data": b'{"email": "\xc3\x28@example.com"}',
                        "content_type": "application/json"}, 400),
    ("form not UTF-8", {"data": b"email=%C3%28%40example.com",
                        "content_type": "application/x-www-form-urlencoded"}, 400),
    ("multipart not UTF-8",
     {"data": b'--b\r\nContent-Disposition: form-data; name="email"\r\n\r\n\xff@example.com'
              b"\r\n--b--\r\n", "content_type": "multipart/form-data; boundary=b"}, 400),
    # wrong methods and content types
    ("GET on subscribe", {"method": "get"}, 405),
    ("PUT on subscribe", {"method": "put", "data": {"email": "a@example.com"}}, 405),
    ("DELETE on subscribe", {"method": "delete"}, 405),
    ("PUT on confirm", {"method": "put", "path": "/confirm/abc"}, 405),
    ("text/plain body", {"data": "email=a@example.com", "content_type": "text/plain"}, 415),
    ("XML body", {"data": "<a>a@example.com</a>", "content_type": "application/xml"}, 415),
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
    ("garbage confirm token", {"path": "/confirm/not-a-token"}, 404),
    ("garbage unsubscribe token", {"path": "/unsubscribe/not-a-token"}, 404),
    ("token of another key", {"path": "/confirm/" + make_link_token(
        "attacker-key", Purpose.confirm, [(1, 1)])}, 404),
    ("unsubscribe token of another key", {"path": "/unsubscribe/" + make_link_token(
        "attacker-key", Purpose.unsubscribe, [(1, 0)])}, 404),
    ("token for no subscription", {"path": "/unsubscribe/" + make_link_token(
        "test-secret-key", Purpose.unsubscribe, [(999_999, 0)])}, 404),
    ("huge token", {"method": "get", "path": "/confirm/" + "A" * 20_000}, 404),
    ("resend with garbage token", {"path": "/confirm/xyz/resend"}, 404),
]


def test_the_table_keeps_at_least_fifty_refused_requests() -> None:
    assert len(REFUSED) >= 50


@pytest.mark.parametrize(("request_args", "status"), [(r[1], r[2]) for r in REFUSED],
                         ids=[r[0] for r in REFUSED])
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
    client.post(NAMED,
                data={"email": "n@example.com", "name": "Bob\r\nSubject: hi"})
    [subscription] = all_rows(app, Subscription)
    assert subscription.name == "Bob Subject: hi"


# Every endpoint that reads JSON, each with a body that is valid apart from the fault.
JSON_ENDPOINTS = [
    ("/newsletters/daily/subscribe", '{"email": "a@example.com"%s}'),
    ("/subscribe", '{"newsletters": ["daily"], "email": "a@example.com"%s}'),
    ("/api/v1/newsletters/daily/subscribers", '{"email": "a@example.com"%s}'),
    ("/api/v1/newsletters/daily/subscribers/unsubscribe", '{"email": "a@example.com"%s}'),
]
JSON_FAULTS = [
    ("key twice", ', "email": "b@example.com"', "appears more than once"),
    ("nested 2,000 deep", ', "name": ' + "[" * 2000 + "]" * 2000, "nested too deeply"),
    ("nested objects", ', "name": ' + '{"a": ' * 2000 + "1" + "}" * 2000, "nested too deeply"),
]


@pytest.mark.parametrize(("path", "template"), JSON_ENDPOINTS, ids=[e[0] for e in JSON_ENDPOINTS])
@pytest.mark.parametrize(("extra", "message"), [f[1:] for f in JSON_FAULTS],
                         ids=[f[0] for f in JSON_FAULTS])
def test_every_json_endpoint_refuses_repeated_keys_and_deep_nesting(
        app: Flask, client: FlaskClient, path: str, template: str, extra: str,
        message: str) -> None:
    headers = bearer(make_token(app)) if path.startswith("/api/") else {}
    response = client.post(path, data=template % extra, content_type="application/json",
                           headers=headers)
    assert response.status_code == 400
    assert response.json["ok"] is False and message in response.json["error"]
    assert_nothing_stored(app)


class _ChunkedForm(io.RawIOBase):
    """``email=...&pad=xxx...&name=Bob``, ``pad_bytes`` long, made as it is read."""

    def __init__(self, pad_bytes: int) -> None:
        self._parts: list[bytes | int] = [b"email=a%40example.com&pad=", pad_bytes, b"&name=Bob"]

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        while self._parts:
            part = self._parts[0]
            size = min(len(buffer), part if isinstance(part, int) else len(part))
            if size == 0:
                self._parts.pop(0)
                continue
            buffer[:size] = b"x" * size if isinstance(part, int) else part[:size]
            self._parts[0] = part - size if isinstance(part, int) else part[size:]
            return size
        return 0


def chunked_post(client: FlaskClient, path: str, pad_bytes: int) -> Any:
    """POST a form as a server hands on a chunked body: no Content-Length, input terminated."""
    environ = EnvironBuilder(path=path, method="POST", headers={
        "Accept": "application/json", "Transfer-Encoding": "chunked",
        "Content-Type": "application/x-www-form-urlencoded"}).get_environ()
    del environ["CONTENT_LENGTH"]
    environ.update({"wsgi.input": _ChunkedForm(pad_bytes), "wsgi.input_terminated": True})
    return client.open(Request(environ))


@pytest.mark.parametrize("path", ["/newsletters/daily/subscribe", "/subscribe"])
def test_chunked_body_over_the_limit_is_refused_not_cut(app: Flask, client: FlaskClient,
                                                        path: str) -> None:
    # Werkzeug stopped reading at 64 KiB and went on with the fields it had read.
    response = chunked_post(client, path, pad_bytes=50_000_000)
    assert response.status_code == 413
    assert response.json["ok"] is False
    assert_nothing_stored(app)


@pytest.mark.app_config(MIN_FILL_SECONDS=0)
def test_chunked_body_under_the_limit_is_read_whole(app: Flask, client: FlaskClient) -> None:
    make_newsletter(app, "required", "Named", name_field=FieldMode.required)
    response = chunked_post(client, "/newsletters/required/subscribe", pad_bytes=1000)
    assert response.status_code == 200, response.json
    [subscription] = all_rows(app, Subscription)
    assert subscription.name == "Bob"  # the field after the padding arrived
