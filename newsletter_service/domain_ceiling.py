"""A ceiling on confirmation emails per recipient domain and hour, for the whole service.

A mail bomb spread over many mailboxes of one provider still reaches that provider, and
its complaints count against our sending reputation there. Over the ceiling, the worker
defers the rest of that domain's confirmations (``next_attempt_at``, no attempt counted):
they wait, they are not dropped.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta

from sqlalchemy import func, or_, select, update
from sqlalchemy.orm import Session

from .models import OutboxMessage, OutboxStatus

CONFIRM_KIND = "confirm"  # confirmations.CONFIRM_KIND (the outbox imports no use case)
WINDOW = timedelta(hours=1)
MIN_DEFER = timedelta(seconds=60)


def defer_over_ceiling(session: Session, ids: list[int], ceiling: int | None,
                       now: datetime) -> list[int]:
    """Defer the claimed confirmations over their domain's hourly ceiling; return the rest."""
    if not ids or not ceiling:
        return ids
    claimed = session.execute(
        select(OutboxMessage.id, OutboxMessage.recipient_domain)
        .where(OutboxMessage.id.in_(ids), OutboxMessage.kind == CONFIRM_KIND,
               OutboxMessage.recipient_domain.is_not(None))
        .order_by(OutboxMessage.id)).all()
    by_domain: dict[str, list[int]] = defaultdict(list)
    for row_id, domain in claimed:
        if domain is not None:  # the query asked for none; this tells the type checker
            by_domain[domain].append(row_id)
    deferred: list[int] = []
    for domain, row_ids in by_domain.items():
        room = max(0, ceiling - _used(session, domain, ids, now))
        if len(row_ids) > room:
            later = row_ids[room:]
            session.execute(update(OutboxMessage).where(OutboxMessage.id.in_(later))
                            .values(next_attempt_at=_next_slot(session, domain, now)))
            deferred += later
    return [row_id for row_id in ids if row_id not in set(deferred)]


def _used(session: Session, domain: str, claiming: list[int], now: datetime) -> int:
    """Count this domain's confirmations sent in the last hour, or in another worker's hands."""
    return int(session.scalar(
        select(func.count()).select_from(OutboxMessage).where(
            OutboxMessage.recipient_domain == domain, OutboxMessage.kind == CONFIRM_KIND,
            OutboxMessage.id.not_in(claiming),
            or_(OutboxMessage.sent_at > now - WINDOW,
                (OutboxMessage.status == OutboxStatus.pending)
                & (OutboxMessage.claimed_until > now)))) or 0)


def _next_slot(session: Session, domain: str, now: datetime) -> datetime:
    """Return when the oldest send of the window leaves it (a minute from now at the least)."""
    oldest = session.scalar(
        select(func.min(OutboxMessage.sent_at)).where(
            OutboxMessage.recipient_domain == domain, OutboxMessage.kind == CONFIRM_KIND,
            OutboxMessage.sent_at > now - WINDOW))
    return max(now + MIN_DEFER, oldest + WINDOW) if oldest is not None else now + MIN_DEFER
