"""A web process reads a newsletter's settings at most once a SETTINGS_CACHE_SECONDS.

Its own edits apply to the next request; another process's (here: another connection to
the same database, which the cache cannot see) within the cache's time.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import create_engine, text

from newsletter_service import newsletters
from newsletter_service.web.lookup import NewsletterCache

from .factories import make_newsletter, open_session

Rename = Callable[[str, str], None]  # another process renames a newsletter: (slug, name)


class FakeClock:
    """The cache's clock, moved by the test: no test waits for the cache to run out."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(app: Flask) -> FakeClock:
    fake = FakeClock()
    cache: NewsletterCache = app.extensions["newsletter_cache"]
    cache.clock = fake
    return fake


@pytest.fixture
def other_process(app: Flask) -> Iterator[Rename]:
    """Edit the newsletters table as another process would: a connection of its own."""
    engine = create_engine(app.config["DATABASE_URL"])

    def rename(slug: str, name: str) -> None:
        with engine.begin() as connection:
            connection.execute(text("UPDATE newsletters SET name = :name WHERE slug = :slug"),
                               {"name": name, "slug": slug})

    yield rename
    engine.dispose()


def test_an_edit_in_this_process_applies_to_the_next_request(
        app: Flask, client: FlaskClient, clock: FakeClock) -> None:
    newsletter = make_newsletter(app, name="The Daily")
    assert "The Daily" in client.get("/newsletters/daily").text  # read, and cached
    with open_session(app) as session:
        newsletters.update_newsletter(session, session.merge(newsletter),
                                      {"name": "The Evening"})
    page = client.get("/newsletters/daily").text
    assert "The Evening" in page and "The Daily" not in page
    with open_session(app) as session:
        newsletters.set_active(session, session.merge(newsletter), False)
    assert client.get("/newsletters/daily").status_code == 404
    assert client.post("/newsletters/daily/subscribe",
                       json={"email": "reader@example.com"}).status_code == 404


def test_another_process_edit_is_seen_once_the_cache_time_has_passed(
        app: Flask, client: FlaskClient, clock: FakeClock, other_process: Rename) -> None:
    make_newsletter(app, name="The Daily")
    assert "The Daily" in client.get("/newsletters/daily").text
    other_process("daily", "The Evening")
    clock.now += app.config["SETTINGS_CACHE_SECONDS"] - 0.01
    assert "The Daily" in client.get("/newsletters/daily").text  # cached: no query
    clock.now += 0.02
    assert "The Evening" in client.get("/newsletters/daily").text


@pytest.mark.app_config(SETTINGS_CACHE_SECONDS=0)  # the knob: no cache at all
def test_with_no_cache_time_every_request_reads_the_settings(
        app: Flask, client: FlaskClient, clock: FakeClock, other_process: Rename) -> None:
    make_newsletter(app, name="The Daily")
    assert "The Daily" in client.get("/newsletters/daily").text
    other_process("daily", "The Evening")
    assert "The Evening" in client.get("/newsletters/daily").text


def test_what_a_request_does_to_its_newsletter_stays_in_that_request(
        app: Flask, clock: FakeClock) -> None:
    make_newsletter(app, name="The Daily")
    cache: NewsletterCache = app.extensions["newsletter_cache"]
    with open_session(app) as session:
        cache.find(session, "daily")  # read and cached
        first = cache.find(session, "daily")  # from the cache
        first.name = "Changed, never flushed"
        session.expunge_all()
    with open_session(app) as session:
        again = cache.find(session, "daily")
        assert again.name == "The Daily" and again is not first
