"""Signups carried out together do what ``subscribe`` does one by one (signup_batches.py).

A busy web process leaves its signups to the worker, which carries them out in one
transaction: new readers in bulk, the others through ``subscriptions.sign_up``. Here the
same readers (new, repeated, waiting, confirmed, unsubscribed, blocked, over the daily
limit of their mailbox, internationalized, to several newsletters at once) sign up twice on
a fresh database: through ``subscriptions.subscribe``, one at a time, then recorded and
carried out in one batch; the rows, the events and the emails must be the same.
"""

from __future__ import annotations

import email
import re
import threading
from collections.abc import Callable, Iterator
from datetime import timedelta
from email import policy
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import delete, select, update
from sqlalchemy.orm import Session

from newsletter_service import consent, not_me, signup_queue, subscriptions, webhooks
from newsletter_service.addresses import mailbox_key, normalize_address
from newsletter_service.consent import ConsentOrigin
from newsletter_service.db import Base
from newsletter_service.models import (
    ConfirmationCode,
    ConsentEvent,
    Newsletter,
    OutboxMessage,
    Subscriber,
    Subscription,
    SubscriptionStatus,
    utcnow,
)
from newsletter_service.subscriptions import Signup

from .factories import all_rows, make_newsletter, open_session, subscribe

# (email, newsletters in the reader's order, name, consent), signed up in this order.
SIGNUPS: list[tuple[str, list[str], str | None, bool]] = [
    ("new@example.com", ["daily"], "New Reader", True),
    ("both@example.com", ["weekly", "daily"], None, True),
    ("waiting@example.com", ["daily"], None, False),  # pending: emailed again
    ("confirmed@example.com", ["daily"], "Kept", True),
    ("gone@example.com", ["daily"], "Back Again", True),  # unsubscribed: a new opt-in
    ("new@example.com", ["weekly"], None, True),  # the new reader again, another newsletter
    ("blocked@example.com", ["daily"], None, True),  # said "not me": no email
    ("NEW@Example.com", ["daily"], None, True),  # a repeat in other case: cooling down
    ("zoë@example.com", ["weekly"], "Zoë", True),  # internationalized: SMTPUTF8
    *((f"bomb+{i}@example.com", ["daily"], None, True) for i in range(4)),  # 3 a day
]
ORIGIN = ConsentOrigin(ip="192.0.2.9", user_agent="Browser/1.0", source="https://pub.test/a")
PLACEHOLDERS = [(re.compile(r"https?://\S+"), "<link>"), (re.compile(r"\b\d{6}\b"), "<code>")]


def prepare(app: Flask) -> None:
    """Two newsletters, a webhook, and the readers known before the signups."""
    make_newsletter(app, "daily", "The Daily")
    make_newsletter(app, "weekly", "The Weekly", consent_text="I agree to the weekly terms.")
    subscribe(app, "waiting@example.com")
    confirmed, gone = subscribe(app, "confirmed@example.com"), subscribe(app, "gone@example.com")
    with app.app_context(), open_session(app) as session:
        webhooks.add_webhook(session, "https://hooks.example.com/in")
        session.execute(update(Subscription).where(Subscription.id == confirmed.id)
                        .values(status=SubscriptionStatus.confirmed))
        consent.mark_unsubscribed(session, [session.get(Subscription, gone.id)], ORIGIN)
        not_me.block(session, mailbox_key("blocked@example.com"))
        # Their emails went two days ago: no cooldown or daily limit holds them back now.
        session.execute(update(OutboxMessage).values(created_at=utcnow() - timedelta(days=2)))
        session.commit()


def each_signup(session: Session) -> Iterator[tuple[list[Newsletter], Signup]]:
    by_slug = {n.slug: n for n in session.scalars(select(Newsletter))}
    for address, slugs, name, agreed in SIGNUPS:
        yield [by_slug[s] for s in slugs], Signup(normalize_address(address), name, agreed)


def outcome(app: Flask) -> dict[str, list[Any]]:
    """What the signups left, without ids and times."""
    with open_session(app) as session:
        subscriptions = [
            (s.subscriber.email, s.newsletter.slug, s.status.value, s.name, s.consent_given,
             s.consent_version, s.source, s.token_version)
            for s in session.scalars(select(Subscription))]
        events = [
            (e.subscription.subscriber.email, e.subscription.newsletter.slug, e.kind.value, e.ip,
             e.user_agent, e.source, e.consent_text, e.consent_version)
            for e in session.scalars(select(ConsentEvent))]
        mails = [(m.kind, m.recipient, m.mailbox_key, m.recipient_domain, _readable(m))
                 for m in session.scalars(select(OutboxMessage))]
        codes = [(c.subscriber_id and session.get(Subscriber, c.subscriber_id).email,
                  sorted(session.get(Subscription, int(t.split(":")[0])).newsletter.slug
                         for t in c.targets.split()))
                 for c in session.scalars(select(ConfirmationCode))]
    return {"subscriptions": sorted(subscriptions, key=repr), "events": sorted(events, key=repr),
            "mails": sorted(mails, key=repr), "codes": sorted(codes, key=repr)}


