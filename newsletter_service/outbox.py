"""The transactional outbox: emails queued with the change that caused them, sent later.

``enqueue`` adds a row inside the caller's transaction. ``deliver_pending`` claims a
batch (``FOR UPDATE SKIP LOCKED`` on PostgreSQL, serialized writes on SQLite), leases it
to this worker, sends it over one mailer connection and records each result. A worker
that dies leaves its lease to expire, and the next worker sends what it had not.
"""

from __future__ import annotations

import logging
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from email.message import EmailMessage

from sqlalchemy import func, or_, select, update
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

from . import suppression_list
from .domain_ceiling import defer_over_ceiling
from .mailers import Mailer, MailerError
from .models import OutboxMessage, OutboxStatus, Subscriber, SuppressionReason, utcnow

log = logging.getLogger(__name__)

MAX_ERROR_LENGTH = 2000
# Results are committed this many at a time: a commit per message would cost more than
# the send. A worker killed between two commits re-sends at most these (at-least-once;
# each message keeps its Message-ID, so a receiver can tell a repeat).
COMMIT_EVERY = 20
# A database that does not answer (down, cut off, or SQLite locked past its busy timeout).
DATABASE_DOWN = (OperationalError, InterfaceError)


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how patiently a failing message is retried."""

    max_attempts: int = 8
    backoff_seconds: float = 30.0
    lease_seconds: float = 300.0
    confirmations_per_domain_hour: int | None = None  # more wait (domain_ceiling.py)

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

    def add_failure(self, row_id: int, error: str, attempts: int, gave_up: bool) -> None:
        """Count and log a recorded failure."""
        if gave_up:
            self.failed += 1
        else:
            self.retrying += 1
        self.errors.append(f"message {row_id}: {error}")
        log.warning("outbox message %s: %s (attempt %s%s)", row_id, error, attempts,
                    ", giving up" if gave_up else "")


@dataclass(frozen=True)
class RenderedEmail:
    """An email's bytes, ready for the outbox, and its envelope: to whom, from whom."""

    raw: bytes
    recipient: str
    sender: str | None

    @classmethod
    def of(cls, message: EmailMessage) -> RenderedEmail:
        """Serialize a built message: its own policy, the CRLF line ends SMTP sends."""
        raw = message.as_bytes(policy=message.policy.clone(linesep="\r\n"))
        sender = message["From"].addresses[0].addr_spec if message["From"] else None
        return cls(raw, message["To"].addresses[0].addr_spec, sender)


def enqueue(session: Session, rendered: RenderedEmail, *, kind: str,
            subscriber_id: int | None = None, subscription_id: int | None = None) -> OutboxMessage:
    """Queue an email in the caller's transaction; the caller commits."""
    row = OutboxMessage(kind=kind, subscriber_id=subscriber_id, subscription_id=subscription_id,
                        recipient=rendered.recipient, sender=rendered.sender, message=rendered.raw)
    session.add(row)
    return row


def deliver_pending(sessions: sessionmaker[Session], mailer: Mailer, *, worker_id: str,
                    batch_size: int = 100, policy: RetryPolicy | None = None,
                    should_stop: Callable[[], bool] = lambda: False,
                    pause: Callable[[float], bool] | None = None) -> DeliveryReport:
    """Send one batch of due messages and record each outcome.

    No transaction is open while a message is sent: outcomes wait in memory and are
    recorded ``COMMIT_EVERY`` at a time in short transactions of their own, so a slow
    relay never holds SQLite's write lock. ``should_stop`` is asked before each message;
    when it answers True the rest of the batch goes back to the queue at once. With
    ``pause`` (wait up to N seconds; True when asked to stop), outcomes that the database
    cannot take right now are recorded when it answers again, rather than lost.
    """
    policy = policy or RetryPolicy()
    report = DeliveryReport()
    claimed = _claim(sessions, worker_id, batch_size, policy)
    if not claimed:
        return report
    outcomes = _Outcomes()
    try:
        for position, (row_id, recipient, sender, raw) in enumerate(claimed):
            if should_stop():
                outcomes.released += [c[0] for c in claimed[position:]]
                break
            try:
                # The stored bytes as they are; a backend that cannot send bytes parses them.
                mailer.send_raw(raw, sender or "", [recipient])
            except MailerError as error:
                outcomes.failed.append((row_id, error))
                if not error.permanent:
                    # The server is unwell: hand the rest back instead of
                    # waiting out a timeout per message.
                    outcomes.released += [c[0] for c in claimed[position + 1:]]
                    break
            else:
                outcomes.sent.append(row_id)
                report.sent += 1
            if len(outcomes) >= COMMIT_EVERY:
                _record(sessions, outcomes, worker_id, policy, report, pause)
    finally:
        mailer.close()
        _record(sessions, outcomes, worker_id, policy, report, pause)
    return report


def retry_delays(first: float = 1.0, longest: float = 30.0) -> Iterator[float]:
    """Yield the waits between attempts to reach the database: 1 s, doubling, at most 30 s."""
    delay = first
    while True:
        yield delay
        delay = min(delay * 2, longest)


@dataclass
class _Outcomes:
    """What happened to claimed messages since the last record: kept out of any transaction."""

    sent: list[int] = field(default_factory=list)
    failed: list[tuple[int, MailerError]] = field(default_factory=list)
    released: list[int] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.sent) + len(self.failed) + len(self.released)


