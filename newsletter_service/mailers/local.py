"""Backends that deliver nowhere real: console, files, the dev mailbox, memory, failing."""

from __future__ import annotations

import re
import sys
import threading
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from pathlib import Path
from typing import IO

from .base import BaseMailer, MailerError, _flatten


class ConsoleMailer(BaseMailer):
    """Print each message, for development without a mail server."""

    SEPARATOR = "-" * 79

    def __init__(self, stream: IO[str] | None = None) -> None:
        self.stream = stream
        self._lock = threading.Lock()

    def send(self, message: EmailMessage) -> None:
        """Write the message and a separator line to the stream (stdout by default)."""
        _flatten(message)
        # Look stdout up late so that pytest's capture and redirects see the output.
        stream = self.stream or sys.stdout
        with self._lock:
            stream.write(f"{message.as_string()}\n{self.SEPARATOR}\n")
            stream.flush()


class FileMailer(BaseMailer):
    """Write each message to ``<directory>/<timestamp>-<uuid>.eml``."""

    def __init__(self, directory: str | Path) -> None:
        self.directory = Path(directory)
        self._lock = threading.Lock()
        self._last_stamp = datetime.min.replace(tzinfo=UTC)

    def send(self, message: EmailMessage) -> None:
        """Write the message as an .eml file, creating the directory if need be."""
        data = _flatten(message)
        name = f"{self._next_stamp():%Y%m%dT%H%M%S%fZ}-{uuid.uuid4().hex}"
        temporary = self.directory / f".{name}.tmp"
        try:
            self.directory.mkdir(parents=True, exist_ok=True)
            temporary.write_bytes(data)
            # Rename into place so that a reader never sees half a message.
            temporary.replace(self.directory / f"{name}.eml")
        except OSError as error:
            temporary.unlink(missing_ok=True)
            raise MailerError(f"cannot write {name}.eml in {self.directory}: {error}",
                              permanent=False) from error

    def _next_stamp(self) -> datetime:
        # Strictly increasing, so that names sort in sending order even within a microsecond.
        with self._lock:
            now = datetime.now(UTC)
            self._last_stamp = max(now, self._last_stamp + timedelta(microseconds=1))
            return self._last_stamp


@dataclass(frozen=True)
class DevMail:
    """One message in the dev mailbox, ready for a template."""

    id: str
    subject: str
    to: str
    from_: str
    date: datetime
    text: str
    html: str | None


_SAFE_ID = re.compile(r"[A-Za-z0-9_-]{1,200}")


class DevMailbox(FileMailer):
    """A FileMailer that can list and show what it wrote, for ``make run``."""

    def list_messages(self) -> list[DevMail]:
        """Return the stored messages, newest first."""
        if not self.directory.is_dir():
            return []
        paths = sorted(self.directory.glob("*.eml"), key=lambda path: path.stem, reverse=True)
        mails = (self._read(path) for path in paths if _SAFE_ID.fullmatch(path.stem))
        return [mail for mail in mails if mail is not None]

    def get_message(self, id: str) -> DevMail | None:
        """Return the message with this id, or None (also for anything but a plain file stem)."""
        if not _SAFE_ID.fullmatch(id):  # no separators, no dots: no way out of the directory
            return None
        return self._read(self.directory / f"{id}.eml")

    def clear(self) -> None:
        """Delete every stored message."""
        for path in self.directory.glob("*.eml"):
            path.unlink(missing_ok=True)

    @staticmethod
    def _read(path: Path) -> DevMail | None:
        try:
            with path.open("rb") as file:
                message = BytesParser(policy=policy.default).parse(file)
            modified = datetime.fromtimestamp(path.stat().st_mtime, UTC)
        except (FileNotFoundError, IsADirectoryError):  # cleared meanwhile, or not ours
            return None
        date_header = message["Date"]
        html = message.get_body(preferencelist=("html",))
        return DevMail(
            id=path.stem,
            subject=str(message["Subject"] or ""),
            to=str(message["To"] or ""),
            from_=str(message["From"] or ""),
            date=getattr(date_header, "datetime", None) or modified,
            text=_body_text(message.get_body(preferencelist=("plain",))),
            html=_body_text(html) if html is not None else None,
        )


def _body_text(part: object) -> str:
    if not isinstance(part, EmailMessage):
        return ""
    try:
        return str(part.get_content())
    except (LookupError, ValueError):  # unknown charset or broken encoding: show what we can
        payload = part.get_payload(decode=True)
        return payload.decode("utf-8", "replace") if isinstance(payload, bytes) else ""


class MemoryMailer(BaseMailer):
    """Keep sent messages in ``outbox``, for tests."""

    def __init__(self) -> None:
        self.outbox: list[EmailMessage] = []
        self._lock = threading.Lock()

    def send(self, message: EmailMessage) -> None:
        """Append the message to the outbox."""
        _flatten(message)
        with self._lock:
            self.outbox.append(message)


class FailingMailer(BaseMailer):
    """Fail the first ``fail_times`` sends (every send if None), then deliver to ``outbox``."""

    def __init__(self, error: MailerError | None = None, fail_times: int | None = None) -> None:
        self.error = error or MailerError("simulated delivery failure", permanent=False)
        self.fail_times = fail_times
        self.attempts = 0
        self.outbox: list[EmailMessage] = []
        self._lock = threading.Lock()

    def send(self, message: EmailMessage) -> None:
        """Raise the configured error, or deliver once the failures are used up."""
        with self._lock:
            self.attempts += 1
            if self.fail_times is not None and self.attempts > self.fail_times:
                _flatten(message)
                self.outbox.append(message)
                return
        raise self.error.with_traceback(None)  # a fresh traceback per failure, not a growing one
