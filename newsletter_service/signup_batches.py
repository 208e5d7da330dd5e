"""Many signups carried out in one transaction: what the signup queue takes at once.

Each signup does what ``subscriptions.subscribe`` does. A reader the database has never
seen (most signups) has nothing to look up and nothing to decide: their subscriber,
subscriptions, consent events, webhook events and confirmation email are written with one
statement per table for the whole batch, as an import writes its rows. A reader already
known, or named twice in one batch, then goes through ``subscriptions.sign_up`` one by one,
seeing what the new readers' rows did (a second signup of a new reader in the same batch
is a repeat, under the confirmation throttle like any other).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import insert
from sqlalchemy.orm import Session

from . import webhooks
from .confirmations import FirstConfirmation, queue_first_confirmations
from .consent import ConsentOrigin, consent_version_shown
from .db import insert_for
from .models import (
    ConsentEvent,
    ConsentEventKind,
    Newsletter,
    Subscriber,
    Subscription,
    SubscriptionStatus,
    utcnow,
)
from .subscriptions import Signup, sign_up


@dataclass(frozen=True)
class QueuedSignup:
    """One signup of a batch: the newsletters in the reader's order, what they sent, whence."""

    newsletters: list[Newsletter]
    signup: Signup
    origin: ConsentOrigin


def carry_out(session: Session, signups: list[QueuedSignup]) -> None:
    """Carry out ``signups`` in the caller's transaction (no commit): new readers in bulk."""
    firsts: dict[str, QueuedSignup] = {}
    for item in signups:
        firsts.setdefault(item.signup.address.key, item)
    created = _insert_readers(session, list(firsts.values()))
    new = [item for key, item in firsts.items() if key in created]
    if new:
        _subscribe_new_readers(session, new, created, utcnow())
    fresh = {id(item) for item in new}
    for item in signups:
        if id(item) not in fresh:
            sign_up(session, item.newsletters, item.signup, item.origin)


def _insert_readers(session: Session, signups: list[QueuedSignup]) -> dict[str, int]:
    """Insert the readers not stored yet; return the new ones' ids by address key."""
    table = Subscriber.__table__
    statement = (insert_for(session)(table)
                 .on_conflict_do_nothing(index_elements=["email_key"])
                 .returning(table.c.email_key, table.c.id))
    now = utcnow()
    rows = session.execute(statement, [
        {"email": item.signup.address.email, "email_key": item.signup.address.key,
         "created_at": now} for item in signups])
    return {key: subscriber_id for key, subscriber_id in rows}


def _subscribe_new_readers(session: Session, new: list[QueuedSignup],
                           subscriber_ids: dict[str, int], now: datetime) -> None:
    table = Subscription.__table__
    wanted = [(item, subscriber_ids[item.signup.address.key], newsletter)
              for item in new for newsletter in item.newsletters]
    rows = session.execute(insert(table).returning(
        table.c.subscriber_id, table.c.newsletter_id, table.c.id), [
        {"subscriber_id": subscriber_id, "newsletter_id": newsletter.id,
         "status": SubscriptionStatus.pending, "name": item.signup.name, "token_version": 1,
         "consent_given": item.signup.consent, "consent_version": consent_version_shown(newsletter),
         "source": item.origin.kept_source, "created_at": now}
        for item, subscriber_id, newsletter in wanted])
    ids = {(subscriber_id, newsletter_id): sid for subscriber_id, newsletter_id, sid in rows}
    session.execute(insert(ConsentEvent.__table__), [
        {"subscription_id": ids[subscriber_id, newsletter.id],
         "kind": ConsentEventKind.subscribed, "at": now, "ip": item.origin.ip,
         "user_agent": item.origin.kept_user_agent, "source": item.origin.kept_source,
         "consent_text": newsletter.consent_text,
         "consent_version": consent_version_shown(newsletter), "method": None}
        for item, subscriber_id, newsletter in wanted])
    webhooks.emit_for_ids(session, webhooks.CREATED, sorted(ids.values()))
    queue_first_confirmations(session, [
        FirstConfirmation(subscriber_ids[item.signup.address.key], item.signup.address.email,
                          tuple((ids[subscriber_ids[item.signup.address.key], n.id], n)
                                for n in item.newsletters))
        for item in new])
