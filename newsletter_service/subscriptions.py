"""The use cases of a reader: subscribe, confirm, unsubscribe, ask for a new link.

Each use case takes the session first and commits once. Uniqueness is left to the
database (``INSERT ... ON CONFLICT DO NOTHING``), so simultaneous signups of one
address make one subscription, and the confirmation throttle (read from the outbox
in the same transaction) lets at most one of them send an email.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from flask import current_app
from sqlalchemy import delete, func, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from . import emails, links, outbox
from .addresses import Address
from .models import (
    ConsentEvent,
    ConsentEventKind,
    Newsletter,
    OutboxMessage,
    Subscriber,
    Subscription,
    SubscriptionStatus,
    utcnow,
)
from .tokens import (
    ExpiredToken,
    InvalidToken,
    Purpose,
    TokenClaims,
    lasting_token_maker,
    make_lasting_token,
    make_token,
    read_lasting_token,
    read_token,
)

CONFIRM_KIND = "confirm"
WELCOME_KIND = "welcome"


class UnknownNewsletter(LookupError):
    """No active newsletter has that slug."""


@dataclass(frozen=True)
class Signup:
    """What the reader entered, already validated."""

    address: Address
    name: str | None = None
    consent: bool = False


@dataclass(frozen=True)
class Origin:
    """Where a request came from: kept as proof of consent."""

    ip: str | None = None
    user_agent: str | None = None
    source: str | None = None


@dataclass(frozen=True)
class LinkOutcome:
    """What following a link found or did."""

    subscriptions: list[Subscription]
    changed: bool  # False: it had been done before

    @property
    def newsletters(self) -> list[Newsletter]:
        return [s.newsletter for s in self.subscriptions]


def find_newsletter(session: Session, slug: str) -> Newsletter:
    """Return the active newsletter called ``slug`` or raise UnknownNewsletter."""
    newsletter = session.scalar(
        select(Newsletter).where(Newsletter.slug == slug, Newsletter.is_active)
    )
    if newsletter is None:
        raise UnknownNewsletter(slug)
    return newsletter


def public_newsletters(session: Session) -> list[Newsletter]:
    """Return the newsletters shown on the index page, oldest first."""
    query = select(Newsletter).where(Newsletter.is_active, Newsletter.is_public)
    return list(session.scalars(query.order_by(Newsletter.id)))


def subscribe(session: Session, newsletters: list[Newsletter], signup: Signup,
              origin: Origin) -> None:
    """Sign a reader up; answer the same whatever they were before (nobody learns it)."""
    subscriber_id, new_reader = _ensure_subscriber(session, signup.address)
    needs_email: list[Subscription] = []
    resending: list[Subscription] = []
    for newsletter in newsletters:
        subscription, created = _ensure_subscription(session, subscriber_id, newsletter, signup)
        if created or subscription.status is SubscriptionStatus.unsubscribed:
            # An opt-out stands until the new opt-in is confirmed: the subscription stays
            # unsubscribed, and only the link this signup sends can turn it confirmed.
            _ask_consent(subscription, newsletter, signup)
            _record(session, subscription, ConsentEventKind.subscribed, origin)
            needs_email.append(subscription)
        elif subscription.status is SubscriptionStatus.pending:
            needs_email.append(subscription)
            resending.append(subscription)
    # A reader created just now has no email in the outbox: nothing to throttle.
    if needs_email and (new_reader or may_send_confirmation(session, subscriber_id,
                                                            needs_email)):
        queue_confirmation(session, needs_email, signup.address.email)
        for subscription in resending:
            _record(session, subscription, ConsentEventKind.confirmation_resent, origin)
    session.commit()


def _ensure_subscriber(session: Session, address: Address) -> tuple[int, bool]:
    """Return the reader's id, and whether this call created the reader."""
    insert = insert_for(session)
    statement = (
        insert(Subscriber)
        .values(email=address.email, email_key=address.key, created_at=utcnow())
        .on_conflict_do_nothing(index_elements=["email_key"])
        .returning(Subscriber.id)
    )
    created_id = session.scalar(statement)
    if created_id is not None:
        return created_id, True
    # Lock the reader's row: simultaneous signups of one reader then pass the confirmation
    # throttle one after the other, each seeing the emails the one before queued. (SQLite
    # has no row locks and needs none: BEGIN IMMEDIATE serializes every write.)
    subscriber_id = session.scalar(
        select(Subscriber.id).where(Subscriber.email_key == address.key).with_for_update())
    assert subscriber_id is not None
    return subscriber_id, False


