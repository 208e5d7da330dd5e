"""The mailer interface: the Protocol, its error, and a base class for backends."""

from __future__ import annotations

import email.errors
from email.message import EmailMessage
from types import TracebackType
from typing import Protocol, Self

ACCEPTED_FORMS = (
    "smtp://[user:pass@]host[:port][?starttls=true&timeout=10&verify=false], "
    "smtps://[user:pass@]host[:port][?timeout=10&verify=false], "
    "console://, file:///absolute/dir, memory://, devmail:// or devmail:///absolute/dir, "
    "package.module:Class"
)


class MailerError(Exception):
    """A message could not be handed over; ``permanent`` says whether retrying is pointless."""

    def __init__(self, message: str, *, permanent: bool = False, code: int | None = None) -> None:
        super().__init__(message)
        self.permanent = permanent
        self.code = code


class Mailer(Protocol):
    """What the outbox worker needs from a mail transport."""

    def send(self, message: EmailMessage) -> None:
        """Deliver one message or raise MailerError."""

    def open(self) -> None:
        """Acquire what a batch of sends shares, such as an SMTP connection."""

    def close(self) -> None:
        """Release what open() acquired; safe to call twice."""

    def __enter__(self) -> Mailer:
        """Open for a batch."""

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        """Close after a batch."""


class BaseMailer:
    """Give a backend no-op open/close and ``with mailer:`` batching."""

    def send(self, message: EmailMessage) -> None:
        """Deliver one message or raise MailerError."""
        raise NotImplementedError

    def open(self) -> None:
        """Do nothing: this backend holds no connection."""

    def close(self) -> None:
        """Do nothing: this backend holds no connection."""

    def __enter__(self) -> Self:
        self.open()
        return self

    def __exit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()


def _require_envelope(message: EmailMessage) -> None:
    """Refuse, for good, a message that names no sender or no recipient."""
    if not (message["From"] or message["Sender"]):
        raise MailerError("malformed message: no From header", permanent=True)
    if not any(message[name] for name in ("To", "Cc", "Bcc")):
        raise MailerError("malformed message: no To, Cc or Bcc header", permanent=True)


def _flatten(message: EmailMessage) -> bytes:
    """Return the message's bytes, refusing for good one that cannot be written out."""
    # Every backend checks this, so a test on MemoryMailer catches what SMTP would refuse.
    _require_envelope(message)
    try:
        return message.as_bytes()
    except (ValueError, LookupError, email.errors.MessageError) as error:
        raise MailerError(f"malformed message: {error}", permanent=True) from error