def _readable(row: OutboxMessage) -> tuple[str, ...]:
    if row.kind != "confirm":  # a webhook event: its type and what it says of the reader
        body = row.message.decode()
        return (webhooks.event_type(row.message), re.sub(r'"\d{4}-[^"]+Z"', "<time>", body))
    message = email.message_from_bytes(row.message, policy=policy.default)
    text = message.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    for pattern, placeholder in PLACEHOLDERS:
        text = pattern.sub(placeholder, text)
    return (str(message["Subject"]), str(message["To"]), text)


def wipe(app: Flask) -> None:
    with open_session(app) as session:
        for table in reversed(Base.metadata.sorted_tables):
            session.execute(delete(table))
        session.commit()


@pytest.mark.app_config(CONFIRM_MAX_PER_DAY=3)
def test_a_batch_does_what_the_same_signups_do_one_by_one(db_app: Flask) -> None:
    prepare(db_app)
    with db_app.app_context(), open_session(db_app) as session:
        for newsletters, signup in each_signup(session):
            subscriptions.subscribe(session, newsletters, signup, ORIGIN)
    one_by_one = outcome(db_app)
    wipe(db_app)
    prepare(db_app)
    with db_app.app_context(), open_session(db_app) as session:
        for newsletters, signup in each_signup(session):
            signup_queue.record(session, newsletters, signup, ORIGIN)
        assert signup_queue.process_batch(session) == len(SIGNUPS)
        assert signup_queue.process_batch(session) == 0
    assert outcome(db_app) == one_by_one
    # What the scenario holds, so that the comparison compares something.
    mails = one_by_one["mails"]
    confirmations = sorted(m[1] for m in mails if m[0] == "confirm")
    assert confirmations == sorted([
        "waiting@example.com", "confirmed@example.com", "gone@example.com",  # before
        "both@example.com", "bomb+0@example.com", "bomb+1@example.com", "bomb+2@example.com",
        "gone@example.com", "new@example.com", "new@example.com", "waiting@example.com",
        "zoë@example.com"])
    assert any("The Weekly" in str(m[4]) and "The Daily" in str(m[4]) for m in mails
               if m[1] == "both@example.com" and m[0] == "confirm")
    kinds = sorted(event[2] for event in one_by_one["events"])
    assert kinds.count("confirmation_resent") == 1 and kinds.count("subscribed") == 14
    events = sorted(str(m[4][0]) for m in mails if m[0] != "confirm")
    assert events == ["subscription.created"] * 11 + ["subscription.unsubscribed"]


def test_batches_taken_at_once_carry_out_each_signup_once(db_app: Flask) -> None:
    """Two workers and a web process at the same moment (PostgreSQL: SKIP LOCKED)."""
    make_newsletter(db_app, "daily", "The Daily")
    with db_app.app_context(), open_session(db_app) as session:
        [daily] = session.scalars(select(Newsletter))
        ids = [signup_queue.record(session, [daily], Signup(normalize_address(
            f"reader{i}@example.com")), ORIGIN).id for i in range(60)]
    barrier = threading.Barrier(3)
    done: list[int] = []

    def carry_out(task: Callable[[Session], int]) -> None:
        with db_app.app_context(), open_session(db_app) as session:
            barrier.wait()
            done.append(task(session))

    tasks: list[Callable[[Session], int]] = [
        lambda s: signup_queue.process_batch(s, 25), lambda s: signup_queue.process_batch(s, 25),
        lambda s: sum(signup_queue.process(s, i) for i in ids[::-1])]
    threads = [threading.Thread(target=carry_out, args=(task,)) for task in tasks]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    with db_app.app_context(), open_session(db_app) as session:
        done.append(signup_queue.process_waiting(session))
    assert sum(done) == 60
    assert len(all_rows(db_app, Subscription)) == 60
    assert sorted(m.recipient for m in all_rows(db_app, OutboxMessage)) == sorted(
        f"reader{i}@example.com" for i in range(60))
