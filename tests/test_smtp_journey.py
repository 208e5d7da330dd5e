"""The whole journey over a real SMTP server (aiosmtpd on loopback)."""

from __future__ import annotations

from collections import Counter

import pytest
from flask import Flask
from flask.testing import FlaskClient

from newsletter_service.mailers import SMTPMailer
from newsletter_service.models import (
    OutboxMessage,
    OutboxStatus,
    Subscription,
    SubscriptionStatus,
)
from newsletter_service.worker import deliver_once

from .factories import all_rows, link_in, make_due, make_newsletter
from .smtp_sink import SMTPSink


@pytest.fixture
def smtp_app(db_app: Flask, smtp_sink: SMTPSink) -> Flask:
    """The app on each database, its mailer a real SMTP client of the sink."""
    db_app.extensions["mailer"] = SMTPMailer(smtp_sink.host, smtp_sink.port, timeout=2)
    make_newsletter(db_app, "daily", "The Daily")
    return db_app


def test_sign_up_receive_the_email_and_confirm(smtp_app: Flask, smtp_sink: SMTPSink) -> None:
    client: FlaskClient = smtp_app.test_client()
    client.post("/newsletters/daily/subscribe", data={"email": "reader@example.com"})
    assert deliver_once(smtp_app).sent == 1
    [mail] = smtp_sink.received
    assert mail.rcpt_tos == ("reader@example.com",)
    assert mail.mail_from == "news@example.com"
    assert mail.message["Subject"] == "Confirm your subscription to The Daily"
    response = client.post(link_in(mail.message))
    assert response.status_code == 200
    [subscription] = all_rows(smtp_app, Subscription)
    assert subscription.status is SubscriptionStatus.confirmed
    assert deliver_once(smtp_app).sent == 1  # the welcome
    assert smtp_sink.messages[1]["Subject"] == "Welcome to The Daily"


def test_one_connection_carries_a_batch(smtp_app: Flask, smtp_sink: SMTPSink) -> None:
    client = smtp_app.test_client()
    for index in range(5):
        client.post("/newsletters/daily/subscribe", json={"email": f"r{index}@example.com"})
    assert deliver_once(smtp_app).sent == 5
    assert smtp_sink.connections == 1


def test_mail_server_down_while_people_sign_up_loses_nothing(smtp_app: Flask,
                                                             smtp_sink: SMTPSink) -> None:
    smtp_sink.stop()
    client = smtp_app.test_client()
    for index in range(6):
        response = client.post("/newsletters/daily/subscribe",
                               json={"email": f"r{index}@example.com"})
        assert response.status_code == 200  # signups do not wait for the mail server
    report = deliver_once(smtp_app)
    assert report.sent == 0 and report.retrying == 1
    assert len(all_rows(smtp_app, Subscription)) == 6
    smtp_sink.start()
    make_due(smtp_app)
    sent = 0
    while (report := deliver_once(smtp_app)).claimed:
        sent += report.sent
    assert sent == 6
    counts = Counter(m["To"] for m in smtp_sink.messages)
    assert len(counts) == 6 and set(counts.values()) == {1}  # each once
    assert {r.status for r in all_rows(smtp_app, OutboxMessage)} == {OutboxStatus.sent}


def test_temporary_refusal_is_retried_and_delivered_once(smtp_app: Flask,
                                                         smtp_sink: SMTPSink) -> None:
    smtp_sink.fail_next(1, code=451)
    smtp_app.test_client().post("/newsletters/daily/subscribe", json={"email": "x@example.com"})
    assert deliver_once(smtp_app).retrying == 1
    make_due(smtp_app)
    assert deliver_once(smtp_app).sent == 1
    assert len(smtp_sink.messages) == 1


def test_permanent_refusal_is_recorded_and_not_retried(smtp_app: Flask,
                                                       smtp_sink: SMTPSink) -> None:
    smtp_sink.fail_next(1, code=550, text="No such user", command="RCPT")
    smtp_app.test_client().post("/newsletters/daily/subscribe", json={"email": "x@example.com"})
    assert deliver_once(smtp_app).failed == 1
    [row] = all_rows(smtp_app, OutboxMessage)
    assert row.status is OutboxStatus.failed and "550" in (row.last_error or "")
    make_due(smtp_app)
    assert deliver_once(smtp_app).claimed == 0
    assert smtp_sink.messages == []
