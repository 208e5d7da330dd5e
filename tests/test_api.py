"""The token API: bearer tokens, JSON everywhere, add, unsubscribe, erase, export."""

from __future__ import annotations

import json
import logging

import pytest
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner

from newsletter_service.models import (
    ApiToken,
    ConsentEventKind,
    ErasedSubscription,
    OutboxMessage,
    Subscriber,
    Subscription,
    SubscriptionStatus,
)

from .admin_support import bearer, make_token
from .factories import all_rows, make_newsletter, outbox_rows, subscribe


@pytest.fixture
def token(app: Flask) -> str:
    make_newsletter(app)
    return make_token(app)


def test_tokens_create_prints_the_token_alone_on_the_last_line(
        app: Flask, client: FlaskClient, runner: FlaskCliRunner) -> None:
    make_newsletter(app)
    result = runner.invoke(args=["tokens", "create", "newsroom"])
    assert result.exit_code == 0, result.output
    token = result.output.splitlines()[-1]
    assert client.get("/api/v1/newsletters", headers=bearer(token)).status_code == 200
    [row] = all_rows(app, ApiToken)
    assert token not in (row.token_hash, row.prefix) and row.prefix in token
    assert token not in runner.invoke(args=["tokens", "list"]).output


def test_a_revoked_token_stops_working(app: Flask, client: FlaskClient, runner: FlaskCliRunner,
                                       token: str) -> None:
    assert client.get("/api/v1/newsletters", headers=bearer(token)).status_code == 200
    assert runner.invoke(args=["tokens", "revoke", "ci"]).exit_code == 0
    assert client.get("/api/v1/newsletters", headers=bearer(token)).status_code == 401
    assert "revoked" in runner.invoke(args=["tokens", "list"]).output
    assert runner.invoke(args=["tokens", "revoke", "nope"]).exit_code == 1
    assert runner.invoke(args=["tokens", "create", "ci"]).exit_code == 1  # names stay taken


@pytest.mark.parametrize("header", [
    None, "Bearer", "Bearer ", "Basic dXNlcjpwYXNz", "Bearer nl_00000000_" + "x" * 43,
    "Bearer not-a-token",
])
def test_missing_or_wrong_token_is_a_json_401_with_a_bearer_challenge(
        client: FlaskClient, token: str, header: str | None) -> None:
    headers = {"Authorization": header} if header is not None else {}
    response = client.get("/api/v1/newsletters", headers=headers)
    assert response.status_code == 401
    assert response.get_json()["ok"] is False
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_a_token_with_one_changed_character_is_refused(client: FlaskClient, token: str) -> None:
    changed = token[:-1] + ("A" if token[-1] != "A" else "B")
    assert client.get("/api/v1/newsletters", headers=bearer(changed)).status_code == 401


