"""Internationalized addresses (RFC 6531) end to end: signup, import, API, SMTP with SMTPUTF8."""

from __future__ import annotations

import io

import pytest
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner
from sqlalchemy import update

from newsletter_service.mailers import SMTPMailer
from newsletter_service.models import Newsletter, OutboxMessage, OutboxStatus, Subscriber
from newsletter_service.worker import deliver_once

from .admin_support import bearer, form_post, log_in, make_admin, make_token
from .factories import all_rows, link_in, make_newsletter, open_session
from .smtp_sink import SMTPSink

INTERNATIONAL = ["josé@example.com", "jöhn@example.com", "ツ-reader@example.com"]


@pytest.fixture(autouse=True)
def newsletter(db_app: Flask) -> None:
    make_newsletter(db_app, "daily", "The Daily")


@pytest.mark.parametrize("address", INTERNATIONAL)
@pytest.mark.parametrize("as_json", [False, True])
def test_signup_of_an_internationalized_address_is_accepted(
        db_app: Flask, address: str, as_json: bool) -> None:
    client = db_app.test_client()
    if as_json:
        response = client.post("/newsletters/daily/subscribe", json={"email": address})
    else:
        response = client.post("/newsletters/daily/subscribe", data={"email": address})
    assert response.status_code == 200, response.get_data(as_text=True)[:500]
    [subscriber] = all_rows(db_app, Subscriber)
    assert subscriber.email == address
    [queued] = all_rows(db_app, OutboxMessage)
    assert queued.recipient == address
    combined = client.post("/subscribe", json={"email": address, "newsletters": ["daily"]})
    assert combined.status_code == 200


def test_ascii_mail_stays_ascii_and_a_unicode_domain_is_written_in_idna(
        db_app: Flask) -> None:
    client = db_app.test_client()
    client.post("/newsletters/daily/subscribe", json={"email": "reader@bücher.example"})
    [queued] = all_rows(db_app, OutboxMessage)
    headers = queued.message.split(b"\r\n\r\n", 1)[0]
    assert headers.isascii()  # any relay takes it, SMTPUTF8 or not
    assert queued.recipient == "reader@xn--bcher-kva.example"


def test_import_and_api_take_internationalized_addresses(
        db_app: Flask, runner: FlaskCliRunner, tmp_path: object) -> None:
    path = f"{tmp_path}/readers.csv"
    with open(path, "w", encoding="utf-8") as file:
        file.write("email\njosé@example.com\nツ-reader@example.com\n")
    result = db_app.test_cli_runner().invoke(args=["subscribers", "import", "daily", path])
    assert result.exit_code == 0, result.output
    assert "Traceback" not in result.output
    client = db_app.test_client()
    response = client.post("/api/v1/newsletters/daily/subscribers",
                           headers=bearer(make_token(db_app)), json={"email": "jöhn@example.com"})
    assert response.status_code in (200, 201), response.get_data(as_text=True)
    emails = sorted(s.email for s in all_rows(db_app, Subscriber))
    assert emails == sorted(["josé@example.com", "ツ-reader@example.com", "jöhn@example.com"])


@pytest.fixture
def relay_with(db_app: Flask, make_smtp_sink: object):  # type: ignore[no-untyped-def]
    """Return a function pointing the app's mailer at a new sink, SMTPUTF8 offered or not."""

    def point(smtputf8: bool) -> SMTPSink:
        sink: SMTPSink = make_smtp_sink(smtputf8=smtputf8)  # type: ignore[operator]
        db_app.extensions["mailer"] = SMTPMailer(sink.host, sink.port, timeout=5)
        return sink

    return point


def test_mail_to_an_internationalized_address_goes_out_with_smtputf8(
        db_app: Flask, relay_with) -> None:  # type: ignore[no-untyped-def]
    sink = relay_with(True)
    client = db_app.test_client()
    client.post("/newsletters/daily/subscribe", data={"email": "josé@example.com"})
    assert deliver_once(db_app).sent == 1
    [mail] = sink.received
    assert mail.rcpt_tos == ("josé@example.com",)
    assert str(mail.message["To"]) == "josé@example.com"
    assert mail.message["Subject"] == "Confirm your subscription to The Daily"
    # The link works, and the welcome goes the same way.
    assert client.post(link_in(mail.message)).status_code == 200
    assert deliver_once(db_app).sent == 1
    assert sink.received[1].rcpt_tos == ("josé@example.com",)


def test_a_relay_without_smtputf8_fails_that_message_for_good_and_says_why(
        db_app: Flask, relay_with) -> None:  # type: ignore[no-untyped-def]
    sink = relay_with(False)
    client = db_app.test_client()
    client.post("/newsletters/daily/subscribe", data={"email": "josé@example.com"})
    client.post("/newsletters/daily/subscribe", data={"email": "plain@example.com"})
    report = deliver_once(db_app)
    assert (report.sent, report.failed, report.retrying) == (1, 1, 0)
    assert [m.rcpt_tos for m in sink.received] == [("plain@example.com",)]
    failed = next(m for m in all_rows(db_app, OutboxMessage) if m.status is OutboxStatus.failed)
    assert failed.recipient == "josé@example.com"
    assert "does not offer SMTPUTF8" in (failed.last_error or "")
    # The console shows why, on the reader's page.
    make_admin(db_app)
    admin = db_app.test_client()
    log_in(admin)
    page = admin.get(f"/admin/subscribers/{failed.subscriber_id}").get_data(as_text=True)
    assert "does not offer SMTPUTF8" in page and "failed" in page


def test_console_import_upload_takes_internationalized_addresses(db_app: Flask) -> None:
    make_admin(db_app)
    admin: FlaskClient = db_app.test_client()
    log_in(admin)
    response = form_post(admin, "/admin/newsletters/daily/import", {
        "file": (io.BytesIO("email\nјосип@example.com\n".encode()), "r.csv")},
        page="/admin/newsletters/daily/import", content_type="multipart/form-data")
    assert response.status_code == 200, response.get_data(as_text=True)[:300]
    assert [s.email for s in all_rows(db_app, Subscriber)] == ["јосип@example.com"]


def test_a_line_break_saved_in_settings_before_they_were_checked_breaks_no_signup(
        db_app: Flask) -> None:
    """Newsletters saved before settings refused control characters keep working."""
    with open_session(db_app) as session:
        session.execute(update(Newsletter).values(name="The\r\nDaily",
                                                  confirmation_subject="Confirm\r\nBcc: x@evil"))
        session.commit()
    response = db_app.test_client().post("/newsletters/daily/subscribe",
                                         json={"email": "reader@example.com"})
    assert response.status_code == 200
    [queued] = all_rows(db_app, OutboxMessage)
    headers = queued.message.split(b"\r\n\r\n", 1)[0]
    assert b"Bcc" not in headers.replace(b"Subject: Confirm Bcc: x@evil", b"")
    assert b"Subject: Confirm Bcc: x@evil" in headers and b"From: The Daily <" in headers
