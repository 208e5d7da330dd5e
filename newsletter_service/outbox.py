"""The transactional outbox: emails queued with the change that caused them, sent later.

``enqueue`` adds a row inside the caller's transaction. ``deliver_pending`` claims a
batch (``FOR UPDATE SKIP LOCKED`` on PostgreSQL, serialized writes on SQLite), leases it
to this worker, sends it over one mailer connection and records each result. A worker
that dies leaves its lease to expire, and the next worker sends what it had not.
"""

from __future__ import annotations

import email
import email.policy
import logging
import random
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email.message import EmailMessage
from email.utils import parseaddr
from functools import lru_cache

from sqlalchemy import or_, select, update
from sqlalchemy.orm import Session, sessionmaker

from .mailers import Mailer, MailerError
from .models import OutboxMessage, OutboxStatus, utcnow

log = logging.getLogger(__name__)
# The From header of a stored message, folded lines and all (enqueue writes CRLF lines).
_FROM_HEADER = re.compile(rb"^From:[ \t]*(.*?)\r\n(?![ \t])", re.MULTILINE | re.DOTALL | re.I)

MAX_ERROR_LENGTH = 2000
# Results are committed this many at a time: a commit per message would cost more than
# the send. A worker killed between two commits re-sends at most these (at-least-once;
# each message keeps its Message-ID, so a receiver can tell a repeat).
COMMIT_EVERY = 20


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how patiently a failing message is retried."""

    max_attempts: int = 8
    backoff_seconds: float = 30.0
    lease_seconds: float = 300.0

    def next_attempt(self, attempts: int, now: datetime) -> datetime:
        """Return when to try again after ``attempts`` failures: doubling, with jitter."""
        delay = self.backoff_seconds * 2 ** (attempts - 1)
        return now + timedelta(seconds=delay * random.uniform(0.8, 1.2))


@dataclass
class DeliveryReport:
    """What one call of ``deliver_pending`` did."""

    sent: int = 0
    retrying: int = 0
    failed: int = 0
    errors: list[str] = field(default_factory=list)

    @property
    def claimed(self) -> int:
        return self.sent + self.retrying + self.failed


def enqueue(session: Session, message: EmailMessage, *, kind: str,
            subscriber_id: int | None = None, subscription_id: int | None = None) -> OutboxMessage:
    """Queue ``message`` in the caller's transaction; the caller commits."""
    row = OutboxMessage(
        kind=kind,
        subscriber_id=subscriber_id,
        subscription_id=subscription_id,
        recipient=message["To"].addresses[0].addr_spec,  # the envelope's; one To per email
        message=message.as_bytes(policy=email.policy.SMTPUTF8),
    )
    session.add(row)
    return row


def deliver_pending(sessions: sessionmaker[Session], mailer: Mailer, *, worker_id: str,
                    batch_size: int = 100, policy: RetryPolicy | None = None,
                    should_stop: Callable[[], bool] = lambda: False) -> DeliveryReport:
    """Send one batch of due messages and record each outcome.

    ``should_stop`` is asked before each message; when it answers True the rest of
    the batch goes back to the queue at once.
    """
    policy = policy or RetryPolicy()
    report = DeliveryReport()
    claimed = _claim(sessions, worker_id, batch_size, policy)
    if not claimed:
        return report
    sent: list[int] = []
    with sessions() as session:
        try:
            for position, (row_id, recipient, raw) in enumerate(claimed):
                if should_stop():
                    _release(session, [c[0] for c in claimed[position:]], worker_id)
                    break
                try:
                    _send(mailer, recipient, raw)
                except MailerError as error:
                    _record_failure(session, row_id, error, policy, report)
                    if not error.permanent:
                        # The server is unwell: hand the rest back instead of
                        # waiting out a timeout per message.
                        _release(session, [c[0] for c in claimed[position + 1:]], worker_id)
                        break
                else:
                    sent.append(row_id)
                    report.sent += 1
                if (position + 1) % COMMIT_EVERY == 0:
                    _record_sent(session, sent, worker_id)
        finally:
            _record_sent(session, sent, worker_id)
            mailer.close()
    return report


def _claim(sessions: sessionmaker[Session], worker_id: str, batch_size: int,
           policy: RetryPolicy) -> list[tuple[int, str, bytes]]:
    now = utcnow()
    with sessions() as session:
        due = (
            select(OutboxMessage.id)
            .where(OutboxMessage.status == OutboxStatus.pending,
                   OutboxMessage.next_attempt_at <= now,
                   or_(OutboxMessage.claimed_until.is_(None),
                       OutboxMessage.claimed_until < now))
            .order_by(OutboxMessage.id)
            .limit(batch_size)
            .with_for_update(skip_locked=True)
        )
        ids = list(session.scalars(due))
        if not ids:
            session.rollback()
            return []
        session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id.in_(ids))
            .values(claimed_by=worker_id,
                    claimed_until=now + timedelta(seconds=policy.lease_seconds))
        )
        rows = session.execute(
            select(OutboxMessage.id, OutboxMessage.recipient, OutboxMessage.message)
            .where(OutboxMessage.id.in_(ids)).order_by(OutboxMessage.id)
        ).all()
        session.commit()
    return [(row_id, recipient, raw) for row_id, recipient, raw in rows]


def _send(mailer: Mailer, recipient: str, raw: bytes) -> None:
    """Send the stored bytes as they are where the mailer can, else as a parsed message."""
    send_raw = getattr(mailer, "send_raw", None)
    if send_raw is None:
        mailer.send(_parse(raw))
        return
    headers = raw.split(b"\r\n\r\n", 1)[0]
    found = _FROM_HEADER.search(headers)
    send_raw(raw, _address_in(found.group(1) if found else b""), [recipient])


@lru_cache(maxsize=256)
def _address_in(from_header: bytes) -> str:
    # Every email of a newsletter has the same From: parse it once, not per message.
    return parseaddr(from_header.decode("utf-8", "replace").replace("\r\n", ""))[1]


def _parse(raw: bytes) -> EmailMessage:
    message = email.message_from_bytes(raw, policy=email.policy.SMTPUTF8)
    assert isinstance(message, EmailMessage)
    return message


def _release(session: Session, ids: list[int], worker_id: str) -> None:
    if ids:
        session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id.in_(ids), OutboxMessage.claimed_by == worker_id)
            .values(claimed_until=None)
        )


def _record_sent(session: Session, row_ids: list[int], worker_id: str) -> None:
    """Mark the sent messages in one statement and commit with any failures recorded."""
    if row_ids:
        session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id.in_(row_ids), OutboxMessage.claimed_by == worker_id)
            .values(status=OutboxStatus.sent, sent_at=utcnow(), claimed_until=None,
                    attempts=OutboxMessage.attempts + 1, last_error=None)
        )
        row_ids.clear()
    session.commit()


def _record_failure(session: Session, row_id: int, error: MailerError, policy: RetryPolicy,
                    report: DeliveryReport) -> None:
    row = session.get(OutboxMessage, row_id)
    if row is None:  # erased meanwhile
        return
    row.attempts += 1
    row.last_error = str(error)[:MAX_ERROR_LENGTH]
    row.claimed_until = None
    gave_up = error.permanent or row.attempts >= policy.max_attempts
    if gave_up:
        row.status = OutboxStatus.failed
        report.failed += 1
    else:
        row.next_attempt_at = policy.next_attempt(row.attempts, utcnow())
        report.retrying += 1
    report.errors.append(f"message {row_id}: {row.last_error}")
    log.warning("outbox message %s: %s (attempt %s%s)", row_id, row.last_error, row.attempts,
                ", giving up" if gave_up else "")
