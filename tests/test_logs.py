"""Logs: one line a request with its id, JSON on demand, and never an address or a token."""

from __future__ import annotations

import json
import logging

import pytest
from flask import Flask
from flask.testing import FlaskClient

from newsletter_service import logs
from tests.factories import UNSUBSCRIBE_LINK, deliver, link_in, make_newsletter

ADDRESS = "Private.Reader+news@example.org"


@pytest.fixture(autouse=True)
def newsletter(app: Flask) -> None:
    make_newsletter(app, "daily", "The Daily")


def test_a_whole_reader_journey_logs_no_address_and_no_token(
        app: Flask, client: FlaskClient, caplog: pytest.LogCaptureFixture) -> None:
    # The package logs at INFO in production, every other library at WARNING (root's default).
    caplog.set_level(logging.DEBUG, logger="newsletter_service")
    assert client.post("/newsletters/daily/subscribe", json={"email": ADDRESS},
                       headers={"X-Request-ID": ADDRESS}).status_code == 200
    assert client.get("/newsletters/daily/subscribe?email=" + ADDRESS).status_code == 405
    deliver(app)
    mailer = app.extensions["mailer"]
    confirm = link_in(mailer.outbox[0])
    assert client.get(confirm).status_code == 200
    assert client.post(confirm).status_code == 200
    deliver(app)
    unsubscribe = link_in(mailer.outbox[1], UNSUBSCRIBE_LINK)
    assert client.post(unsubscribe).status_code == 200

    secrets = [ADDRESS, ADDRESS.lower(), "example.org", confirm.rsplit("/", 1)[1],
               unsubscribe.rsplit("/", 1)[1]]
    routes = [getattr(record, "route", None) for record in caplog.records]
    assert "/confirm/<token>" in routes and "/unsubscribe/<token>" in routes
    for record in caplog.records:
        for text in (repr(vars(record)), logs.TextFormatter().format(record),
                     logs.JSONFormatter().format(record)):
            assert not any(secret in text for secret in secrets), text


def test_each_request_logs_one_line_with_its_id_and_echoes_the_id(
        client: FlaskClient, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="newsletter_service")
    response = client.get("/newsletters/daily?utm_source=x", headers={"X-Request-ID": "abc-123"})
    [record] = [r for r in caplog.records if r.name == "newsletter_service.web.telemetry"]
    assert response.headers["X-Request-ID"] == "abc-123"
    assert record.request_id == "abc-123"  # type: ignore[attr-defined]
    assert (record.method, record.route, record.status) == (  # type: ignore[attr-defined]
        "GET", "/newsletters/<slug>", 200)
    assert "utm_source" not in record.getMessage()


@pytest.mark.parametrize("given", ["", "x" * 65, "has space", "a@b.example", "<script>", "é"])
def test_an_unlikely_request_id_is_replaced_by_a_fresh_one(client: FlaskClient,
                                                           given: str) -> None:
    first = client.get("/healthz", headers={"X-Request-ID": given}).headers["X-Request-ID"]
    second = client.get("/healthz", headers={"X-Request-ID": given}).headers["X-Request-ID"]
    assert first != given and len(first) == 32 and first != second


@pytest.mark.app_config(LOG_FORMAT="json")
def test_json_format_writes_one_object_a_line(client: FlaskClient,
                                              capsys: pytest.CaptureFixture[str]) -> None:
    capsys.readouterr()
    client.get("/newsletters/daily", headers={"X-Request-ID": "req-1"})
    [line] = [line for line in capsys.readouterr().err.splitlines() if '"route"' in line]
    entry = json.loads(line)
    assert entry["request_id"] == "req-1" and entry["route"] == "/newsletters/<slug>"
    assert entry["status"] == 200 and entry["level"] == "INFO" and entry["duration_ms"] >= 0
    assert entry["message"].startswith("GET /newsletters/<slug> 200")


def test_the_formatters_mask_addresses_whoever_logs_them() -> None:
    record = logging.LogRecord("newsletter_service.outbox", logging.WARNING, __file__, 1,
                               "message %s: %s", (7, "550 <bob@example.com>: no such user"),
                               None)
    assert "bob@example.com" not in logs.TextFormatter().format(record)
    assert "<email>" in json.loads(logs.JSONFormatter().format(record))["message"]


def test_an_unknown_log_format_is_refused() -> None:
    with pytest.raises(ValueError, match="NEWSLETTER_LOG_FORMAT"):
        logs.configure("xml")
