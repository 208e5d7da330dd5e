"""The SMTP mailer against a real server (aiosmtpd): TLS, auth, batches, outages, replies."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from typing import Any

import pytest

from newsletter_service.mailers import (
    MailerError,
    SMTPMailer,
)
from tests.factories import make_message
from tests.smtp_sink import SMTPSink

SinkFactory = Callable[..., SMTPSink]


def smtp_mailer(sink: SMTPSink, **options: Any) -> SMTPMailer:
    options.setdefault("timeout", 5)
    return SMTPMailer(sink.host, sink.port, local_hostname="localhost", **options)


def subjects(sink: SMTPSink) -> list[str]:
    return [str(message["Subject"]) for message in sink.messages]


USER = ("sender", "s3cret-pass")
SMTP_MODES = {
    "plain": ({}, {}),
    "starttls": ({"tls": "starttls"}, {"starttls": True}),
    "implicit-tls": ({"tls": "implicit"}, {"ssl": True}),
    "auth-plain": ({"auth": USER}, {"username": USER[0], "password": USER[1]}),
    "auth-login-after-starttls": (
        {"auth": USER, "auth_mechanisms": ("LOGIN",), "tls": "starttls"},
        {"username": USER[0], "password": USER[1], "starttls": True},
    ),
}


@pytest.mark.parametrize(("sink_options", "mailer_options"), SMTP_MODES.values(), ids=SMTP_MODES)
def test_smtp_delivers_to_a_real_server(make_smtp_sink: SinkFactory, sink_options: dict[str, Any],
                                        mailer_options: dict[str, Any]) -> None:
    sink = make_smtp_sink(**sink_options)
    with smtp_mailer(sink, ssl_context=sink.client_ssl_context(), **mailer_options) as mailer:
        mailer.send(make_message())
    [mail] = sink.received
    assert mail.message["Subject"] == "Please confirm"
    assert (mail.mail_from, mail.rcpt_tos) == ("news@example.org", ("reader@example.com",))
    assert mail.tls is ("tls" in sink_options)
    assert mail.login == mailer_options.get("username")


def test_smtp_sends_an_international_address_with_smtputf8(smtp_sink: SMTPSink) -> None:
    with smtp_mailer(smtp_sink) as mailer:
        mailer.send(make_message(to="leser@bücher.example"))
    assert smtp_sink.received[0].rcpt_tos == ("leser@bücher.example",)


@pytest.mark.parametrize(("tls", "mailer_options"),
                         [("starttls", {"starttls": True}), ("implicit", {"ssl": True})])
def test_smtp_refuses_an_unknown_certificate_unless_verify_is_off(
        make_smtp_sink: SinkFactory, tls: str, mailer_options: dict[str, Any]) -> None:
    sink = make_smtp_sink(tls=tls)
    with pytest.raises(MailerError, match="CERTIFICATE_VERIFY_FAILED") as excinfo:
        smtp_mailer(sink, **mailer_options).send(make_message())
    assert not excinfo.value.permanent
    with smtp_mailer(sink, verify=False, **mailer_options) as mailer:
        mailer.send(make_message())
    assert len(sink.messages) == 1


def test_smtp_never_falls_back_to_plain_text_when_starttls_is_missing(
        smtp_sink: SMTPSink) -> None:
    with pytest.raises(MailerError, match="STARTTLS") as excinfo:
        smtp_mailer(smtp_sink, starttls=True).send(make_message())
    assert not excinfo.value.permanent
    assert smtp_sink.messages == []


@pytest.mark.parametrize(("credentials", "code"), [(("sender", "wrong-pass"), 535), (None, 530)])
def test_smtp_auth_trouble_is_retryable_and_never_shows_the_password(
        make_smtp_sink: SinkFactory, credentials: tuple[str, str] | None, code: int) -> None:
    sink = make_smtp_sink(auth=USER)
    username, password = credentials or (None, None)
    mailer = smtp_mailer(sink, username=username, password=password)
    with pytest.raises(MailerError) as excinfo:
        mailer.send(make_message())
    mailer.close()
    assert (excinfo.value.code, excinfo.value.permanent) == (code, False)
    assert "wrong-pass" not in f"{excinfo.value} {mailer!r}"


def test_the_password_is_masked_even_when_the_server_reply_contains_it(
        make_smtp_sink: SinkFactory) -> None:
    sink = make_smtp_sink(auth=USER)
    # The sink answers "535 5.7.8 Authentication credentials invalid".
    with pytest.raises(MailerError) as excinfo:
        smtp_mailer(sink, username="sender", password="credentials").send(make_message())
    assert "credentials" not in str(excinfo.value)
    assert "535 5.7.8 Authentication *** invalid" in str(excinfo.value)


@pytest.mark.parametrize("to", ["reader@example.com", "leser@bücher.example"])
def test_send_raw_delivers_the_stored_bytes_unchanged(smtp_sink: SMTPSink, to: str) -> None:
    from email import policy as email_policy

    raw = make_message(to=to).as_bytes(policy=email_policy.SMTPUTF8)
    with smtp_mailer(smtp_sink) as mailer:
        mailer.send_raw(raw, "news@example.org", [to])
    [mail] = smtp_sink.received
    assert (mail.mail_from, mail.rcpt_tos) == ("news@example.org", (to,))
    assert mail.message["Subject"] == "Please confirm"
    body = raw.replace(b"\r\n", b"\n").split(b"\n\n", 1)[1]
    assert mail.raw.replace(b"\r\n", b"\n").endswith(body)


def test_send_raw_refuses_a_message_without_envelope(smtp_sink: SMTPSink) -> None:
    with smtp_mailer(smtp_sink) as mailer, pytest.raises(MailerError) as refused:
        mailer.send_raw(b"Subject: x\n\nbody", "", [])
    assert refused.value.permanent and smtp_sink.received == []


def test_one_connection_serves_a_whole_batch(smtp_sink: SMTPSink) -> None:
    with smtp_mailer(smtp_sink) as mailer:
        for number in range(3):
            mailer.send(make_message(subject=f"Issue {number}"))
    assert smtp_sink.connections == 1
    assert subjects(smtp_sink) == ["Issue 0", "Issue 1", "Issue 2"]


def test_each_batch_opens_its_own_connection(smtp_sink: SMTPSink) -> None:
    mailer = smtp_mailer(smtp_sink)
    for _ in range(2):
        with mailer:
            mailer.send(make_message())
    assert smtp_sink.connections == 2


@pytest.mark.parametrize("outage", ["drop_connections", "restart"])
def test_smtp_reconnects_once_when_the_server_hung_up(smtp_sink: SMTPSink, outage: str) -> None:
    with smtp_mailer(smtp_sink) as mailer:
        mailer.send(make_message(subject="before"))
        if outage == "restart":
            smtp_sink.stop()
            smtp_sink.start()
        else:
            smtp_sink.drop_connections()
        mailer.send(make_message(subject="after"))
    assert subjects(smtp_sink) == ["before", "after"]
    assert smtp_sink.connections == 2


@pytest.mark.parametrize(("command", "code", "permanent"), [
    ("DATA", 451, False),
    ("DATA", 452, False),
    ("DATA", 421, False),
    ("DATA", 550, True),
    ("DATA", 554, True),
    ("RCPT", 450, False),
    ("RCPT", 550, True),
])
def test_smtp_reply_class_decides_whether_a_failure_is_permanent(
        smtp_sink: SMTPSink, command: str, code: int, permanent: bool) -> None:
    smtp_sink.fail_next(1, code, "Computer says no", command=command)  # type: ignore[arg-type]
    with smtp_mailer(smtp_sink) as mailer:
        with pytest.raises(MailerError) as excinfo:
            mailer.send(make_message(subject="refused"))
        mailer.send(make_message(subject="next"))  # the session, or a fresh one, still works
    assert (excinfo.value.permanent, excinfo.value.code) == (permanent, code)
    assert f"{code} Computer says no" in str(excinfo.value)
    assert subjects(smtp_sink) == ["next"]


def test_server_down_fails_fast_and_mail_flows_when_it_is_back(smtp_sink: SMTPSink) -> None:
    mailer = smtp_mailer(smtp_sink, timeout=1)
    smtp_sink.stop()
    started = time.monotonic()
    with pytest.raises(MailerError, match="Connection refused") as excinfo:
        mailer.send(make_message(subject="lost?"))
    assert not excinfo.value.permanent
    assert time.monotonic() - started < 1
    smtp_sink.start()  # same port
    with mailer:
        mailer.send(make_message(subject="lost?"))
    assert subjects(smtp_sink) == ["lost?"]


def test_a_server_that_never_answers_times_out_as_retryable() -> None:
    # Connections queue in the backlog of a socket nobody accepts: no greeting ever comes.
    with socket.create_server(("127.0.0.1", 0)) as silent:
        mailer = SMTPMailer("127.0.0.1", silent.getsockname()[1], timeout=0.2,
                            local_hostname="localhost")
        started = time.monotonic()
        with pytest.raises(MailerError, match="timed out") as excinfo:
            mailer.send(make_message())
    assert not excinfo.value.permanent
    assert time.monotonic() - started < 2


def test_close_is_quiet_when_the_server_is_already_gone(smtp_sink: SMTPSink) -> None:
    mailer = smtp_mailer(smtp_sink)
    mailer.send(make_message())
    smtp_sink.stop()
    mailer.close()
    mailer.close()


def test_smtp_checks_the_message_before_connecting(smtp_sink: SMTPSink) -> None:
    message = make_message()
    del message["To"]
    with pytest.raises(MailerError):
        smtp_mailer(smtp_sink).send(message)
    assert smtp_sink.connections == 0
