"""The 6-digit code of a confirmation email: made with it, typed back into the form.

Each confirmation email gets its own random code, kept only as an HMAC keyed with
``SECRET_KEY`` and bound to the reader and to the subscriptions that email was for (with
their ``token_version``, as its link names them). It lives as long as the link
(``CONFIRM_MAX_AGE``) and confirms once. Every wrong code counts against all of the
address's live codes: after ``MAX_FAILURES`` they are dead, and only a new confirmation
email brings a working one. A wrong, expired, used or dead code, an unknown address and an
address with nothing pending are the same ``WrongCode``: nobody learns anything.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import datetime, timedelta

from flask import current_app
from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from . import links
from .addresses import Address
from .bulk import BulkCursor
from .db import rows_changed
from .models import ConfirmationCode, Subscriber, Subscription, SubscriptionStatus, utcnow

CODE_DIGITS = 6
MAX_FAILURES = 5


class WrongCode(Exception):
    """The code confirms nothing: wrong, expired, used, dead, or nothing is pending."""


def issue_code(session: Session, subscriber_id: int, subscriptions: list[Subscription]) -> str:
    """Create the code of a confirmation email being queued; return its digits."""
    now = utcnow()
    session.execute(delete(ConfirmationCode).where(
        ConfirmationCode.subscriber_id == subscriber_id, ConfirmationCode.expires_at <= now))
    code = f"{secrets.randbelow(10 ** CODE_DIGITS):0{CODE_DIGITS}d}"
    session.add(ConfirmationCode(
        subscriber_id=subscriber_id, code_hash=_digest(subscriber_id, code),
        targets=_targets_text([(s.id, s.token_version) for s in subscriptions]), failures=0,
        created_at=now,
        expires_at=now + timedelta(seconds=current_app.config["CONFIRM_MAX_AGE"]),
    ))
    return code


def issue_codes(session: Session,
                targets: list[tuple[int, list[tuple[int, int]]]]) -> list[str]:
    """Create the codes of many confirmation emails at once (a batch's); return their digits.

    ``targets`` are (subscriber_id, [(subscription_id, token_version), ...]), one email
    each; as ``issue_code``, in one statement per kind and the key derived once.
    """
    now = utcnow()
    session.execute(delete(ConfirmationCode).where(
        ConfirmationCode.subscriber_id.in_({t[0] for t in targets}),
        ConfirmationCode.expires_at <= now))
    key = _key()
    codes = [f"{secrets.randbelow(10 ** CODE_DIGITS):0{CODE_DIGITS}d}" for _ in targets]
    expires = now + timedelta(seconds=current_app.config["CONFIRM_MAX_AGE"])
    with BulkCursor(session) as db:
        created_at, expires_at = db.time(now), db.time(expires)
        db.many(_ADD_CODES, [
            (subscriber_id, hmac.new(key, f"{subscriber_id}:{code}".encode(),
                                     hashlib.sha256).hexdigest(),
             _targets_text(claims), created_at, expires_at)
            for (subscriber_id, claims), code in zip(targets, codes, strict=True)])
    return codes


_ADD_CODES = ("INSERT INTO confirmation_codes (subscriber_id, code_hash, targets, failures,"
              " created_at, expires_at) VALUES (?, ?, ?, 0, ?, ?)")


def _targets_text(claims: list[tuple[int, int]]) -> str:
    return " ".join(f"{subscription_id}:{version}" for subscription_id, version in claims)


def redeem(session: Session, address: Address, code: str) -> list[Subscription]:
    """Use up ``code`` of ``address``; return the subscriptions it confirms, locked.

    Raise WrongCode (a wrong code's failure is committed first). The caller confirms the
    subscriptions and commits: the code is spent in the same transaction.
    """
    subscriber_id = session.scalar(  # locked: one address's codes are checked one at a time
        select(Subscriber.id).where(Subscriber.email_key == address.key).with_for_update())
    now = utcnow()
    codes = [] if subscriber_id is None else list(session.scalars(
        select(ConfirmationCode).where(ConfirmationCode.subscriber_id == subscriber_id,
                                       ConfirmationCode.expires_at > now)))
    digest = _digest(subscriber_id or 0, code.strip())
    match = next((c for c in codes if hmac.compare_digest(c.code_hash, digest)), None)
    if match is None:
        _count_failure(session, [c.id for c in codes if _live(c)])
        raise WrongCode
    if not _live(match) or not _spend(session, match.id, now):
        session.rollback()
        raise WrongCode
    subscriptions = _targets(session, match.targets)
    if not subscriptions:
        session.rollback()
        raise WrongCode
    return subscriptions


def _live(code: ConfirmationCode) -> bool:
    return code.used_at is None and code.failures < MAX_FAILURES


def _count_failure(session: Session, live_ids: list[int]) -> None:
    if live_ids:
        session.execute(update(ConfirmationCode).where(ConfirmationCode.id.in_(live_ids))
                        .values(failures=ConfirmationCode.failures + 1))
    session.commit()


def _spend(session: Session, code_id: int, now: datetime) -> bool:
    """Mark the code used unless someone did first (two simultaneous right codes)."""
    return bool(rows_changed(session, update(ConfirmationCode)
                             .where(ConfirmationCode.id == code_id,
                                    ConfirmationCode.used_at.is_(None))
                             .values(used_at=now)))


def _targets(session: Session, targets: str) -> list[Subscription]:
    """Return the still-current subscriptions the code was for that await confirmation."""
    wanted = {int(subscription_id): int(version)
              for subscription_id, version in (pair.split(":") for pair in targets.split())}
    found = session.scalars(
        select(Subscription).where(Subscription.id.in_(wanted)).order_by(Subscription.id)
        .with_for_update(of=Subscription))
    # A later opt-out or signup bumped the version: this code's email no longer speaks for it.
    return [s for s in found
            if s.token_version == wanted[s.id] and s.status is not SubscriptionStatus.confirmed]


def _digest(subscriber_id: int, code: str) -> str:
    return hmac.new(_key(), f"{subscriber_id}:{code}".encode(), hashlib.sha256).hexdigest()


def _key() -> bytes:
    return hmac.new(links.signing_key().encode(), b"newsletter-service.confirmation-code",
                    hashlib.sha256).digest()
