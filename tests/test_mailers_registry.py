"""The mailer registry: URLs build backends, dotted paths name third-party mailers."""

from __future__ import annotations

from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest

from newsletter_service.mailers import (
    BaseMailer,
    ConsoleMailer,
    DevMailbox,
    FileMailer,
    MemoryMailer,
    SMTPMailer,
    create_mailer,
)
from tests.factories import make_message

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
    assert isinstance(create_mailer("tests.test_mailers_registry:RecordingMailer"), RecordingMailer)


def test_a_send_only_third_party_mailer_still_works_in_a_with_block() -> None:
    mailer = create_mailer("tests.test_mailers_registry:SendOnly")
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
    "tests.no_such_module:Mailer", "tests.test_mailers_registry:NoSuchClass",
    "tests.test_mailers_registry:NotAMailer", "tests.test_mailers_registry:NeedsArguments",
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
