"""The database layer on SQLite and PostgreSQL: uniqueness, migrations, concurrency."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from flask import Flask
from sqlalchemy import inspect, select
from sqlalchemy.exc import IntegrityError

from newsletter_service import migrate
from newsletter_service.models import OutboxMessage, Subscriber, Subscription

from .factories import all_rows, make_newsletter, subscribe


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
    with db_app.app_context(), db_app.extensions["db_sessionmaker"]() as session:
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
    with db_app.app_context(), db_app.extensions["db_sessionmaker"]() as session:
        mails = session.scalars(select(OutboxMessage).where(OutboxMessage.kind == "confirm"))
        assert len(list(mails)) == 1


def test_simultaneous_signups_of_different_addresses_lose_none(db_app: Flask) -> None:
    make_newsletter(db_app)
    with ThreadPoolExecutor(max_workers=6) as pool:
        list(pool.map(lambda i: subscribe(db_app, f"reader{i}@example.com"), range(60)))
    assert len(all_rows(db_app, Subscription)) == 60
    assert len(all_rows(db_app, OutboxMessage)) == 60
