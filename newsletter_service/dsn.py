"""Read RFC 3464 delivery status notifications: which recipients failed, and for good?"""

from __future__ import annotations

import email
import email.policy
from dataclasses import dataclass
from email.message import Message


@dataclass(frozen=True)
class RecipientStatus:
    """One recipient's fate as a DSN reports it."""

    recipient: str
    action: str  # failed, delayed, delivered, relayed, expanded
    status: str  # e.g. 5.1.1
    diagnostic: str | None = None

    @property
    def permanent_failure(self) -> bool:
        """Tell whether the address should get no more mail: a 5.x.x failure."""
        return self.status.startswith("5.") and self.action in ("failed", "")


def parse_dsn(data: bytes) -> list[RecipientStatus]:
    """Return the per-recipient statuses of every delivery-status part of ``data``."""
    message = email.message_from_bytes(data, policy=email.policy.default)
    found: list[RecipientStatus] = []
    for part in message.walk():
        if part.get_content_type() != "message/delivery-status":
            continue
        blocks = part.get_payload()
        if not isinstance(blocks, list):
            continue
        # The first block is about the message; each further one is about one recipient.
        for block in blocks[1:]:
            if not isinstance(block, Message):
                continue
            status = _recipient_status(block)
            if status is not None:
                found.append(status)
    return found


def _recipient_status(block: Message) -> RecipientStatus | None:
    recipient = _address(block.get("Final-Recipient")) or _address(
        block.get("Original-Recipient"))
    status = _clean(block.get("Status")).split(" ")[0]
    if not recipient or not status[:1].isdigit():
        return None
    return RecipientStatus(recipient=recipient, action=_clean(block.get("Action")).lower(),
                           status=status, diagnostic=_clean(block.get("Diagnostic-Code")) or None)


def _address(value: object) -> str:
    """Return the address of a ``rfc822; user@example.com`` field."""
    text = _clean(value)
    kind, _, address = text.partition(";")
    if not address:
        return ""
    if kind.strip().lower() not in ("rfc822", "utf-8"):
        return ""
    return address.strip().strip("<>").strip()


def _clean(value: object) -> str:
    return " ".join(str(value).split()) if value is not None else ""