def _record(sessions: sessionmaker[Session], outcomes: _Outcomes, worker_id: str,
            policy: RetryPolicy, report: DeliveryReport,
            pause: Callable[[float], bool] | None) -> None:
    """Record ``outcomes`` in one short transaction; wait out a database outage if we may."""
    if not len(outcomes):
        return
    delays = retry_delays()
    while True:
        try:
            with sessions.begin() as session:
                _record_sent(session, outcomes.sent, worker_id)
                failures = [_record_failure(session, row_id, error, policy)
                            for row_id, error in outcomes.failed]
                _release(session, outcomes.released, worker_id)
            break
        except DATABASE_DOWN as error:
            delay = next(delays)
            if pause is None or pause(delay):
                raise
            log.warning("database unavailable (%s): recording %s outcomes in %s s",
                        error.orig or error, len(outcomes), delay)
    for failure in failures:
        if failure is not None:
            report.add_failure(*failure)
    outcomes.sent.clear()
    outcomes.failed.clear()
    outcomes.released.clear()


def _claim(sessions: sessionmaker[Session], worker_id: str, batch_size: int,
           policy: RetryPolicy) -> list[tuple[int, str, str | None, bytes]]:
    now = utcnow()
    with sessions() as session:
        due = (
            select(OutboxMessage.id)
            .where(OutboxMessage.status == OutboxStatus.pending,
                   OutboxMessage.endpoint_id.is_(None),  # emails: webhooks have their batch
                   OutboxMessage.next_attempt_at <= now,
                   or_(OutboxMessage.claimed_until.is_(None),
                       OutboxMessage.claimed_until < now))
            # In ix_outbox_due's order: the due rows are read from the index, the first
            # batch_size of them, however many sent rows or later retries the table holds.
            .order_by(OutboxMessage.next_attempt_at, OutboxMessage.id)
            .limit(batch_size)
            .with_for_update(skip_locked=True)
        )
        ids = _drop_suppressed(session, list(session.scalars(due)))
        ids = defer_over_ceiling(session, ids, policy.confirmations_per_domain_hour, now)
        if not ids:
            session.commit()
            return []
        session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id.in_(ids))
            .values(claimed_by=worker_id,
                    claimed_until=now + timedelta(seconds=policy.lease_seconds))
        )
        rows = session.execute(
            select(OutboxMessage.id, OutboxMessage.recipient, OutboxMessage.sender,
                   OutboxMessage.message)
            .where(OutboxMessage.id.in_(ids)).order_by(OutboxMessage.id)
        ).all()
        session.commit()
    return [(row_id, recipient, sender, raw) for row_id, recipient, sender, raw in rows]


def _drop_suppressed(session: Session, ids: list[int]) -> list[int]:
    """Fail the claimed emails to suppressed addresses; return the ids still to send."""
    if not ids:
        return ids
    keys = dict(session.execute(
        select(OutboxMessage.id, func.coalesce(Subscriber.email_key,
                                               func.lower(OutboxMessage.recipient)))
        .outerjoin(Subscriber, Subscriber.id == OutboxMessage.subscriber_id)
        .where(OutboxMessage.id.in_(ids))).all())
    reasons = suppression_list.reasons_for(session, list(keys.values()))
    for row_id, key in keys.items():
        if key in reasons:
            session.execute(update(OutboxMessage).where(OutboxMessage.id == row_id)
                            .values(status=OutboxStatus.failed,
                                    last_error=f"suppressed: {reasons[key].value}"))
    return [row_id for row_id in ids if keys.get(row_id) not in reasons]


def _release(session: Session, ids: list[int], worker_id: str) -> None:
    if ids:
        session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id.in_(ids), OutboxMessage.claimed_by == worker_id)
            .values(claimed_until=None)
        )


def _record_sent(session: Session, row_ids: list[int], worker_id: str) -> None:
    """Mark the sent messages in one statement."""
    if row_ids:
        session.execute(
            update(OutboxMessage)
            .where(OutboxMessage.id.in_(row_ids), OutboxMessage.claimed_by == worker_id)
            .values(status=OutboxStatus.sent, sent_at=utcnow(), claimed_until=None,
                    attempts=OutboxMessage.attempts + 1, last_error=None)
        )


def _record_failure(session: Session, row_id: int, error: MailerError,
                    policy: RetryPolicy) -> tuple[int, str, int, bool] | None:
    """Count the failed attempt; return (id, error, attempts, gave up), None if erased."""
    row = session.get(OutboxMessage, row_id)
    if row is None:  # erased meanwhile
        return None
    row.attempts += 1
    row.last_error = str(error)[:MAX_ERROR_LENGTH]
    row.claimed_until = None
    gave_up = error.permanent or row.attempts >= policy.max_attempts
    if error.permanent and error.recipient_refused:
        # Our own relay refused the address for good (5xx to RCPT TO): a bounce.
        subscriber = session.get(Subscriber, row.subscriber_id) if row.subscriber_id else None
        suppression_list.record(session, row.recipient,
                                subscriber.email_key if subscriber else row.recipient.lower(),
                                SuppressionReason.bounce, row.last_error)
    if gave_up:
        row.status = OutboxStatus.failed
    else:
        row.next_attempt_at = policy.next_attempt(row.attempts, utcnow())
    return row_id, row.last_error, row.attempts, gave_up