def _ensure_subscription(session: Session, subscriber_id: int, newsletter: Newsletter,
                         signup: Signup) -> tuple[Subscription, bool]:
    insert = insert_for(session)
    statement = (
        insert(Subscription)
        .values(subscriber_id=subscriber_id, newsletter_id=newsletter.id,
                status=SubscriptionStatus.pending, name=signup.name, token_version=1,
                consent_given=False, created_at=utcnow())
        .on_conflict_do_nothing(index_elements=["subscriber_id", "newsletter_id"])
        .returning(Subscription.id)
    )
    created = session.execute(statement).first() is not None
    subscription = session.scalars(
        select(Subscription)
        .where(Subscription.subscriber_id == subscriber_id,
               Subscription.newsletter_id == newsletter.id)
        .execution_options(populate_existing=True)
    ).one()
    return subscription, created


def insert_for(session: Session):  # type: ignore[no-untyped-def]
    # Both dialects speak ON CONFLICT; SQLAlchemy spells it per dialect.
    return postgresql.insert if session.get_bind().dialect.name == "postgresql" else sqlite.insert


def _ask_consent(subscription: Subscription, newsletter: Newsletter, signup: Signup) -> None:
    if subscription.status is SubscriptionStatus.unsubscribed:
        subscription.token_version += 1  # a new opt-in: new links, the old ones die
    subscription.consent_given = signup.consent
    subscription.consent_version = newsletter.consent_version if newsletter.consent_text else None
    if signup.name is not None:
        subscription.name = signup.name


def may_send_confirmation(session: Session, subscriber_id: int,
                           subscriptions: list[Subscription]) -> bool:
    """Allow a confirmation email unless one went out lately or too many today."""
    config = current_app.config
    now = utcnow()
    sent = select(OutboxMessage).where(OutboxMessage.subscriber_id == subscriber_id,
                                       OutboxMessage.kind == CONFIRM_KIND)
    today = session.scalar(
        select(func.count()).select_from(
            sent.where(OutboxMessage.created_at > now - timedelta(days=1)).subquery()
        )
    )
    if today is not None and today >= config["CONFIRM_MAX_PER_DAY"]:
        return False
    latest = session.scalar(
        select(OutboxMessage.created_at)
        .where(OutboxMessage.subscriber_id == subscriber_id,
               OutboxMessage.kind == CONFIRM_KIND,
               OutboxMessage.subscription_id.in_([s.id for s in subscriptions]))
        .order_by(OutboxMessage.created_at.desc())
        .limit(1)
    )
    cooldown = timedelta(seconds=config["CONFIRM_RESEND_COOLDOWN"])
    return latest is None or latest <= now - cooldown


def queue_confirmation(session: Session, subscriptions: list[Subscription], to: str) -> None:
    token = make_token(_keys(), Purpose.confirm,
                       [(s.id, s.token_version) for s in subscriptions])
    newsletters = [s.newsletter for s in subscriptions]
    message = emails.confirmation_email(newsletters[0], to, links.confirm_url(token), newsletters)
    first = subscriptions[0]
    outbox.enqueue(session, message, kind=CONFIRM_KIND, subscriber_id=first.subscriber_id,
                   subscription_id=first.id)


