"""The mailer interface: the Protocol, its error, and a base class for backends."""

from __future__ import annotations

import email
import email.errors
import email.policy
from collections.abc import Sequence
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

    def __init__(self, message: str, *, permanent: bool = False, code: int | None = None,
                 recipient_refused: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent
        self.code = code
        # The relay refused the recipient itself (RCPT TO), not the message or the session.
        self.recipient_refused = recipient_refused


class Mailer(Protocol):
    """What the app and the outbox worker use of a mail transport (as listmonk's messengers).

    ``send`` takes a message built in the process; ``send_raw`` the outbox's stored bytes
    with their envelope, sent as they are; ``close`` ends a batch (the worker calls it
    after each one, so a connection opened lazily by the first send is not kept idle).
    """

    def send(self, message: EmailMessage) -> None:
        """Deliver one message or raise MailerError."""

    def send_raw(self, data: bytes, sender: str, recipients: Sequence[str]) -> None:
        """Deliver rendered bytes from ``sender`` to ``recipients``, or raise MailerError."""

    def close(self) -> None:
        """Release what the sends acquired, such as a connection; safe to call twice."""


class BaseMailer:
    """Give a backend ``send_raw`` through ``send``, no-op open/close and ``with mailer:``."""

    def send(self, message: EmailMessage) -> None:
        """Deliver one message or raise MailerError."""
        raise NotImplementedError

    def send_raw(self, data: bytes, sender: str, recipients: Sequence[str]) -> None:
        """Parse the bytes and ``send`` them: backends that keep messages need no envelope."""
        self.send(parse_message(data))

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


def parse_message(data: bytes) -> EmailMessage:
    """Return the message stored as ``data`` (UTF-8 headers allowed)."""
    message = email.message_from_bytes(data, policy=email.policy.SMTPUTF8)
    assert isinstance(message, EmailMessage)
    return message


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
