"""Small factories for tests: rows made through the same use cases the app runs."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime
from typing import Any

from flask import Flask
from sqlalchemy import event, func, select, update
from sqlalchemy.orm import Session

from newsletter_service import newsletters, outbox, subscriptions
from newsletter_service.addresses import normalize_address
from newsletter_service.consent import ConsentOrigin
from newsletter_service.mailers import MemoryMailer
from newsletter_service.models import (
    Newsletter,
    OutboxMessage,
    SignupRequest,
    Subscriber,
    Subscription,
    utcnow,
)
from newsletter_service.outbox import RenderedEmail


@contextmanager
def open_session(app: Flask) -> Iterator[Session]:
    """Open a session on ``app``'s database, in an app context, outside any request."""
    with app.app_context(), app.extensions["db_sessionmaker"]() as session:
        yield session


@contextmanager
def executed_sql(app: Flask) -> Iterator[list[tuple[str, Any]]]:
    """Collect each SQL statement the app's engine runs inside the block, with its parameters."""
    seen: list[tuple[str, Any]] = []

    def collect(_conn: object, _cursor: object, statement: str, parameters: Any,
                *_args: object) -> None:
        seen.append((statement, parameters))

    engine = app.extensions["db_engine"]
    event.listen(engine, "before_cursor_execute", collect)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", collect)


def make_newsletter(app: Flask, slug: str = "daily", name: str = "The Daily",
                    **settings: Any) -> Newsletter:
    """Create a newsletter and return it (detached, attributes loaded)."""
    with open_session(app) as session:
        return newsletters.create_newsletter(session, slug, name, **settings)


def subscribe(app: Flask, email: str, slug: str = "daily", **signup: Any) -> Subscription:
    """Sign ``email`` up through the use case and return the subscription."""
    with open_session(app) as session:
        newsletter = newsletters.find_newsletter(session, slug)
        address = normalize_address(email)
        subscriptions.subscribe(session, [newsletter],
                                subscriptions.Signup(address=address, **signup),
                                ConsentOrigin(ip="192.0.2.1", source="https://pub.test/a"))
        return session.scalars(
            select(Subscription)
            .join(Subscription.subscriber)
            .where(Subscription.newsletter_id == newsletter.id, Subscriber.email_key == address.key)
        ).one()


def memory_mailer(app: Flask) -> MemoryMailer:
    """Return the app's memory mailer (the tests configure it): what it sent is in ``outbox``."""
    mailer = app.extensions["mailer"]
    assert isinstance(mailer, MemoryMailer)
    return mailer


def all_rows(app: Flask, model: type) -> list[Any]:
    """Return every row of ``model``."""
    with open_session(app) as session:
        return list(session.scalars(select(model).order_by(model.id)))


def wait_until_signups_carried_out(app: Flask, timeout: float = 15.0) -> None:
    """Wait for a live server and its worker to carry out the signups answered (signup_queue.py).

    A server answers first and carries the signup out right after, or leaves it to the
    worker when busy: a test that reads the database the moment its last answer arrived
    would race them.
    """
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with open_session(app) as session:
            if not session.scalar(select(func.count()).select_from(SignupRequest)):
                return
        time.sleep(0.05)
    raise AssertionError(f"signups still waiting after {timeout} s")


def outbox_rows(app: Flask) -> list[OutboxMessage]:
    """Return the queued emails."""
    return all_rows(app, OutboxMessage)


def numbered_email(index: int) -> EmailMessage:
    """Return a small email to ``reader<index>@example.com`` with its own Message-ID."""
    message = EmailMessage()
    message["To"] = f"reader{index}@example.com"
    message["From"] = "news@example.com"
    message["Subject"] = f"Message {index}"
    message["Message-ID"] = f"<m{index}@example.com>"
    message.set_content("Hello")
    return message


def make_message(subject: str = "Please confirm", to: str = "reader@example.com",
                 html: str | None = None, date: datetime | None = None) -> EmailMessage:
    """Return a confirmation-like email from The Newsroom, with an HTML part if given."""
    message = EmailMessage()
    message["From"] = Address("The Newsroom", "news", "example.org")
    message["To"] = Address(addr_spec=to)
    message["Subject"] = subject
    if date is not None:
        message["Date"] = format_datetime(date)
    message.set_content("Click the link to confirm.\n")
    if html is not None:
        message.add_alternative(html, subtype="html")
    return message


def queue(app: Flask, count: int, kind: str = "test") -> None:
    """Put ``count`` numbered emails in the outbox, due now."""
    with open_session(app) as session:
        for index in range(count):
            outbox.enqueue(session, RenderedEmail.of(numbered_email(index)), kind=kind)
        session.commit()


def make_due(app: Flask) -> None:
    """Make every email in the outbox due now, as if its backoff had passed."""
    with open_session(app) as session:
        session.execute(update(OutboxMessage).values(next_attempt_at=utcnow()))
        session.commit()


CONFIRM_LINK = re.compile(r"http://newsletters\.test(/confirm/[A-Za-z0-9_.\-]+)")
UNSUBSCRIBE_LINK = re.compile(r"http://newsletters\.test(/unsubscribe/[A-Za-z0-9_.\-]+)")


def text_body(message: EmailMessage) -> str:
    """Return the plain-text part of an email."""
    part = message.get_body(preferencelist=("plain",))
    assert part is not None
    return str(part.get_content())


def link_in(message: EmailMessage, pattern: re.Pattern[str] = CONFIRM_LINK) -> str:
    """Return the path of the first link of ``pattern`` in the email's text part."""
    found = pattern.search(text_body(message))
    assert found, text_body(message)
    return found.group(1)


def deliver(app: Flask) -> int:
    """Run the worker over what is due; return how many emails it sent."""
    from newsletter_service.worker import deliver_once

    return deliver_once(app).sent
