"""The mailers: SMTP against a real server, the local backends, and the URL registry."""

from __future__ import annotations

import io
import re
import socket
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from email import policy
from email.headerregistry import Address
from email.message import EmailMessage
from email.parser import BytesParser
from email.utils import format_datetime
from pathlib import Path
from typing import Any

import pytest

from newsletter_service.mailers import (
    BaseMailer,
    ConsoleMailer,
    DevMailbox,
    FailingMailer,
    FileMailer,
    MailerError,
    MemoryMailer,
    SMTPMailer,
    create_mailer,
)
from tests.smtp_sink import SMTPSink

SinkFactory = Callable[..., SMTPSink]


def make_message(subject: str = "Please confirm", to: str = "reader@example.com",
                 html: str | None = None, date: datetime | None = None) -> EmailMessage:
    message = EmailMessage()
    message["From"] = Address("The Newsroom", "news", "example.org")
    message["To"] = Address(addr_spec=to)
    message["Subject"] = subject
    if date is not None:
        message["Date"] = format_datetime(date)
    message.set_content("Click the link to confirm.\n")
    if html is not None:
        message.add_alternative(html, subtype="html")
    return message


def smtp_mailer(sink: SMTPSink, **options: Any) -> SMTPMailer:
    options.setdefault("timeout", 5)
    return SMTPMailer(sink.host, sink.port, local_hostname="localhost", **options)


def subjects(sink: SMTPSink) -> list[str]:
    return [str(message["Subject"]) for message in sink.messages]


# ---- SMTP against a real server -------------------------------------------------------------

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


# ---- every backend --------------------------------------------------------------------------

BACKENDS: dict[str, Callable[[Path], BaseMailer]] = {
    "memory": lambda directory: MemoryMailer(),
    "file": FileMailer,
    "devmail": DevMailbox,
    "console": lambda directory: ConsoleMailer(io.StringIO()),
    "failing-once": lambda directory: FailingMailer(fail_times=0),
}


@pytest.mark.parametrize("missing", ["From", "To"])
@pytest.mark.parametrize("backend", BACKENDS.values(), ids=BACKENDS)
def test_a_message_without_sender_or_recipient_fails_for_good(
        tmp_path: Path, backend: Callable[[Path], BaseMailer], missing: str) -> None:
    message = make_message()
    del message[missing]
    with pytest.raises(MailerError, match=f"no {missing}") as excinfo:
        backend(tmp_path).send(message)
    assert excinfo.value.permanent


def test_smtp_checks_the_message_before_connecting(smtp_sink: SMTPSink) -> None:
    message = make_message()
    del message["To"]
    with pytest.raises(MailerError):
        smtp_mailer(smtp_sink).send(message)
    assert smtp_sink.connections == 0


def test_console_mailer_prints_the_message_and_a_separator(
        capsys: pytest.CaptureFixture[str]) -> None:
    ConsoleMailer().send(make_message(subject="Hello console"))
    out = capsys.readouterr().out
    assert "Subject: Hello console\n" in out
    assert out.endswith(f"\n{ConsoleMailer.SEPARATOR}\n")


def test_console_mailer_writes_to_the_given_stream() -> None:
    stream = io.StringIO()
    with ConsoleMailer(stream) as mailer:
        mailer.send(make_message())
    assert "To: reader@example.com\n" in stream.getvalue()


def test_file_mailer_writes_one_eml_file_per_message(tmp_path: Path) -> None:
    directory = tmp_path / "not" / "yet"
    mailer = FileMailer(directory)
    for subject in ("one", "two", "three"):
        mailer.send(make_message(subject=subject))
    files = sorted(directory.iterdir())
    assert all(re.fullmatch(r"\d{8}T\d{12}Z-[0-9a-f]{32}\.eml", path.name) for path in files)
    parsed = [BytesParser(policy=policy.default).parsebytes(path.read_bytes()) for path in files]
    assert [message["Subject"] for message in parsed] == ["one", "two", "three"]


def test_dev_mailbox_lists_newest_first_with_both_bodies(tmp_path: Path) -> None:
    box = DevMailbox(tmp_path / "devmail")
    assert box.list_messages() == []  # before the directory exists
    sent_at = datetime(2030, 1, 2, 3, 4, 5, tzinfo=UTC)
    box.send(make_message(subject="first", date=sent_at))
    box.send(make_message(subject="second", html='<p><a href="https://x.test/c">Confirm</a></p>'))
    second, first = box.list_messages()
    assert (first.subject, first.date, first.html) == ("first", sent_at, None)
    assert second.subject == "second"
    assert second.html is not None and 'href="https://x.test/c"' in second.html
    assert second.text == "Click the link to confirm.\n"
    assert (second.to, second.from_) == ("reader@example.com", "The Newsroom <news@example.org>")
    assert box.get_message(second.id) == second
    assert box.get_message("20300102T030405000000Z-" + "0" * 32) is None


@pytest.mark.parametrize("bad_id", [
    "..", "../secret", "../../etc/passwd", "/etc/passwd", "a/b", "a\\b", "secret.eml", "",
    "%2e%2e%2fsecret", "name\n", "name\x00", "ünïcode", "a" * 201,
])
def test_dev_mailbox_refuses_ids_that_are_not_a_plain_file_stem(tmp_path: Path,
                                                                bad_id: str) -> None:
    (tmp_path / "secret.eml").write_bytes(make_message(subject="secret").as_bytes())
    box = DevMailbox(tmp_path / "devmail")
    box.send(make_message())
    assert box.get_message(bad_id) is None


def test_dev_mailbox_clear_deletes_every_message(tmp_path: Path) -> None:
    box = DevMailbox(tmp_path)
    box.send(make_message())
    box.send(make_message())
    box.clear()
    assert box.list_messages() == []


