"""The local mailers: console, file, the dev mailbox, memory and the failing one for retries."""

from __future__ import annotations

import io
import re
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from email import policy
from email.parser import BytesParser
from pathlib import Path

import pytest

from newsletter_service.mailers import (
    BaseMailer,
    ConsoleMailer,
    DevMailbox,
    FailingMailer,
    FileMailer,
    MailerError,
    MemoryMailer,
)
from tests.factories import make_message

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
