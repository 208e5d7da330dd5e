"""Proof of consent: where a request came from, the event that records it, and the opt-out.

Every way a reader leaves (link, console, API, preference centre, not-me, a complaint)
ends in ``mark_unsubscribed``, so each records its event and tells the sending system.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.orm import Session

from . import webhooks
from .models import (
    ConfirmMethod,
    ConsentEvent,
    ConsentEventKind,
    Newsletter,
    Subscription,
    SubscriptionStatus,
    utcnow,
)

MAX_USER_AGENT = 512
MAX_SOURCE = 2048


@dataclass(frozen=True)
class ConsentOrigin:
    """Where a request came from: kept as proof of consent."""

    ip: str | None = None
    user_agent: str | None = None
    source: str | None = None

    @property
    def kept_user_agent(self) -> str | None:
        """Return the user agent as stored: at most ``MAX_USER_AGENT`` characters, or None."""
        return (self.user_agent or "")[:MAX_USER_AGENT] or None

    @property
    def kept_source(self) -> str | None:
        """Return the source as stored: at most ``MAX_SOURCE`` characters, or None."""
        return (self.source or "")[:MAX_SOURCE] or None


def consent_version_shown(newsletter: Newsletter) -> int | None:
    """Return the version of the consent text a form of ``newsletter`` shows (None: none)."""
    return newsletter.consent_version if newsletter.consent_text else None


def record(session: Session, subscription: Subscription, kind: ConsentEventKind,
           origin: ConsentOrigin, method: ConfirmMethod | None = None) -> None:
    """Add a consent event to ``subscription`` (committed by the calling use case)."""
    newsletter = subscription.newsletter
    session.add(ConsentEvent(
        method=method,
        subscription=subscription, kind=kind, at=utcnow(),
        ip=origin.ip, user_agent=origin.kept_user_agent,
        source=origin.kept_source or subscription.source,
        consent_text=newsletter.consent_text, consent_version=subscription.consent_version,
    ))
    if kind is ConsentEventKind.subscribed and origin.kept_source:
        subscription.source = origin.kept_source


def mark_unsubscribed(session: Session, subscriptions: list[Subscription],
                      origin: ConsentOrigin) -> bool:
    """Unsubscribe these in the caller's transaction (no commit); True if any changed."""
    changed = False
    for subscription in subscriptions:
        if subscription.status is SubscriptionStatus.unsubscribed:
            continue
        subscription.status = SubscriptionStatus.unsubscribed
        subscription.unsubscribed_at = utcnow()
        subscription.token_version += 1  # earlier confirm links stop working
        record(session, subscription, ConsentEventKind.unsubscribed, origin)
        webhooks.emit(session, webhooks.UNSUBSCRIBED, subscription)
        changed = True
    return changed
