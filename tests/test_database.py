"""The database layer on SQLite and PostgreSQL: uniqueness, migrations, concurrency."""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta

import pytest
from flask import Flask
from sqlalchemy import inspect, select, update
from sqlalchemy.exc import IntegrityError

from newsletter_service import migrate
from newsletter_service.models import OutboxMessage, Subscriber, Subscription, utcnow

from .factories import all_rows, make_newsletter, open_session, subscribe


def test_schema_is_at_head_and_migrations_go_down_and_up(db_app: Flask) -> None:
    engine = db_app.extensions["db_engine"]
    tables = set(inspect(engine).get_table_names())
    assert {"newsletters", "subscribers", "subscriptions", "consent_events", "outbox",
            "alembic_version"} <= tables
    migrate.downgrade(engine, "base")
    assert set(inspect(engine).get_table_names()) <= {"alembic_version"}
    migrate.upgrade(engine)
    assert "subscriptions" in inspect(engine).get_table_names()


def test_database_refuses_a_second_subscriber_with_the_same_key(db_app: Flask) -> None:
    with open_session(db_app) as session:
        session.add(Subscriber(email="a@example.com", email_key="a@example.com"))
        session.commit()
        session.add(Subscriber(email="A@example.com", email_key="a@example.com"))
        with pytest.raises(IntegrityError):
            session.commit()


def test_case_variants_are_one_subscriber(db_app: Flask) -> None:
    make_newsletter(db_app)
    subscribe(db_app, "Alice@Example.COM")
    subscribe(db_app, "alice@example.com")
    [subscriber] = all_rows(db_app, Subscriber)
    assert subscriber.email == "Alice@example.com"
    assert len(all_rows(db_app, Subscription)) == 1


def test_simultaneous_signups_of_one_address_make_one_subscription(db_app: Flask) -> None:
    make_newsletter(db_app)
    barrier = threading.Barrier(8)

    def sign_up(index: int) -> None:
        barrier.wait()
        subscribe(db_app, "race@example.com" if index % 2 else "RACE@example.com")

    with ThreadPoolExecutor(max_workers=8) as pool:
        list(pool.map(sign_up, range(8)))  # re-raises any thread's error
    assert len(all_rows(db_app, Subscriber)) == 1
    assert len(all_rows(db_app, Subscription)) == 1
    with open_session(db_app) as session:
        mails = session.scalars(select(OutboxMessage).where(OutboxMessage.kind == "confirm"))
        assert len(list(mails)) == 1


def test_simultaneous_signups_of_different_addresses_lose_none(db_app: Flask) -> None:
    make_newsletter(db_app)
    with ThreadPoolExecutor(max_workers=6) as pool:
        list(pool.map(lambda i: subscribe(db_app, f"reader{i}@example.com"), range(60)))
    assert len(all_rows(db_app, Subscription)) == 60
    assert len(all_rows(db_app, OutboxMessage)) == 60


def _simultaneously(count: int, action: Callable[[int], None]) -> None:
    barrier = threading.Barrier(count)

    def run(index: int) -> None:
        barrier.wait()
        action(index)

    with ThreadPoolExecutor(max_workers=count) as pool:
        list(pool.map(run, range(count)))  # re-raises any thread's error


def _confirmation_emails(app: Flask) -> int:
    return sum(1 for row in all_rows(app, OutboxMessage) if row.kind == "confirm")


@pytest.mark.app_config(CONFIRM_MAX_PER_DAY=5)
def test_simultaneous_signups_of_one_new_reader_to_many_newsletters_respect_the_cap(
        db_app: Flask) -> None:
    for index in range(10):
        make_newsletter(db_app, f"n{index}", f"Newsletter {index}")
    _simultaneously(10, lambda index: subscribe(db_app, "race@example.com", slug=f"n{index}"))
    assert len(all_rows(db_app, Subscription)) == 10
    assert _confirmation_emails(db_app) == 5  # the cap, not one per request


@pytest.mark.app_config(CONFIRM_RESEND_COOLDOWN=300)
def test_simultaneous_re_signups_after_the_cooldown_send_one_email(db_app: Flask) -> None:
    make_newsletter(db_app)
    subscribe(db_app, "again@example.com")
    with open_session(db_app) as session:  # as if the cooldown had passed
        session.execute(update(OutboxMessage).values(
            created_at=utcnow() - timedelta(seconds=600)))
        session.commit()
    _simultaneously(20, lambda index: subscribe(db_app, "again@example.com"))
    assert _confirmation_emails(db_app) == 2  # the first signup's and one re-send
