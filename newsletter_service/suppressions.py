"""Suppressions: addresses that get no email from us (bounced, complained, or set by hand).

Kept apart from ``suppressed_addresses`` (erased readers, which imports may not add back
but who may sign up again on a form): a suppression stops every email, whatever the
reader does, until an admin removes it. It is checked by the address's hash, as erasure
keeps it; the address itself is kept too, for the console, until the reader is erased.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from . import suppression_list
from .addresses import normalize_address
from .consent import ConsentOrigin, mark_unsubscribed
from .dsn import parse_dsn
from .models import Subscriber, Subscription, Suppression, SuppressionReason
from .privacy import suppression_key

log = logging.getLogger(__name__)
COMPLAINT_ORIGIN = ConsentOrigin(source="complaint")


@dataclass
class DsnReport:
    """What one delivery status notification did."""

    suppressed: list[str] = field(default_factory=list)
    ignored: list[str] = field(default_factory=list)  # transient failures, deliveries


def add(session: Session, email: str, reason: SuppressionReason | str,
        detail: str | None = None) -> bool:
    """Suppress ``email``; a complaint also unsubscribes it everywhere. True if new."""
    address = normalize_address(email)
    created = suppress(session, address.email, address.key, SuppressionReason(reason), detail)
    session.commit()
    return created


def suppress(session: Session, email: str, key: str, reason: SuppressionReason,
             detail: str | None = None) -> bool:
    """Suppress the address in the caller's transaction (no commit); True if new."""
    created = suppression_list.record(session, email, key, reason, detail)
    if reason is SuppressionReason.complaint:
        if not created:  # a complaint outranks an earlier bounce or manual entry
            session.execute(update(Suppression)
                            .where(Suppression.key_hash == suppression_key(key))
                            .values(reason=reason))
        _unsubscribe_everywhere(session, key)
    log.info("suppressed an address (%s)", reason.value)
    return created


def remove(session: Session, email: str) -> bool:
    """Lift the suppression of ``email``; True if there was one."""
    key = normalize_address(email).key
    removed = session.execute(delete(Suppression)
                              .where(Suppression.key_hash == suppression_key(key))
                              .returning(Suppression.id)).first() is not None
    session.commit()
    return removed


def all_suppressions(session: Session) -> list[Suppression]:
    """Return every suppression, newest first."""
    return list(session.scalars(select(Suppression).order_by(Suppression.id.desc())))


def ingest_dsn(session: Session, data: bytes) -> DsnReport:
    """Suppress each recipient a DSN reports as failed for good (5.x.x); ignore the rest."""
    report = DsnReport()
    for status in parse_dsn(data):
        if not status.permanent_failure:
            report.ignored.append(status.recipient)
            continue
        try:
            address = normalize_address(status.recipient)
        except ValueError:
            report.ignored.append(status.recipient)
            continue
        detail = f"DSN {status.status}: {status.diagnostic or status.action}"
        suppress(session, address.email, address.key, SuppressionReason.bounce, detail)
        report.suppressed.append(address.email)
    session.commit()
    return report


def _unsubscribe_everywhere(session: Session, key: str) -> None:
    found = session.scalars(
        select(Subscription).join(Subscription.subscriber)
        .where(Subscriber.email_key == key).order_by(Subscription.id)
        .with_for_update(of=Subscription))
    mark_unsubscribed(session, list(found), COMPLAINT_ORIGIN)