def _record(session: Session, subscription: Subscription, kind: ConsentEventKind,
            origin: Origin) -> None:
    newsletter = subscription.newsletter
    session.add(ConsentEvent(
        subscription=subscription, kind=kind, at=utcnow(),
        ip=origin.ip, user_agent=(origin.user_agent or "")[:512] or None,
        source=(origin.source or "")[:2048] or subscription.source,
        consent_text=newsletter.consent_text, consent_version=subscription.consent_version,
    ))
    if kind is ConsentEventKind.subscribed and origin.source:
        subscription.source = origin.source[:2048]


def read_confirm_link(session: Session, token: str) -> tuple[LinkOutcome, TokenClaims]:
    """Return what a confirm link is for, changing nothing (GET and HEAD land here)."""
    claims = read_token(_keys(), Purpose.confirm, token,
                        max_age=current_app.config["CONFIRM_MAX_AGE"])
    subscriptions = _current_subscriptions(session, claims)
    waiting = any(_awaits_confirmation(s) for s in subscriptions)
    return LinkOutcome(subscriptions, changed=waiting), claims


def confirm(session: Session, token: str, origin: Origin) -> LinkOutcome:
    """Confirm every subscription the link names; confirming twice changes nothing."""
    claims = read_token(_keys(), Purpose.confirm, token,
                        max_age=current_app.config["CONFIRM_MAX_AGE"])
    subscriptions = _current_subscriptions(session, claims, lock=True)
    changed = False
    for subscription in subscriptions:
        if not _awaits_confirmation(subscription):
            continue
        subscription.status = SubscriptionStatus.confirmed
        subscription.confirmed_at = utcnow()
        _record(session, subscription, ConsentEventKind.confirmed, origin)
        if subscription.newsletter.send_welcome:
            _queue_welcome(session, subscription)
        changed = True
    session.commit()
    return LinkOutcome(subscriptions, changed)


def _awaits_confirmation(subscription: Subscription) -> bool:
    """Tell whether a current confirm link (its version checked) may confirm ``subscription``.

    An opt-out bumps ``token_version``, so a current link to an unsubscribed subscription
    was sent after it, for a new signup: confirming it is the new opt-in.
    """
    return subscription.status is not SubscriptionStatus.confirmed


def confirms_on_open(outcome: LinkOutcome, claims: TokenClaims) -> bool:
    """Tell whether opening the link (GET) may confirm: one-click newsletters, after a delay.

    Mail servers' link scanners open links in the first minutes after delivery; a
    reader rarely does.
    """
    delay = timedelta(seconds=current_app.config["ONE_CLICK_CONFIRM_DELAY"])
    old_enough = utcnow() - claims.issued_at >= delay
    return old_enough and outcome.changed and all(n.one_click_confirm for n in outcome.newsletters)


def resend_confirmation(session: Session, expired: ExpiredToken, origin: Origin) -> None:
    """Send a fresh confirm link for an expired one, under the usual throttle."""
    resend(session, _current_subscriptions(session, expired.claims), origin)


def resend(session: Session, subscriptions: list[Subscription], origin: Origin) -> bool:
    """Queue one new confirmation for those still pending, under the throttle; True if sent."""
    pending = [s for s in subscriptions if s.status is SubscriptionStatus.pending]
    subscriber = pending[0].subscriber if pending else None
    sent = subscriber is not None and may_send_confirmation(session, subscriber.id, pending)
    if sent:
        assert subscriber is not None
        queue_confirmation(session, pending, subscriber.email)
        for subscription in pending:
            _record(session, subscription, ConsentEventKind.confirmation_resent, origin)
    session.commit()
    return sent


def read_unsubscribe_link(session: Session, token: str) -> LinkOutcome:
    """Return what an unsubscribe link is for, changing nothing."""
    subscriptions = _unsubscribe_targets(session, token)
    active = any(s.status is not SubscriptionStatus.unsubscribed for s in subscriptions)
    return LinkOutcome(subscriptions, changed=active)


