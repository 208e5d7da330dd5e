""""This wasn't me": the owner of a mailbox stops confirmation emails they never asked for.

Every confirmation email carries a not-me link. Its POST cancels the signups that email
was for and blocks confirmation emails to that mailbox (``addresses.mailbox_key``: the
``+tag`` and Gmail dot variants of a mail bomb are one mailbox) for ``NOT_ME_DAYS`` days,
across all newsletters. Signups meanwhile get the normal answer and no email; an admin
sees the block on the reader's console page and may lift it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from flask import current_app
from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from . import links
from .addresses import mailbox_key
from .consent import ConsentOrigin, mark_unsubscribed
from .db import insert_for, rows_changed
from .models import (
    Newsletter,
    NotMeBlock,
    Subscription,
    SubscriptionStatus,
    utcnow,
)
from .tokens import InvalidToken, Purpose, TokenClaims, make_token, read_token


@dataclass(frozen=True)
class NotMeLink:
    """What a not-me link is about, and when its email was queued."""

    subscriptions: list[Subscription]
    claims: TokenClaims

    @property
    def newsletters(self) -> list[Newsletter]:
        return [s.newsletter for s in self.subscriptions]


def not_me_url(subscriptions: list[Subscription]) -> str:
    """Return the not-me link of a confirmation email for ``subscriptions``."""
    token = make_token(links.signing_key(), Purpose.not_me,
                       [(s.id, s.token_version) for s in subscriptions])
    return f"{links.base_url()}/not-me/{token}"


def read_link(session: Session, token: str, lock: bool = False) -> NotMeLink:
    """Return what a not-me link names, changing nothing; raise InvalidToken."""
    max_age = int(current_app.config["PURGE_PENDING_AFTER_DAYS"]) * 24 * 3600
    claims = read_token(links.signing_key(), Purpose.not_me, token, max_age=max_age)
    query = (select(Subscription).where(Subscription.id.in_(claims.subscription_ids))
             .order_by(Subscription.id))
    found = list(session.scalars(query.with_for_update(of=Subscription) if lock else query))
    if not found:
        raise InvalidToken("unknown subscriptions")
    return NotMeLink(found, claims)


def say_not_me(session: Session, token: str, origin: ConsentOrigin) -> NotMeLink:
    """Cancel what the link's email asked to confirm, and block the mailbox; idempotent."""
    link = read_link(session, token, lock=True)
    versions = dict(zip(link.claims.subscription_ids, link.claims.versions, strict=True))
    for subscription in link.subscriptions:
        if (subscription.token_version != versions[subscription.id]
                or subscription.status is SubscriptionStatus.confirmed):
            continue  # a later signup, or the reader confirmed after all: not this email's
        if subscription.status is SubscriptionStatus.pending:
            # Events, webhooks, and the email's confirm link and code stop working.
            mark_unsubscribed(session, [subscription], origin)
        else:
            subscription.token_version += 1  # the email's confirm link and code stop working
    block(session, mailbox_key(link.subscriptions[0].subscriber.email))
    session.commit()
    return link


def block(session: Session, mailbox: str) -> None:
    """Block confirmation emails to ``mailbox`` for NOT_ME_DAYS from now (the caller commits)."""
    now = utcnow()
    until = now + timedelta(days=int(current_app.config["NOT_ME_DAYS"]))
    statement = insert_for(session)(NotMeBlock).values(mailbox_key=mailbox, created_at=now,
                                                       until=until)
    session.execute(statement.on_conflict_do_update(index_elements=["mailbox_key"],
                                                    set_={"until": until, "created_at": now}))


def is_blocked(session: Session, mailbox: str) -> bool:
    """Tell whether confirmation emails to ``mailbox`` are blocked now."""
    return current_block(session, mailbox) is not None


def blocked_among(session: Session, mailboxes: list[str]) -> set[str]:
    """Return those of ``mailboxes`` whose confirmation emails are blocked now."""
    return set(session.scalars(select(NotMeBlock.mailbox_key).where(
        NotMeBlock.mailbox_key.in_(mailboxes), NotMeBlock.until > utcnow())))


def current_block(session: Session, mailbox: str) -> NotMeBlock | None:
    """Return the block on ``mailbox`` if one is in force."""
    return session.scalar(select(NotMeBlock).where(NotMeBlock.mailbox_key == mailbox,
                                                   NotMeBlock.until > utcnow()))


def lift(session: Session, mailbox: str) -> bool:
    """Lift the block on ``mailbox`` (an admin's decision); True if there was one."""
    lifted = rows_changed(session, delete(NotMeBlock).where(NotMeBlock.mailbox_key == mailbox))
    session.commit()
    return bool(lifted)
