"""The use cases of a reader: subscribe, confirm, unsubscribe.

Each use case takes the session first and commits once. Uniqueness is left to the
database (``INSERT ... ON CONFLICT DO NOTHING``), so simultaneous signups of one
address make one subscription, and the confirmation throttle (confirmations.py, read
from the outbox in the same transaction) lets at most one of them send an email.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from flask import current_app
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from . import confirmation_codes, emails, links, outbox, webhooks
from .addresses import Address
from .confirmations import (
    WELCOME_KIND,
    load_subscriptions,
    may_send_confirmation,
    queue_confirmation,
    read_confirm_token,
)
from .consent import ConsentOrigin, consent_version_shown, mark_unsubscribed, record
from .db import insert_for, rows_changed
from .models import (
    ConfirmMethod,
    ConsentEventKind,
    Newsletter,
    Subscriber,
    Subscription,
    SubscriptionStatus,
    utcnow,
)
from .tokens import (
    InvalidToken,
    Purpose,
    TokenClaims,
    lasting_token_maker,
    make_lasting_token,
    read_lasting_token,
)


@dataclass(frozen=True)
class Signup:
    """What the reader entered, already validated."""

    address: Address
    name: str | None = None
    consent: bool = False


@dataclass(frozen=True)
class LinkOutcome:
    """What following a link found or did."""

    subscriptions: list[Subscription]
    changed: bool  # False: it had been done before

    @property
    def newsletters(self) -> list[Newsletter]:
        return [s.newsletter for s in self.subscriptions]


def subscribe(session: Session, newsletters: list[Newsletter], signup: Signup,
              origin: ConsentOrigin) -> None:
    """Sign a reader up; answer the same whatever they were before (nobody learns it)."""
    sign_up(session, newsletters, signup, origin)
    session.commit()


def sign_up(session: Session, newsletters: list[Newsletter], signup: Signup,
            origin: ConsentOrigin) -> None:
    """Do what ``subscribe`` does in the caller's transaction (no commit): one of a batch."""
    subscriber_id, _ = _ensure_subscriber(session, signup.address)
    needs_email: list[Subscription] = []
    resending: list[Subscription] = []
    for newsletter in newsletters:
        subscription, created = _ensure_subscription(session, subscriber_id, newsletter, signup)
        if created or subscription.status is SubscriptionStatus.unsubscribed:
            # An opt-out stands until the new opt-in is confirmed: the subscription stays
            # unsubscribed, and only the link this signup sends can turn it confirmed.
            _ask_consent(subscription, newsletter, signup)
            record(session, subscription, ConsentEventKind.subscribed, origin)
            webhooks.emit(session, webhooks.CREATED, subscription)
            needs_email.append(subscription)
        elif subscription.status is SubscriptionStatus.pending:
            needs_email.append(subscription)
            resending.append(subscription)
    # New readers too: a mail bomb signs up new variants of one mailbox (victim+1@...).
    if needs_email and may_send_confirmation(session, subscriber_id, needs_email):
        queue_confirmation(session, needs_email, signup.address.email)
        for subscription in resending:
            record(session, subscription, ConsentEventKind.confirmation_resent, origin)


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


def _ask_consent(subscription: Subscription, newsletter: Newsletter, signup: Signup) -> None:
    if subscription.status is SubscriptionStatus.unsubscribed:
        subscription.token_version += 1  # a new opt-in: new links, the old ones die
    subscription.consent_given = signup.consent
    subscription.consent_version = consent_version_shown(newsletter)
    if signup.name is not None:
        subscription.name = signup.name


def read_confirm_link(session: Session, token: str) -> tuple[LinkOutcome, TokenClaims]:
    """Return what a confirm link is for, changing nothing (GET and HEAD land here)."""
    subscriptions, claims = read_confirm_token(session, token)
    waiting = any(_awaits_confirmation(s) for s in subscriptions)
    return LinkOutcome(subscriptions, changed=waiting), claims


def confirm(session: Session, token: str, origin: ConsentOrigin,
            method: ConfirmMethod = ConfirmMethod.link) -> LinkOutcome:
    """Confirm every subscription the link names; confirming twice changes nothing."""
    subscriptions, _ = read_confirm_token(session, token, lock=True)
    return _confirm_all(session, subscriptions, origin, method)


