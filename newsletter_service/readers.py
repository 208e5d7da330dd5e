"""The publisher's use cases on readers: find, page through, add one, resend, unsubscribe.

Pages are keyset-paginated on the subscription id (newest first): ``after`` is the last
id of the page before, so a page costs the same at row 50 and at row 500,000.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session, contains_eager, selectinload

from . import confirmations, imports, subscriptions
from .addresses import InvalidAddress, normalize_address
from .consent import ConsentOrigin
from .models import Newsletter, OutboxMessage, Subscriber, Subscription, SubscriptionStatus

PAGE_SIZE = 50
ADMIN_ORIGIN = "admin console"


@dataclass(frozen=True)
class SubscriberQuery:
    """What the console's subscriber list is filtered by."""

    text: str = ""  # part of the address
    newsletter_id: int | None = None
    status: SubscriptionStatus | None = None
    after: int | None = None  # the last subscription id of the previous page


@dataclass(frozen=True)
class AddReader:
    """One reader a publisher adds (API): unchecked values, and whether they opted in elsewhere."""

    email: str
    name: str | None = None
    source: str | None = None
    confirmed: bool = False


@dataclass(frozen=True)
class Added:
    """What adding a reader did: the subscription, and whether it is new."""

    subscription: Subscription
    created: bool


class AddressSuppressed(Exception):
    """The address was erased at its owner's request; it is not added back."""


@dataclass(frozen=True)
class Page:
    """One page of subscriptions, and the cursor of the next one (None: last page)."""

    items: list[Subscription]
    next_after: int | None


def search(session: Session, query: SubscriberQuery, size: int = PAGE_SIZE) -> Page:
    """Return a page of subscriptions matching ``query``, newest first."""
    statement = (select(Subscription).join(Subscription.subscriber)
                 .options(contains_eager(Subscription.subscriber),
                          selectinload(Subscription.newsletter)))
    if query.text.strip():
        statement = statement.where(
            Subscriber.email_key.contains(query.text.strip().lower(), autoescape=True))
    if query.newsletter_id is not None:
        statement = statement.where(Subscription.newsletter_id == query.newsletter_id)
    if query.status is not None:
        statement = statement.where(Subscription.status == query.status)
    if query.after is not None:
        statement = statement.where(Subscription.id < query.after)
    items = list(session.scalars(statement.order_by(Subscription.id.desc()).limit(size + 1)))
    next_after = items[size - 1].id if len(items) > size else None
    return Page(items[:size], next_after)


def get_subscriber(session: Session, subscriber_id: int) -> Subscriber | None:
    """Return a subscriber with its subscriptions, newsletters and consent events."""
    return session.scalars(
        select(Subscriber).where(Subscriber.id == subscriber_id).options(
            selectinload(Subscriber.subscriptions).selectinload(Subscription.events),
            selectinload(Subscriber.subscriptions).selectinload(Subscription.newsletter),
        )
    ).one_or_none()


def emails_of(session: Session, subscriber: Subscriber, limit: int = 20) -> list[OutboxMessage]:
    """Return the latest emails queued for a reader, newest first, with their delivery state.

    The reader's webhook and sync events share the outbox; they are no emails.
    """
    query = (select(OutboxMessage).where(OutboxMessage.subscriber_id == subscriber.id,
                                         OutboxMessage.endpoint_id.is_(None))
             .order_by(OutboxMessage.id.desc()).limit(limit))
    return list(session.scalars(query))


def find_by_address(session: Session, email: str) -> Subscriber | None:
    """Return the subscriber with this address (any case), if there is one."""
    try:
        key = normalize_address(email).key
    except InvalidAddress:
        return None
    return session.scalar(select(Subscriber).where(Subscriber.email_key == key))


def resend_confirmation(session: Session, subscriber: Subscriber, actor: str) -> bool:
    """Send one confirmation for the pending subscriptions, under the signup's throttle."""
    origin = ConsentOrigin(source=f"{ADMIN_ORIGIN}: {actor}")
    return confirmations.resend(session, subscriber.subscriptions, origin)


def unsubscribe(session: Session, subscription: Subscription, actor: str) -> bool:
    """Unsubscribe as the reader's link does, recording who did it; False: it was done."""
    origin = ConsentOrigin(source=f"{ADMIN_ORIGIN}: {actor}")
    return subscriptions.unsubscribe_subscriptions(session, [subscription], origin).changed


def find_subscription(session: Session, subscriber: Subscriber,
                      newsletter_id: int) -> Subscription | None:
    """Return the subscriber's subscription to one newsletter, if any."""
    return session.scalar(select(Subscription).where(
        Subscription.subscriber_id == subscriber.id,
        Subscription.newsletter_id == newsletter_id))


def add_reader(session: Session, newsletter: Newsletter, reader: AddReader, actor: str) -> Added:
    """Add one reader as an import row is added; raise imports.InvalidField or AddressSuppressed.

    An existing reader is not changed; a pending one is sent a confirmation under the throttle.
    """
    checked = imports.check_reader({"email": reader.email, "name": reader.name,
                                    "source": reader.source})
    report = imports.ImportReport()
    created = imports.import_batch(session, newsletter, [checked], confirmed=reader.confirmed,
                                   actor=actor, report=report)
    if report.suppressed:
        raise AddressSuppressed(checked.address.key)
    subscription = session.scalars(
        select(Subscription).join(Subscription.subscriber)
        .where(Subscriber.email_key == checked.address.key,
               Subscription.newsletter_id == newsletter.id)
    ).one()
    return Added(subscription, bool(created))
