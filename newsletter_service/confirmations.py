"""The confirmation email of the double opt-in: its throttle, its link, sending it again.

A signup, an import and the console all queue confirmations here, under one throttle
(read from the outbox in the caller's transaction): one email per cooldown for the
same subscriptions, and at most ``CONFIRM_MAX_PER_DAY`` a day to one mailbox: the
``+tag`` and Gmail dot variants of a mail bomb count as one (addresses.mailbox_key), new
readers included, and none to a mailbox whose owner said "this wasn't me" (not_me.py).
Each email carries a 6-digit code (confirmation_codes.py) and a not-me link.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from flask import current_app
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from . import confirmation_codes, emails, links, not_me, outbox
from .addresses import mailbox_key
from .bulk import BulkCursor
from .consent import ConsentOrigin, record
from .models import (
    ConsentEventKind,
    Newsletter,
    OutboxMessage,
    OutboxStatus,
    Subscription,
    SubscriptionStatus,
    utcnow,
)
from .tokens import (
    ExpiredToken,
    InvalidToken,
    Purpose,
    TokenClaims,
    make_token,
    read_token,
    token_maker,
)

CONFIRM_KIND = "confirm"
WELCOME_KIND = "welcome"


def may_send_confirmation(session: Session, subscriber_id: int,
                          subscriptions: list[Subscription]) -> bool:
    """Allow a confirmation email unless one went out lately, too many today, or blocked."""
    config = current_app.config
    now = utcnow()
    mailbox = mailbox_key(subscriptions[0].subscriber.email)
    _serialize_mailbox(session, mailbox)
    if not_me.is_blocked(session, mailbox):
        return False
    today = session.scalar(
        select(func.count()).select_from(OutboxMessage).where(
            OutboxMessage.mailbox_key == mailbox, OutboxMessage.kind == CONFIRM_KIND,
            OutboxMessage.created_at > now - timedelta(days=1)))
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


def _serialize_mailbox(session: Session, mailbox: str) -> None:
    """Make simultaneous signups of one mailbox's variants pass the throttle one at a time.

    They are different readers, so no row lock joins them: PostgreSQL takes a lock on the
    mailbox itself until the transaction ends. (SQLite serializes every write already.)
    """
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock(hashtext(:key))"),
                        {"key": f"confirm:{mailbox}"})


def queue_confirmation(session: Session, subscriptions: list[Subscription], to: str) -> None:
    """Queue one confirmation email (link, code, not-me link) for all of ``subscriptions``."""
    token = make_token(links.signing_key(), Purpose.confirm,
                       [(s.id, s.token_version) for s in subscriptions])
    first = subscriptions[0]
    code = confirmation_codes.issue_code(session, first.subscriber_id, subscriptions)
    rendered = emails.confirmation_bytes([s.newsletter for s in subscriptions], to,
                                         links.confirm_url(token), code,
                                         not_me.not_me_url(subscriptions))
    row = outbox.enqueue(session, rendered, kind=CONFIRM_KIND,
                         subscriber_id=first.subscriber_id, subscription_id=first.id)
    row.mailbox_key = mailbox_key(to)
    row.recipient_domain = row.mailbox_key.rpartition("@")[2]


@dataclass(frozen=True)
class FirstConfirmation:
    """A confirmation email due to a reader for subscriptions just created (token_version 1).

    ``subscriptions`` are (subscription_id, newsletter) in the reader's order: one email
    names them all, as a signup to several newsletters at once.
    """

    subscriber_id: int
    email: str
    subscriptions: tuple[tuple[int, Newsletter], ...]


def queue_first_confirmations(session: Session, due: list[FirstConfirmation]) -> int:
    """Queue the first confirmation email of each of ``due``, under the throttle.

    A batch (an import's, or signups carried out together): the throttle of
    ``may_send_confirmation`` read in two statements for the whole batch (blocked
    mailboxes, today's count per mailbox) and applied email by email in order, the emails
    stamped, the codes and the outbox rows written in one statement each. Return how many
    were queued. The subscriptions are new: no email went to them yet, so no cooldown
    holds (an id used before by a deleted subscription has no outbox rows: they are set
    to NULL with it), and nothing scans the outbox for them.
    """
    config = current_app.config
    now = utcnow()
    mailboxes = {item.email: mailbox_key(item.email) for item in due}
    keys = sorted(set(mailboxes.values()))
    if session.get_bind().dialect.name == "postgresql":  # as _serialize_mailbox, in order
        session.execute(text("SELECT pg_advisory_xact_lock(hashtext('confirm:' || k)) "
                             "FROM unnest(CAST(:keys AS text[])) AS k"), {"keys": keys})
    blocked = not_me.blocked_among(session, keys)
    today: dict[str | None, int] = dict(session.execute(
        select(OutboxMessage.mailbox_key, func.count())
        .where(OutboxMessage.mailbox_key.in_(keys), OutboxMessage.kind == CONFIRM_KIND,
               OutboxMessage.created_at > now - timedelta(days=1))
        .group_by(OutboxMessage.mailbox_key)).all())
    allowed = []
    for item in due:
        mailbox = mailboxes[item.email]
        if mailbox in blocked or today.get(mailbox, 0) >= config["CONFIRM_MAX_PER_DAY"]:
            continue
        today[mailbox] = today.get(mailbox, 0) + 1
        allowed.append(item)
    if allowed:
        _queue_stamped(session, allowed, mailboxes)
    return len(allowed)


def _queue_stamped(session: Session, due: list[FirstConfirmation],
                   mailboxes: dict[str, str]) -> None:
    """Write the codes and the outbox rows of new subscriptions (token_version 1)."""
    confirm_token = token_maker(links.signing_key(), Purpose.confirm)
    not_me_token = token_maker(links.signing_key(), Purpose.not_me)
    claims = [[(sid, 1) for sid, _ in item.subscriptions] for item in due]
    codes = confirmation_codes.issue_codes(
        session, [(item.subscriber_id, targets) for item, targets in zip(due, claims, strict=True)])
    base = links.base_url()
    with BulkCursor(session) as db:
        now = db.time(utcnow())
        rows = []
        for item, targets, code in zip(due, claims, codes, strict=True):
            rendered = emails.confirmation_bytes(
                [newsletter for _, newsletter in item.subscriptions], item.email,
                links.confirm_url(confirm_token(targets)), code,
                f"{base}/not-me/{not_me_token(targets)}")
            mailbox = mailboxes[item.email]
            rows.append((CONFIRM_KIND, item.subscriber_id, targets[0][0], rendered.recipient,
                         rendered.sender, rendered.raw, OutboxStatus.pending.value, now, now,
                         mailbox, mailbox.rpartition("@")[2]))
        db.many(_QUEUE_CONFIRMATIONS, rows)


_QUEUE_CONFIRMATIONS = (
    "INSERT INTO outbox (kind, subscriber_id, subscription_id, recipient, sender, message,"
    " status, attempts, next_attempt_at, created_at, mailbox_key, recipient_domain)"
    " VALUES (?, ?, ?, ?, ?, ?, ?, 0, ?, ?, ?, ?)")


def read_confirm_token(session: Session, token: str,
                       lock: bool = False) -> tuple[list[Subscription], TokenClaims]:
    """Return the subscriptions a confirm link names, and its claims; raise InvalidToken."""
    claims = read_token(links.signing_key(), Purpose.confirm, token,
                        max_age=current_app.config["CONFIRM_MAX_AGE"])
    return current_subscriptions(session, claims, lock), claims


def current_subscriptions(session: Session, claims: TokenClaims,
                          lock: bool = False) -> list[Subscription]:
    """Return the subscriptions a confirm token names, if none was re-issued since."""
    found = load_subscriptions(session, claims.subscription_ids, lock)
    wanted = dict(zip(claims.subscription_ids, claims.versions, strict=True))
    if len(found) != len(wanted) or any(s.token_version != wanted[s.id] for s in found):
        raise InvalidToken("superseded")
    return found


def load_subscriptions(session: Session, ids: tuple[int, ...], lock: bool) -> list[Subscription]:
    """Return the subscriptions with these ids, by id; locked for update when ``lock``."""
    query = select(Subscription).where(Subscription.id.in_(ids)).order_by(Subscription.id)
    if lock:
        query = query.with_for_update(of=Subscription)
    return list(session.scalars(query))


def resend_confirmation(session: Session, expired: ExpiredToken, origin: ConsentOrigin) -> None:
    """Send a fresh confirm link for an expired one, under the usual throttle."""
    resend(session, current_subscriptions(session, expired.claims), origin)


def resend(session: Session, subscriptions: list[Subscription], origin: ConsentOrigin) -> bool:
    """Queue one new confirmation for those still pending, under the throttle; True if sent."""
    pending = [s for s in subscriptions if s.status is SubscriptionStatus.pending]
    subscriber = pending[0].subscriber if pending else None
    sent = subscriber is not None and may_send_confirmation(session, subscriber.id, pending)
    if sent:
        assert subscriber is not None
        queue_confirmation(session, pending, subscriber.email)
        for subscription in pending:
            record(session, subscription, ConsentEventKind.confirmation_resent, origin)
    session.commit()
    return sent
