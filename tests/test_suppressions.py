"""Suppressions: no email to a bounced, complaining or suppressed address."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskCliRunner

from newsletter_service.mailers.smtp import SMTPMailer
from newsletter_service.models import (
    OutboxMessage,
    OutboxStatus,
    Subscription,
    SubscriptionStatus,
    Suppression,
    SuppressionReason,
)

from .admin_support import bearer, form_post, log_in, make_admin, make_token
from .factories import all_rows, deliver, make_newsletter
from .smtp_sink import SMTPSink
from .test_webhooks import add_endpoint, drain, erase, sign_up
from .webhook_receiver import Receiver, running_receiver

SAMPLES = Path(__file__).parent / "dsn"


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    yield from running_receiver()


def suppress(runner: FlaskCliRunner, email: str, reason: str) -> str:
    result = runner.invoke(args=["suppressions", "add", email, "--reason", reason])
    assert result.exit_code == 0, result.output
    return result.output


def test_a_suppressed_address_gets_the_normal_answer_and_no_email(db_app: Flask) -> None:
    make_newsletter(db_app)
    suppress(db_app.test_cli_runner(), "Gone@Example.com", "bounce")
    client = db_app.test_client()
    answer = client.post("/newsletters/daily/subscribe", json={"email": "gone@example.com"})
    assert answer.status_code == 200 and answer.get_json()["status"] == "pending"
    assert deliver(db_app) == 0
    assert db_app.extensions["mailer"].outbox == []
    [row] = all_rows(db_app, OutboxMessage)
    assert row.status is OutboxStatus.failed and row.last_error == "suppressed: bounce"


def test_an_email_queued_before_the_suppression_is_not_sent(app: Flask) -> None:
    make_newsletter(app)
    sign_up(app.test_client(), "reader@example.com")
    suppress(app.test_cli_runner(), "reader@example.com", "manual")
    assert deliver(app) == 0


def test_a_complaint_unsubscribes_everywhere_and_tells_the_webhooks(
        db_app: Flask, receiver: Receiver) -> None:
    make_newsletter(db_app)
    make_newsletter(db_app, slug="weekly", name="The Weekly")
    add_endpoint(db_app, receiver, ["subscription.unsubscribed"])
    client = db_app.test_client()
    client.post("/newsletters/daily/subscribe", json={"email": "reader@example.com"})
    client.post("/newsletters/weekly/subscribe", json={"email": "reader@example.com"})
    token = make_token(db_app)
    answer = client.post("/api/v1/suppressions", headers=bearer(token),
                         json={"email": "Reader@example.com", "reason": "complaint"})
    assert answer.status_code == 201, answer.get_data(as_text=True)
    assert {s.status for s in all_rows(db_app, Subscription)} == {SubscriptionStatus.unsubscribed}
    drain(db_app)
    assert sorted(r.payload["data"]["newsletter"] for r in receiver.received) == [
        "daily", "weekly"]
    assert receiver.types() == ["subscription.unsubscribed"] * 2


@pytest.mark.parametrize(("body", "field"), [
    ({"email": "not an address", "reason": "bounce"}, "email"),
    ({"email": "a@example.com", "reason": "spam"}, "reason"),
    ({"reason": "bounce"}, "email"),
])
def test_the_api_refuses_bad_suppressions(app: Flask, body: dict[str, str], field: str) -> None:
    answer = app.test_client().post("/api/v1/suppressions", json=body,
                                    headers=bearer(make_token(app)))
    assert answer.status_code == 422
    assert field in answer.get_json()["errors"]


def test_the_api_needs_a_token(app: Flask) -> None:
    answer = app.test_client().post("/api/v1/suppressions",
                                    json={"email": "a@example.com", "reason": "manual"})
    assert answer.status_code == 401


def test_cli_lists_and_removes(app: Flask, runner: FlaskCliRunner) -> None:
    assert suppress(runner, "a@example.com", "manual").splitlines()[-1] == "Suppressed."
    assert suppress(runner, "A@example.com", "manual").splitlines()[-1] == "Already suppressed."
    listing = runner.invoke(args=["suppressions", "list"]).output
    assert listing.startswith("a@example.com\tmanual\t")
    assert runner.invoke(args=["suppressions", "remove", "a@example.com"]).output == "Removed.\n"
    assert all_rows(app, Suppression) == []


def test_ingest_dsn_suppresses_permanent_failures_only(db_app: Flask) -> None:
    runner = db_app.test_cli_runner()
    for sample in ("postfix_bounce.eml", "gmail_bounce.eml", "transient_delay.eml"):
        result = runner.invoke(args=["suppressions", "ingest-dsn", "-"],
                               input=(SAMPLES / sample).read_bytes())
        assert result.exit_code == 0, result.output
    rows = all_rows(db_app, Suppression)
    assert sorted(r.email for r in rows) == ["gone.reader@example.org",
                                             "no.such.user.8812@gmail.com"]
    assert {r.reason for r in rows} == {SuppressionReason.bounce}
    assert all(r.detail and r.detail.startswith("DSN 5.1.1") for r in rows)


def test_ingest_dsn_reads_a_file(app: Flask, runner: FlaskCliRunner) -> None:
    result = runner.invoke(args=["suppressions", "ingest-dsn",
                                 str(SAMPLES / "transient_delay.eml")])
    assert result.output == "ignored\tbusy.reader@example.net\n"
    assert all_rows(app, Suppression) == []


def test_a_confirmation_the_relay_refuses_for_good_suppresses_the_address(
        db_app: Flask, smtp_sink: SMTPSink) -> None:
    db_app.extensions["mailer"] = SMTPMailer(smtp_sink.host, smtp_sink.port, timeout=2)
    make_newsletter(db_app)
    smtp_sink.fail_next(1, 550, "5.1.1 No such user", command="RCPT")
    sign_up(db_app.test_client(), "refused@example.com")
    smtp_sink.fail_next(1, 452, "4.2.2 Mailbox full", command="RCPT")
    sign_up(db_app.test_client(), "full@example.com")
    deliver(db_app)
    deliver(db_app)
    [row] = all_rows(db_app, Suppression)  # a 4xx refusal is only retried
    assert row.email == "refused@example.com" and row.reason is SuppressionReason.bounce
    assert "550" in (row.detail or "")


def test_the_console_lists_suppressions_with_reason_and_date(app: Flask) -> None:
    make_admin(app)
    client = app.test_client()
    log_in(client)
    page = "/admin/sending/suppressions"
    form_post(client, page, {"email": "a@example.com", "reason": "complaint"}, page=page)
    html = client.get(page).get_data(as_text=True)
    assert "a@example.com" in html and "complaint" in html
    assert all_rows(app, Suppression)[0].created_at.strftime("%Y-%m-%d") in html
    form_post(client, f"{page}/remove", {"email": "a@example.com"}, page=page)
    assert all_rows(app, Suppression) == []


def test_erasing_a_reader_keeps_the_suppression_but_not_the_address(app: Flask) -> None:
    make_newsletter(app)
    sign_up(app.test_client(), "reader@example.com")
    suppress(app.test_cli_runner(), "reader@example.com", "bounce")
    erase(app, "reader@example.com")
    [row] = all_rows(app, Suppression)
    assert row.email is None and row.reason is SuppressionReason.bounce
    sign_up(app.test_client(), "reader@example.com")
    assert deliver(app) == 0