def test_memory_mailer_keeps_messages_sent_from_many_threads() -> None:
    mailer = MemoryMailer()

    def send_some() -> None:
        for _ in range(25):
            mailer.send(make_message())

    threads = [threading.Thread(target=send_some) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(mailer.outbox) == 100


def test_failing_mailer_fails_the_first_sends_then_delivers() -> None:
    error = MailerError("451 later", permanent=False, code=451)
    mailer = FailingMailer(error, fail_times=2)
    for _ in range(2):
        with pytest.raises(MailerError) as excinfo:
            mailer.send(make_message())
        assert excinfo.value is error
    mailer.send(make_message())
    assert (mailer.attempts, len(mailer.outbox)) == (3, 1)


def test_failing_mailer_without_a_limit_always_fails() -> None:
    mailer = FailingMailer()
    for _ in range(3):
        with pytest.raises(MailerError):
            mailer.send(make_message())
    assert mailer.outbox == []


# ---- the registry ---------------------------------------------------------------------------

SMTP_DEFAULTS = {"username": None, "password": None, "starttls": False, "ssl": False,
                 "timeout": 10.0, "verify": True}


@pytest.mark.parametrize(("url", "expected"), [
    ("smtp://mail.example.com", {"host": "mail.example.com", "port": 25}),
    ("smtp://mail.example.com:587?starttls=true&timeout=2.5",
     {"port": 587, "starttls": True, "timeout": 2.5}),
    ("smtp://us%40er:p%40ss%3Aw%2Frd%25@mail.example.com:2525?verify=false",
     {"username": "us@er", "password": "p@ss:w/rd%", "port": 2525, "verify": False}),
    ("SMTP://[::1]:2525?starttls=FALSE", {"host": "::1", "port": 2525}),
    ("smtps://user:secret@mail.example.com",
     {"port": 465, "ssl": True, "username": "user", "password": "secret"}),
    ("smtps://mail.example.com:2465?timeout=3&verify=0",
     {"port": 2465, "ssl": True, "timeout": 3.0, "verify": False}),
])
def test_smtp_urls_configure_the_smtp_mailer(url: str, expected: dict[str, Any]) -> None:
    mailer = create_mailer(url)
    assert isinstance(mailer, SMTPMailer)
    wanted = {**SMTP_DEFAULTS, **expected}
    assert {name: getattr(mailer, name) for name in wanted} == wanted


@pytest.mark.parametrize(("url", "kind", "directory"), [
    ("console://", ConsoleMailer, None),
    ("memory://", MemoryMailer, None),
    ("file://{tmp}/out%20box", FileMailer, "out box"),
    ("devmail://", DevMailbox, "instance/devmail"),
    ("devmail://{tmp}/elsewhere", DevMailbox, "elsewhere"),
])
def test_local_urls_build_local_backends(tmp_path: Path, url: str, kind: type,
                                         directory: str | None) -> None:
    mailer = create_mailer(url.format(tmp=tmp_path), instance_path=str(tmp_path / "instance"))
    assert type(mailer) is kind
    if directory is not None:
        assert mailer.directory == tmp_path / directory  # type: ignore[attr-defined]


class RecordingMailer(BaseMailer):
    def __init__(self) -> None:
        self.sent: list[EmailMessage] = []

    def send(self, message: EmailMessage) -> None:
        self.sent.append(message)


class SendOnly:
    def __init__(self) -> None:
        self.sent: list[EmailMessage] = []

    def send(self, message: EmailMessage) -> None:
        self.sent.append(message)


class NotAMailer:
    pass


class NeedsArguments(BaseMailer):
    def __init__(self, host: str) -> None:
        self.host = host


def test_a_dotted_path_names_a_third_party_mailer() -> None:
    assert isinstance(create_mailer("tests.test_mailers:RecordingMailer"), RecordingMailer)


def test_a_send_only_third_party_mailer_still_works_in_a_with_block() -> None:
    mailer = create_mailer("tests.test_mailers:SendOnly")
    with mailer:
        mailer.send(make_message())
    assert len(mailer.wrapped.sent) == 1  # type: ignore[attr-defined]


@pytest.mark.parametrize("url", [
    "", "smtp", "ftp://mail.example.com", "smtp://", "smtp://:25", "smtp:mail.example.com",
    "smtp://mail.example.com:port", "smtp://mail.example.com:99999", "smtp://mail.example.com/x",
    "smtp://mail.example.com?tls=true", "smtp://mail.example.com?starttls=maybe",
    "smtp://mail.example.com?timeout=0", "smtp://mail.example.com?timeout=soon",
    "smtp://mail.example.com?starttls=true&starttls=false", "smtp://:secret@mail.example.com",
    "smtps://mail.example.com?starttls=true", "console://somewhere", "memory://?size=1",
    "file://relative/dir", "file://", "devmail:relative", "devmail://",
    "tests.no_such_module:Mailer", "tests.test_mailers:NoSuchClass",
    "tests.test_mailers:NotAMailer", "tests.test_mailers:NeedsArguments",
    "newsletter_service.mailers:ACCEPTED_FORMS",
])
def test_bad_mailer_urls_are_refused_naming_the_accepted_forms(url: str) -> None:
    with pytest.raises(ValueError, match="Accepted forms: smtp://"):
        create_mailer(url)  # devmail:// too: no instance_path given


@pytest.mark.parametrize("url", ["smpt://user:hunter2@mail.example.com",
                                 "smtp://user:hunter2@mail.example.com?tls=1"])
def test_url_errors_never_show_the_password(url: str) -> None:
    with pytest.raises(ValueError) as excinfo:
        create_mailer(url)
    assert "hunter2" not in str(excinfo.value)
    assert "user:***@mail.example.com" in str(excinfo.value)