def confirm_with_code(session: Session, address: Address, code: str,
                      origin: ConsentOrigin) -> LinkOutcome:
    """Confirm what the email with this code was for; raise WrongCode (always the same)."""
    subscriptions = confirmation_codes.redeem(session, address, code)
    return _confirm_all(session, subscriptions, origin, ConfirmMethod.code)


def _confirm_all(session: Session, subscriptions: list[Subscription], origin: ConsentOrigin,
                 method: ConfirmMethod) -> LinkOutcome:
    changed = False
    for subscription in subscriptions:
        if not _awaits_confirmation(subscription):
            continue
        subscription.status = SubscriptionStatus.confirmed
        subscription.confirmed_at = utcnow()
        record(session, subscription, ConsentEventKind.confirmed, origin, method=method)
        webhooks.emit(session, webhooks.CONFIRMED, subscription)
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
    if claims.issued_at is None:  # a lasting token: no age to judge by
        return False
    delay = timedelta(seconds=current_app.config["ONE_CLICK_CONFIRM_DELAY"])
    old_enough = utcnow() - claims.issued_at >= delay
    return old_enough and outcome.changed and all(n.one_click_confirm for n in outcome.newsletters)


def read_unsubscribe_link(session: Session, token: str) -> LinkOutcome:
    """Return what an unsubscribe link is for, changing nothing."""
    subscriptions = _unsubscribe_targets(session, token)
    active = any(s.status is not SubscriptionStatus.unsubscribed for s in subscriptions)
    return LinkOutcome(subscriptions, changed=active)


def unsubscribe(session: Session, token: str, origin: ConsentOrigin) -> LinkOutcome:
    """Unsubscribe; the link keeps working, and a second use changes nothing."""
    return unsubscribe_subscriptions(session, _unsubscribe_targets(session, token, lock=True),
                                     origin)


def unsubscribe_subscriptions(session: Session, subscriptions: list[Subscription],
                              origin: ConsentOrigin) -> LinkOutcome:
    """Unsubscribe these (the link, the console and the API all end here); idempotent.

    Confirm links mailed before stop working (``token_version`` moves on); unsubscribe
    links keep working, so a second use changes nothing.
    """
    changed = mark_unsubscribed(session, subscriptions, origin)
    session.commit()
    return LinkOutcome(subscriptions, changed)


def unsubscribe_token(subscription: Subscription) -> str:
    """Return the lasting unsubscribe token of a subscription (for emails and exports).

    The same in every email and export, and it never expires: the link in any old issue
    must still unsubscribe (RFC 8058). Erasing the reader revokes it with the subscription.
    Its version is always 0: ``token_version`` moves on with opt-outs and new signups,
    which revoke confirm links, never unsubscribe links.
    """
    return make_lasting_token(links.signing_key(), Purpose.unsubscribe, [(subscription.id, 0)])


def unsubscribe_token_maker() -> Callable[[int], str]:
    """Return ``f(subscription_id)`` making the same tokens, one derived key for many rows."""
    make = lasting_token_maker(links.signing_key(), Purpose.unsubscribe)
    return lambda subscription_id: make([(subscription_id, 0)])


def purge_unconfirmed(session: Session, older_than_days: int) -> int:
    """Delete pending subscriptions older than the given age; return how many.

    Their events go with them (ON DELETE CASCADE), and so do readers left with no
    subscription at all: no consent, no personal data kept.
    """
    cutoff = utcnow() - timedelta(days=older_than_days)
    purged = rows_changed(session, delete(Subscription).where(
        Subscription.status == SubscriptionStatus.pending, Subscription.created_at < cutoff))
    session.execute(delete(Subscriber).where(~Subscriber.subscriptions.any()))
    session.commit()
    return int(purged or 0)


def _queue_welcome(session: Session, subscription: Subscription) -> None:
    url = links.unsubscribe_url(unsubscribe_token(subscription))
    reader = subscription.subscriber
    rendered = emails.welcome_bytes(subscription.newsletter, reader.email, url,
                                    links.manage_url(reader.manage_token))
    outbox.enqueue(session, rendered, kind=WELCOME_KIND,
                   subscriber_id=subscription.subscriber_id, subscription_id=subscription.id)


def _unsubscribe_targets(session: Session, token: str, lock: bool = False) -> list[Subscription]:
    claims = read_lasting_token(links.signing_key(), Purpose.unsubscribe, token)
    found = load_subscriptions(session, claims.subscription_ids, lock)
    if not found:
        raise InvalidToken("unknown subscription")
    return found
