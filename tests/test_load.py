"""Many signups at once against gunicorn with two workers, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
import threading
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
from flask import Flask
from sqlalchemy import func, select

from newsletter_service.models import OutboxMessage, Subscriber, Subscription

from .factories import make_newsletter, open_session, wait_until_signups_carried_out
from .servers import Gunicorn, Worker


@pytest.fixture
def server(db_app: Flask) -> Iterator[Gunicorn]:
    """gunicorn -w 2 and a worker serving the test database, rate limits off."""
    make_newsletter(db_app)
    env = {"NEWSLETTER_DATABASE_URL": db_app.config["DATABASE_URL"],
           "NEWSLETTER_SECRET_KEY": "load-test-key", "NEWSLETTER_MAILER": "memory://",
           "NEWSLETTER_BASE_URL": "http://newsletters.test",
           "NEWSLETTER_RATELIMIT_ENABLED": "false"}
    worker = Worker(env)
    gunicorn = Gunicorn(env, workers=2)
    yield gunicorn
    logs = gunicorn.stop() + worker.stop()
    assert "Traceback" not in logs, logs


def post_signup(url: str, email: str) -> int:
    body = json.dumps({"email": email}).encode()
    request = urllib.request.Request(f"{url}/newsletters/daily/subscribe", data=body,
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return int(response.status)
    except urllib.error.HTTPError as error:
        return int(error.code)


def count(app: Flask, model: type) -> int:
    with open_session(app) as session:
        return int(session.scalar(select(func.count()).select_from(model)) or 0)


def test_500_signups_from_many_threads_lose_none(db_app: Flask, server: Gunicorn) -> None:
    emails = [f"reader{i}@example.com" for i in range(500)]
    with ThreadPoolExecutor(max_workers=16) as pool:
        statuses = Counter(pool.map(lambda e: post_signup(server.url, e), emails))
    assert statuses == {200: 500}
    wait_until_signups_carried_out(db_app)  # the last answers' signups, moments later
    assert count(db_app, Subscription) == 500
    assert count(db_app, OutboxMessage) == 500


def test_50_simultaneous_signups_of_one_address_give_one_subscription(
        db_app: Flask, server: Gunicorn) -> None:
    barrier = threading.Barrier(50)

    def sign_up(index: int) -> int:
        barrier.wait()
        return post_signup(server.url, "Same.Reader@example.com" if index % 2
                           else "same.reader@EXAMPLE.com")

    with ThreadPoolExecutor(max_workers=50) as pool:
        statuses = Counter(pool.map(sign_up, range(50)))
    assert statuses == {200: 50}
    wait_until_signups_carried_out(db_app)
    assert count(db_app, Subscriber) == 1
    assert count(db_app, Subscription) == 1
    assert count(db_app, OutboxMessage) == 1  # at most one email
