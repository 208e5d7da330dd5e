"""GDPR: everything held about one reader (art. 15/20), and erasing it (art. 17).

Erasing deletes the subscriber, its subscriptions and consent events, and blanks the
address and message of its outbox rows. What stays is anonymous: per subscription a
tombstone with the newsletter, the status and the day-rounded dates (so the dashboard's
counts and chart do not change), and the SHA-256 of the address, so an import or the
API cannot quietly add the reader back. A reader who signs up again on a form may.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session, selectinload

from . import webhooks
from .db import insert_for
from .models import (
    ErasedSubscription,
    OutboxMessage,
    OutboxStatus,
    SignupRequest,
    Subscriber,
    Subscription,
    SuppressedAddress,
    Suppression,
    WebhookEndpoint,
    utcnow,
)

ERASED = "erased"


def suppression_key(email_key: str) -> str:
    """Return the hash kept of an erased address (its lower-cased normalized form)."""
    return hashlib.sha256(email_key.encode()).hexdigest()


def erase(session: Session, subscriber: Subscriber) -> None:
    """Delete everything personal about ``subscriber``, keeping anonymous counts."""
    subscriptions = list(session.scalars(
        select(Subscription).where(Subscription.subscriber_id == subscriber.id)
        .options(selectinload(Subscription.newsletter))
    ))
    email, key = subscriber.email, subscriber.email_key
    session.add_all([_tombstone(subscription) for subscription in subscriptions])
    session.flush()
    session.execute(
        update(OutboxMessage).where(OutboxMessage.subscriber_id == subscriber.id)
        .values(recipient=ERASED, message=b"", subscriber_id=None, subscription_id=None,
                status=OutboxStatus.failed, last_error=ERASED, claimed_until=None)
        .execution_options(synchronize_session=False)
    )
    session.execute(
        insert_for(session)(SuppressedAddress)
        .values(key_hash=suppression_key(subscriber.email_key), created_at=utcnow())
        .on_conflict_do_nothing(index_elements=["key_hash"])
    )
    # A suppression stays (by hash), without the address; the event carries it out once.
    session.execute(update(Suppression).where(Suppression.key_hash == suppression_key(key))
                    .values(email=None))
    webhooks.emit_erased(session, email, subscriptions)
    # A signup answered but not carried out yet (signup_queue.py) was made before: it goes too.
    session.execute(delete(SignupRequest).where(SignupRequest.email == email))
    # consent_events and subscriptions go with it: ON DELETE CASCADE.
    session.execute(delete(Subscriber).where(Subscriber.id == subscriber.id)
                    .execution_options(synchronize_session=False))
    session.expunge_all()  # the deleted rows' objects must not be used any more
    session.commit()


def _tombstone(subscription: Subscription) -> ErasedSubscription:
    return ErasedSubscription(
        newsletter_id=subscription.newsletter_id, status=subscription.status,
        created_at=_day(subscription.created_at), confirmed_at=_day(subscription.confirmed_at),
        unsubscribed_at=_day(subscription.unsubscribed_at), erased_at=_day(utcnow()),
    )


def _day(value: datetime | None) -> datetime | None:
    return value.replace(hour=0, minute=0, second=0, microsecond=0) if value else None


def personal_data(session: Session, subscriber: Subscriber) -> dict[str, Any]:
    """Return everything held about ``subscriber``, ready for ``json.dumps``."""
    loaded = session.scalars(
        select(Subscriber).where(Subscriber.id == subscriber.id).options(
            selectinload(Subscriber.subscriptions).selectinload(Subscription.events),
            selectinload(Subscriber.subscriptions).selectinload(Subscription.newsletter),
        )
    ).one()
    queued = session.execute(
        select(OutboxMessage.kind, OutboxMessage.status, OutboxMessage.created_at,
               OutboxMessage.sent_at, WebhookEndpoint.url)
        .outerjoin(WebhookEndpoint, WebhookEndpoint.id == OutboxMessage.endpoint_id)
        .where(OutboxMessage.subscriber_id == subscriber.id).order_by(OutboxMessage.id)
    ).all()
    return {
        "email": loaded.email,
        "created_at": _iso(loaded.created_at),
        "subscriptions": [_subscription(s) for s in loaded.subscriptions],
        "emails": [{"kind": kind, "status": status.value, "queued_at": _iso(at),
                    "sent_at": _iso(sent)}
                   for kind, status, at, sent, receiver in queued if receiver is None],
        # Who else was told about the reader (GDPR art. 15(1)(c)): webhook and sync events.
        "webhook_events": [{"kind": kind, "receiver": receiver, "status": status.value,
                            "queued_at": _iso(at), "sent_at": _iso(sent)}
                           for kind, status, at, sent, receiver in queued
                           if receiver is not None],
    }


def _subscription(subscription: Subscription) -> dict[str, Any]:
    return {
        "newsletter": subscription.newsletter.slug,
        "status": subscription.status.value,
        "name": subscription.name,
        "source": subscription.source,
        "consent_given": subscription.consent_given,
        "consent_version": subscription.consent_version,
        "created_at": _iso(subscription.created_at),
        "confirmed_at": _iso(subscription.confirmed_at),
        "unsubscribed_at": _iso(subscription.unsubscribed_at),
        "events": [{"kind": e.kind.value, "at": _iso(e.at), "ip": e.ip,
                    "user_agent": e.user_agent, "source": e.source,
                    "consent_text": e.consent_text, "consent_version": e.consent_version}
                   for e in subscription.events],
    }


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None