def unsubscribe(session: Session, token: str, origin: Origin) -> LinkOutcome:
    """Unsubscribe; the link keeps working, and a second use changes nothing."""
    return unsubscribe_subscriptions(session, _unsubscribe_targets(session, token, lock=True),
                                     origin)


def unsubscribe_subscriptions(session: Session, subscriptions: list[Subscription],
                              origin: Origin) -> LinkOutcome:
    """Unsubscribe these (the link, the console and the API all end here); idempotent.

    Confirm links mailed before stop working (``token_version`` moves on); unsubscribe
    links keep working, so a second use changes nothing.
    """
    changed = False
    for subscription in subscriptions:
        if subscription.status is SubscriptionStatus.unsubscribed:
            continue
        subscription.status = SubscriptionStatus.unsubscribed
        subscription.unsubscribed_at = utcnow()
        subscription.token_version += 1  # earlier confirm links stop working
        _record(session, subscription, ConsentEventKind.unsubscribed, origin)
        changed = True
    session.commit()
    return LinkOutcome(subscriptions, changed)


def unsubscribe_token(subscription: Subscription) -> str:
    """Return the lasting unsubscribe token of a subscription (for emails and exports).

    The same in every email and export, and it never expires: the link in any old issue
    must still unsubscribe (RFC 8058). Erasing the reader revokes it with the subscription.
    Its version is always 0: ``token_version`` moves on with opt-outs and new signups,
    which revoke confirm links, never unsubscribe links.
    """
    return make_lasting_token(_keys(), Purpose.unsubscribe, [(subscription.id, 0)])


def unsubscribe_token_maker() -> Callable[[int], str]:
    """Return ``f(subscription_id)`` making the same tokens, one derived key for many rows."""
    make = lasting_token_maker(_keys(), Purpose.unsubscribe)
    return lambda subscription_id: make([(subscription_id, 0)])


def purge_unconfirmed(session: Session, older_than_days: int) -> int:
    """Delete pending subscriptions older than the given age; return how many.

    Their events go with them (ON DELETE CASCADE), and so do readers left with no
    subscription at all: no consent, no personal data kept.
    """
    cutoff = utcnow() - timedelta(days=older_than_days)
    purged = session.execute(
        delete(Subscription).where(Subscription.status == SubscriptionStatus.pending,
                                   Subscription.created_at < cutoff)
    ).rowcount
    session.execute(delete(Subscriber).where(~Subscriber.subscriptions.any()))
    session.commit()
    return int(purged or 0)


def _queue_welcome(session: Session, subscription: Subscription) -> None:
    url = links.unsubscribe_url(unsubscribe_token(subscription))
    message = emails.welcome_email(subscription.newsletter, subscription.subscriber.email, url)
    outbox.enqueue(session, message, kind=WELCOME_KIND,
                   subscriber_id=subscription.subscriber_id, subscription_id=subscription.id)


def _current_subscriptions(session: Session, claims: TokenClaims,
                           lock: bool = False) -> list[Subscription]:
    """Return the subscriptions a confirm token names, if none was re-issued since."""
    found = _load(session, claims.subscription_ids, lock)
    wanted = dict(zip(claims.subscription_ids, claims.versions, strict=True))
    if len(found) != len(wanted) or any(s.token_version != wanted[s.id] for s in found):
        raise InvalidToken("superseded")
    return found


def _unsubscribe_targets(session: Session, token: str, lock: bool = False) -> list[Subscription]:
    claims = read_lasting_token(_keys(), Purpose.unsubscribe, token)
    found = _load(session, claims.subscription_ids, lock)
    if not found:
        raise InvalidToken("unknown subscription")
    return found


def _load(session: Session, ids: tuple[int, ...], lock: bool) -> list[Subscription]:
    query = select(Subscription).where(Subscription.id.in_(ids)).order_by(Subscription.id)
    if lock:
        query = query.with_for_update(of=Subscription)
    return list(session.scalars(query))


def _keys() -> str:
    return str(current_app.config["SECRET_KEY"])
