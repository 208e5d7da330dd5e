"""The listmonk sync, against a local fake of listmonk's documented subscriber API."""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest
from flask import Flask
from flask.testing import FlaskCliRunner

from newsletter_service.mailers import MemoryMailer
from newsletter_service.models import OutboxMessage, OutboxStatus

from .factories import UNSUBSCRIBE_LINK, all_rows, deliver, link_in, make_newsletter
from .listmonk_fake import TOKEN, USER, FakeListmonk, running_listmonk
from .test_webhooks import drain, erase, sign_up


@pytest.fixture
def listmonk() -> Iterator[FakeListmonk]:
    yield from running_listmonk()


def add_sync(runner: FlaskCliRunner, url: str, token: str = TOKEN) -> None:
    result = runner.invoke(args=["sync", "add", "listmonk", url, "--list-id", "3",
                                 "--api-user", USER, "--api-token", token])
    assert result.exit_code == 0, result.output
    assert token not in result.output


def confirm(app: Flask, email: str) -> None:
    client = app.test_client()
    mailer: MemoryMailer = app.extensions["mailer"]
    sign_up(client, email)
    deliver(app)
    assert client.post(link_in(mailer.outbox[-1])).status_code == 200


def test_confirmed_unsubscribed_and_erased_readers_reach_the_list(
        db_app: Flask, listmonk: FakeListmonk) -> None:
    make_newsletter(db_app)
    add_sync(db_app.test_cli_runner(), listmonk.url + "/")
    confirm(db_app, "Reader@Example.com")
    drain(db_app)
    subscriber = listmonk.by_email("reader@example.com")
    assert subscriber is not None and subscriber["lists"] == {3: "confirmed"}
    assert subscriber["attribs"]["newsletter"] == "daily"

    client = db_app.test_client()
    mailer: MemoryMailer = db_app.extensions["mailer"]
    deliver(db_app)
    client.post(link_in(mailer.outbox[-1], UNSUBSCRIBE_LINK))
    drain(db_app)
    assert listmonk.by_email("reader@example.com")["lists"] == {3: "unsubscribed"}

    erase(db_app, "Reader@example.com")
    drain(db_app)
    assert listmonk.by_email("reader@example.com") is None
    assert listmonk.problems == []
    # Delivered, then blanked by the erasure (the earlier rows) or after delivery (its own).
    rows = [r for r in all_rows(db_app, OutboxMessage) if r.endpoint_id]
    assert len(rows) == 3 and rows[-1].status is OutboxStatus.sent
    assert all(r.message == b"" for r in rows)


def test_a_reader_listmonk_knows_already_is_added_to_the_list(
        app: Flask, listmonk: FakeListmonk) -> None:
    listmonk.subscribers[7] = {"id": 7, "email": "reader@example.com", "name": "R",
                               "attribs": {}, "lists": {1: "confirmed"}}
    make_newsletter(app)
    add_sync(app.test_cli_runner(), listmonk.url)
    confirm(app, "reader@example.com")
    drain(app)
    assert listmonk.subscribers[7]["lists"] == {1: "confirmed", 3: "confirmed"}
    assert listmonk.calls == ["POST /api/subscribers", "GET /api/subscribers",
                              "PUT /api/subscribers/lists"]
    assert listmonk.problems == []


def test_a_wrong_token_is_retried_and_never_logged(app: Flask, listmonk: FakeListmonk,
                                                   caplog: pytest.LogCaptureFixture) -> None:
    make_newsletter(app)
    add_sync(app.test_cli_runner(), listmonk.url, token="wrong-token-1234")
    caplog.set_level(logging.DEBUG)
    confirm(app, "reader@example.com")
    drain(app)
    [row] = [r for r in all_rows(app, OutboxMessage) if r.endpoint_id]
    assert row.status is OutboxStatus.pending and row.attempts == 1
    assert "HTTP 401" in (row.last_error or "")
    assert "wrong-token-1234" not in caplog.text + (row.last_error or "")
    listing = app.test_cli_runner().invoke(args=["webhooks", "list"])
    assert "listmonk" in listing.output and "wrong-token-1234" not in listing.output