def test_no_token_appears_in_the_logs(client: FlaskClient, token: str,
                                      caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    client.get("/api/v1/newsletters", headers=bearer(token))
    client.get("/api/v1/newsletters", headers=bearer(token + "x"))
    assert token not in caplog.text


def test_newsletters_lists_slug_and_name(client: FlaskClient, token: str) -> None:
    data = client.get("/api/v1/newsletters", headers=bearer(token)).get_json()
    assert data == [{"slug": "daily", "name": "The Daily", "description": "", "language": "en",
                     "active": True}]


def test_adding_a_reader_makes_a_pending_subscription_and_a_confirmation_email(
        app: Flask, client: FlaskClient, token: str) -> None:
    response = client.post("/api/v1/newsletters/daily/subscribers", headers=bearer(token),
                           json={"email": "Reader@Example.com", "name": "Ann"})
    assert response.status_code == 201
    assert response.get_json() == {"ok": True, "created": True, "status": "pending"}
    [message] = outbox_rows(app)
    assert message.recipient == "Reader@example.com" and message.kind == "confirm"
    again = client.post("/api/v1/newsletters/daily/subscribers", headers=bearer(token),
                        json={"email": "reader@example.com", "confirmed": True})
    assert again.status_code == 200 and again.get_json()["created"] is False
    assert again.get_json()["status"] == "pending"  # an existing reader is not changed


def test_adding_a_confirmed_reader_sends_no_email(app: Flask, client: FlaskClient,
                                                  token: str) -> None:
    response = client.post("/api/v1/newsletters/daily/subscribers", headers=bearer(token),
                           json={"email": "reader@example.com", "confirmed": True})
    assert response.status_code == 201 and response.get_json()["status"] == "confirmed"
    assert outbox_rows(app) == []
    [subscription] = all_rows(app, Subscription)
    assert [e.kind for e in _events(app, subscription.id)] == [ConsentEventKind.imported]


def _events(app: Flask, subscription_id: int) -> list:
    from newsletter_service.models import ConsentEvent

    return [e for e in all_rows(app, ConsentEvent) if e.subscription_id == subscription_id]


@pytest.mark.parametrize("body, content_type, status", [
    ("{not json", "application/json", 400),
    ('["a@example.com"]', "application/json", 400),
    ('{"email": 5}', "application/json", 400),
    ('{"name": "x"}', "application/json", 400),
    ('{"email": "a@example.com", "confirmed": "yes"}', "application/json", 400),
    ('{"email": "a@example.com"}', "text/plain", 400),
    ('{"email": "not-an-address"}', "application/json", 422),
    ('{"email": "a@example.com", "name": "' + "n" * 201 + '"}', "application/json", 422),
])
def test_malformed_requests_get_json_errors_never_a_500(
        client: FlaskClient, token: str, body: str, content_type: str, status: int) -> None:
    response = client.post("/api/v1/newsletters/daily/subscribers", data=body,
                           headers={**bearer(token), "Content-Type": content_type})
    assert response.status_code == status
    assert response.get_json()["ok"] is False


@pytest.mark.parametrize(("body", "field"), [
    ({"email": "not-an-address"}, "email"),
    ({"email": "a@example.com", "name": "n" * 201}, "name"),
    ({"email": "a@example.com", "name": "\ud800"}, "name"),
])
def test_a_refused_reader_names_the_field_at_fault(client: FlaskClient, token: str,
                                                   body: dict[str, str], field: str) -> None:
    response = client.post("/api/v1/newsletters/daily/subscribers", headers=bearer(token),
                           json=body)
    assert response.status_code == 422
    assert list(response.get_json()["errors"]) == [field]


def test_unknown_newsletter_is_a_json_404(client: FlaskClient, token: str) -> None:
    response = client.post("/api/v1/newsletters/nope/subscribers", headers=bearer(token),
                           json={"email": "a@example.com"})
    assert response.status_code == 404 and response.get_json()["ok"] is False
    response = client.get("/api/v1/newsletters/nope/subscribers", headers=bearer(token))
    assert response.status_code == 404 and response.is_json


def test_unsubscribe_by_address(app: Flask, client: FlaskClient, token: str) -> None:
    subscribe(app, "reader@example.com")
    url = "/api/v1/newsletters/daily/subscribers/unsubscribe"
    response = client.post(url, headers=bearer(token), json={"email": "READER@example.com"})
    assert response.get_json() == {"ok": True, "status": "unsubscribed", "changed": True}
    [subscription] = all_rows(app, Subscription)
    assert subscription.status is SubscriptionStatus.unsubscribed
    assert _events(app, subscription.id)[-1].source == "admin console: token ci"
    assert client.post(url, headers=bearer(token),
                       json={"email": "reader@example.com"}).get_json()["changed"] is False
    assert client.post(url, headers=bearer(token),
                       json={"email": "other@example.com"}).status_code == 404


def test_erase_removes_the_reader_and_keeps_anonymous_counts(
        app: Flask, client: FlaskClient, token: str) -> None:
    subscribe(app, "reader@example.com")
    response = client.delete("/api/v1/subscribers/Reader@Example.com", headers=bearer(token))
    assert response.get_json() == {"ok": True, "erased": True}
    assert all_rows(app, Subscriber) == [] and all_rows(app, Subscription) == []
    [message] = all_rows(app, OutboxMessage)
    assert message.recipient == "erased" and message.message == b""
    [tombstone] = all_rows(app, ErasedSubscription)
    assert tombstone.status is SubscriptionStatus.pending
    assert client.delete("/api/v1/subscribers/reader@example.com",
                         headers=bearer(token)).status_code == 404
    again = client.post("/api/v1/newsletters/daily/subscribers", headers=bearer(token),
                        json={"email": "reader@example.com"})
    assert again.status_code == 409  # an erased address is not added back by the API


def test_export_streams_csv_and_json(app: Flask, client: FlaskClient, token: str) -> None:
    client.post("/api/v1/newsletters/daily/subscribers", headers=bearer(token),
                json={"email": "reader@example.com", "confirmed": True})
    csv_response = client.get("/api/v1/newsletters/daily/subscribers", headers=bearer(token),
                              buffered=False)  # the body as a server sends it: streamed
    assert csv_response.is_streamed and csv_response.mimetype == "text/csv"
    assert csv_response.get_data(as_text=True).splitlines()[1].startswith("reader@example.com,")
    json_response = client.get("/api/v1/newsletters/daily/subscribers?format=json&status=all",
                               headers=bearer(token))
    assert [r["email"] for r in json.loads(json_response.get_data())] == ["reader@example.com"]
    bad = client.get("/api/v1/newsletters/daily/subscribers?status=gone", headers=bearer(token))
    assert bad.status_code == 400 and "status must be one of" in bad.get_json()["error"]


def test_the_api_needs_no_csrf_token(app: Flask, client: FlaskClient, token: str) -> None:
    response = client.post("/api/v1/newsletters/daily/subscribers", headers=bearer(token),
                           json={"email": "reader@example.com"})
    assert response.status_code == 201
