"""Deliver queued webhook and sync events: their own batch, short timeouts, in order.

The worker runs this beside the email batch, never in its way: a receiver that is slow
costs one timeout per batch (its other deliveries wait for the next one), and one that
is down only delays its own events. A subscriber's events reach each endpoint in the
order they happened: a delivery waits while an earlier one for the same subscriber and
endpoint is pending. An endpoint failing for longer than ``pause_after`` is paused.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy import exists, or_, select, update
from sqlalchemy.orm import Session, aliased, sessionmaker
from standardwebhooks.webhooks import Webhook

from . import sync_listmonk
from .httpcalls import CallFailed, call, expect_success
from .models import OutboxMessage, OutboxStatus, WebhookEndpoint, utcnow
from .outbox import MAX_ERROR_LENGTH, DeliveryReport, RetryPolicy
from .webhooks import DELIVERY_KINDS, LISTMONK

log = logging.getLogger(__name__)
USER_AGENT = "newsletter-service-webhooks/1"


@dataclass(frozen=True)
class WebhookSettings:
    """How patient the webhook batch is."""

    timeout: float = 10.0
    pause_after: float = 3 * 24 * 3600.0
    batch_size: int = 50
    policy: RetryPolicy = field(default_factory=lambda: RetryPolicy(max_attempts=15))


@dataclass(frozen=True)
class _Claimed:
    row_id: int
    endpoint: WebhookEndpoint  # detached copy: read while sending, no session open
    webhook_id: str
    body: bytes


def deliver_webhooks(sessions: sessionmaker[Session], *, worker_id: str,
                     settings: WebhookSettings | None = None,
                     should_stop: Callable[[], bool] = lambda: False) -> DeliveryReport:
    """Deliver one batch of due events and record each outcome."""
    settings = settings or WebhookSettings()
    report = DeliveryReport()
    claimed = _claim(sessions, worker_id, settings)
    sent: list[_Claimed] = []
    failed: list[tuple[_Claimed, CallFailed]] = []
    released: list[int] = []
    slow: set[int] = set()
    for item in claimed:
        if should_stop() or item.endpoint.id in slow:
            released.append(item.row_id)  # back in the queue, no attempt counted
            continue
        try:
            _deliver(item, settings.timeout)
        except CallFailed as error:
            failed.append((item, error))
            if error.timed_out:
                slow.add(item.endpoint.id)  # one timeout per endpoint and batch is enough
        else:
            sent.append(item)
    with sessions.begin() as session:
        _record(session, sent, failed, released, worker_id, settings, report)
    return report


def _deliver(item: _Claimed, timeout: float) -> None:
    if item.endpoint.kind == LISTMONK:
        sync_listmonk.push(item.endpoint, json.loads(item.body), timeout=timeout)
        return
    assert item.endpoint.secret is not None
    now = utcnow()
    signature = Webhook(item.endpoint.secret).sign(item.webhook_id, now, item.body.decode())
    headers = {
        "Content-Type": "application/json", "User-Agent": USER_AGENT,
        "webhook-id": item.webhook_id, "webhook-timestamp": str(int(now.timestamp())),
        "webhook-signature": signature,
    }
    answer = call("POST", item.endpoint.url, body=item.body, headers=headers, timeout=timeout)
    expect_success(answer, "receiver")


def _claim(sessions: sessionmaker[Session], worker_id: str,
           settings: WebhookSettings) -> list[_Claimed]:
    now = utcnow()
    earlier = aliased(OutboxMessage)
    waits_for_earlier = exists().where(
        earlier.endpoint_id == OutboxMessage.endpoint_id,
        earlier.subscriber_id == OutboxMessage.subscriber_id,
        earlier.status == OutboxStatus.pending,
        earlier.id < OutboxMessage.id,
    )
    with sessions() as session:
        due = (
            select(OutboxMessage.id)
            .join(WebhookEndpoint, WebhookEndpoint.id == OutboxMessage.endpoint_id)
            .where(OutboxMessage.kind.in_(DELIVERY_KINDS),
                   OutboxMessage.status == OutboxStatus.pending,
                   OutboxMessage.next_attempt_at <= now,
                   or_(OutboxMessage.claimed_until.is_(None),
                       OutboxMessage.claimed_until < now),
                   WebhookEndpoint.paused_at.is_(None),
                   ~waits_for_earlier)
            # ix_outbox_due's order (as the emails' claim); a reader's events still go out
            # one after the other: a later one waits while an earlier one is pending.
            .order_by(OutboxMessage.next_attempt_at, OutboxMessage.id)
            .limit(settings.batch_size)
            .with_for_update(skip_locked=True, of=OutboxMessage)
        )
        ids = list(session.scalars(due))
        if not ids:
            session.rollback()
            return []
        lease = now + timedelta(seconds=settings.policy.lease_seconds)
        session.execute(update(OutboxMessage).where(OutboxMessage.id.in_(ids))
                        .values(claimed_by=worker_id, claimed_until=lease))
        rows = session.scalars(select(OutboxMessage).where(OutboxMessage.id.in_(ids))
                               .order_by(OutboxMessage.id)).all()
        endpoints = {e.id: e for e in session.scalars(select(WebhookEndpoint).where(
            WebhookEndpoint.id.in_({r.endpoint_id for r in rows})))}
        claimed = [_Claimed(r.id, endpoints[r.endpoint_id], r.webhook_id or "", r.message)
                   for r in rows if r.endpoint_id is not None]
        session.commit()
        session.expunge_all()
    return claimed


def _record(session: Session, sent: list[_Claimed], failed: list[tuple[_Claimed, CallFailed]],
            released: list[int], worker_id: str, settings: WebhookSettings,
            report: DeliveryReport) -> None:
    now = utcnow()
    for item in sent:
        values: dict[str, object] = {"status": OutboxStatus.sent, "sent_at": now,
                                     "claimed_until": None, "last_error": None,
                                     "attempts": OutboxMessage.attempts + 1}
        if item.body.startswith(b'{"type":"subscriber.erased"'):
            # Delivered: an erased reader's address need not be kept any longer.
            values.update(message=b"", recipient="erased")
        session.execute(update(OutboxMessage).where(OutboxMessage.id == item.row_id,
                                                    OutboxMessage.claimed_by == worker_id)
                        .values(**values))
        report.sent += 1
    for endpoint_id in {item.endpoint.id for item in sent}:
        session.execute(update(WebhookEndpoint).where(WebhookEndpoint.id == endpoint_id)
                        .values(failing_since=None, last_success_at=now))
    for item, error in failed:
        _record_failure(session, item, error, settings, now, report)
    if released:
        session.execute(update(OutboxMessage).where(OutboxMessage.id.in_(released),
                                                    OutboxMessage.claimed_by == worker_id)
                        .values(claimed_until=None))


def _record_failure(session: Session, item: _Claimed, error: CallFailed,
                    settings: WebhookSettings, now: datetime, report: DeliveryReport) -> None:
    row = session.get(OutboxMessage, item.row_id)
    if row is None or row.status is not OutboxStatus.pending:
        return  # removed or erased meanwhile
    row.attempts += 1
    row.last_error = str(error)[:MAX_ERROR_LENGTH]
    row.claimed_until = None
    gave_up = row.attempts >= settings.policy.max_attempts
    if gave_up:
        row.status = OutboxStatus.failed
    else:
        row.next_attempt_at = settings.policy.next_attempt(row.attempts, now)
    report.add_failure(row.id, row.last_error, row.attempts, gave_up)
    endpoint = session.get(WebhookEndpoint, item.endpoint.id)
    if endpoint is None:
        return
    if endpoint.failing_since is None:
        endpoint.failing_since = now
    elif (endpoint.paused_at is None
          and now - endpoint.failing_since >= timedelta(seconds=settings.pause_after)):
        endpoint.paused_at = now
        log.warning("endpoint %s failing since %s: paused", endpoint.id, endpoint.failing_since)
