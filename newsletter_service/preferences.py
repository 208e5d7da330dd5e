"""The preference centre: one page per reader, every public newsletter, one Save.

The link carries the reader's own random ``manage_token``: it proves the address (it is
only ever mailed to it or handed to the publisher in an export), so a newsletter ticked
there is confirmed at once, without another confirmation email. It never expires, is the
same in every email and export, and dies with the reader's row when the reader is erased.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from . import webhooks
from .consent import ConsentOrigin, consent_version_shown, mark_unsubscribed, record
from .db import insert_for
from .models import (
    ConsentEventKind,
    Newsletter,
    Subscriber,
    Subscription,
    SubscriptionStatus,
    utcnow,
)
from .newsletters import public_newsletters
from .tokens import InvalidToken

# Recorded as the consent events' source: the reader chose in the preference centre.
SOURCE = "preferences"
MAX_TOKEN_LENGTH = 64


class UnknownChoice(ValueError):
    """The reader asked for a newsletter the centre does not offer; ``slug`` says which."""

    def __init__(self, slug: str) -> None:
        super().__init__(slug)
        self.slug = slug


@dataclass(frozen=True)
class Choice:
    """One newsletter offered in the centre, and whether the reader gets it."""

    newsletter: Newsletter
    subscribed: bool
    since: datetime | None = None  # when the reader confirmed it


@dataclass(frozen=True)
class Preferences:
    """A reader's choices, and the language of the newsletter they signed up for last."""

    email: str
    choices: list[Choice]
    language: str | None  # None: the reader has no subscription to take it from

    def as_json(self) -> dict[str, object]:
        """Return the contract's JSON answer."""
        return {"ok": True, "email": self.email, "newsletters": [
            {"slug": c.newsletter.slug, "name": c.newsletter.name, "subscribed": c.subscribed}
            for c in self.choices]}


def read_preferences(session: Session, token: str) -> Preferences:
    """Return the reader's current choices; change nothing (GET and HEAD land here)."""
    subscriber = _reader(session, token)
    return _preferences(session, subscriber)


def save_preferences(session: Session, token: str, wanted: Iterable[str], *,
                     ip: str | None = None, user_agent: str | None = None) -> Preferences:
    """Make the reader's subscriptions the ``wanted`` slugs among the offered newsletters.

    Newly ticked ones are confirmed at once; unticked ones are unsubscribed. Newsletters
    the centre does not show (not public) are left as they are.
    """
    subscriber = _reader(session, token, lock=True)
    offered = {n.slug: n for n in public_newsletters(session)}
    chosen = set(wanted)
    unknown = sorted(chosen - offered.keys())
    if unknown:
        raise UnknownChoice(unknown[0])
    origin = ConsentOrigin(ip=ip, user_agent=user_agent, source=SOURCE)
    current = _subscriptions(session, subscriber.id)
    for slug, newsletter in offered.items():
        subscription = current.get(newsletter.id)
        if slug in chosen and _status(subscription) is not SubscriptionStatus.confirmed:
            _confirm(session, subscriber, newsletter, subscription, origin)
        elif slug not in chosen and _status(subscription) not in (
                None, SubscriptionStatus.unsubscribed):
            assert subscription is not None
            mark_unsubscribed(session, [subscription], origin)  # events and webhooks too
    session.commit()
    return _preferences(session, subscriber)


def _reader(session: Session, token: str, lock: bool = False) -> Subscriber:
    if not token or len(token) > MAX_TOKEN_LENGTH:
        raise InvalidToken("not a preference token")
    query = select(Subscriber).where(Subscriber.manage_token == token)
    if lock:
        query = query.with_for_update()
    subscriber = session.scalar(query)
    if subscriber is None:
        raise InvalidToken("unknown reader")  # tampered, foreign, or the reader was erased
    return subscriber


def _preferences(session: Session, subscriber: Subscriber) -> Preferences:
    current = _subscriptions(session, subscriber.id)
    choices = [_choice(n, current.get(n.id)) for n in public_newsletters(session)]
    latest = max(current.values(), key=lambda s: (s.created_at, s.id), default=None)
    return Preferences(subscriber.email, choices,
                       latest.newsletter.language if latest is not None else None)


def _choice(newsletter: Newsletter, subscription: Subscription | None) -> Choice:
    if _status(subscription) is not SubscriptionStatus.confirmed:
        return Choice(newsletter, False)
    assert subscription is not None
    return Choice(newsletter, True, subscription.confirmed_at)


def _subscriptions(session: Session, subscriber_id: int) -> dict[int, Subscription]:
    found = session.scalars(select(Subscription).where(
        Subscription.subscriber_id == subscriber_id).execution_options(populate_existing=True))
    return {s.newsletter_id: s for s in found}


def _status(subscription: Subscription | None) -> SubscriptionStatus | None:
    return subscription.status if subscription is not None else None


def _confirm(session: Session, subscriber: Subscriber, newsletter: Newsletter,
             subscription: Subscription | None, origin: ConsentOrigin) -> None:
    if subscription is None:
        subscription = _create(session, subscriber, newsletter)
    if subscription.status is SubscriptionStatus.unsubscribed:
        subscription.token_version += 1  # a new opt-in: links mailed before die
    subscription.status = SubscriptionStatus.confirmed
    subscription.confirmed_at = utcnow()
    subscription.unsubscribed_at = None
    subscription.consent_given = True
    subscription.consent_version = consent_version_shown(newsletter)
    record(session, subscription, ConsentEventKind.confirmed, origin)
    webhooks.emit(session, webhooks.CONFIRMED, subscription)


def _create(session: Session, subscriber: Subscriber, newsletter: Newsletter) -> Subscription:
    # A signup of the same reader may create it meanwhile: the database keeps one.
    insert = insert_for(session)
    session.execute(
        insert(Subscription)
        .values(subscriber_id=subscriber.id, newsletter_id=newsletter.id,
                status=SubscriptionStatus.pending, token_version=1, consent_given=False,
                source=SOURCE, created_at=utcnow())
        .on_conflict_do_nothing(index_elements=["subscriber_id", "newsletter_id"]))
    return session.scalars(select(Subscription).where(
        Subscription.subscriber_id == subscriber.id,
        Subscription.newsletter_id == newsletter.id,
    ).execution_options(populate_existing=True)).one()
