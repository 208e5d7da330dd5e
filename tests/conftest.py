"""Fixtures: an app on a fresh database (SQLite, and PostgreSQL where it answers)."""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner
from sqlalchemy import text
from sqlalchemy.orm import Session

from newsletter_service import create_app, migrate
from newsletter_service.db import make_engine
from newsletter_service.mailers import MemoryMailer
from tests.factories import memory_mailer, open_session

pytest_plugins = ["tests.smtp_sink"]

DEFAULT_POSTGRES_URL = "postgresql://postgres@127.0.0.1:5432/test"
TABLES = ("outbox", "consent_events", "subscriptions", "subscribers", "export_logs",
          "erased_subscriptions", "suppressed_addresses", "login_failures", "api_tokens",
          "admins", "newsletters", "used_challenges", "webhook_endpoints",
          "suppressions", "confirmation_codes", "not_me_blocks", "signup_requests")


class ServerLikeClient(FlaskClient):
    """A test client that reads each answer whole and then closes it, as a WSGI server does.

    Flask's client leaves the answer open until the test closes it; a server closes it
    once sent, and closing runs what a view left for after its answer (a signup is
    carried out then: signup_queue.py). So a test sees the signup done, as a reader does.
    """

    def open(self, *args: Any, **kwargs: Any) -> Any:
        kwargs.setdefault("buffered", True)
        return super().open(*args, **kwargs)


def required_services() -> set[str]:
    """Return the services CI declared required: their tests fail instead of skipping."""
    return {s.strip() for s in os.environ.get("NEWSLETTER_TEST_REQUIRE", "").split(",") if s}


def skip_or_fail(service: str, reason: str) -> None:
    """Skip a test whose service is missing, unless CI made the service required."""
    if service in required_services():
        pytest.fail(f"{reason} (required by NEWSLETTER_TEST_REQUIRE)")
    pytest.skip(reason)


def base_config(database_url: str, tmp_path: Path) -> dict[str, Any]:
    """Return the config every test app starts from: production's, with three knobs set.

    Not TESTING, not debug, CSRF on and the security headers as deployed: the app a
    publisher runs. The knobs, and why:
    - ``MAILER``: the memory mailer, so a unit test can read what was queued and sent;
      the SMTP tests and the journey suite (tests/journey/) use a real SMTP server;
    - ``RATELIMIT_ENABLED``: off, because every test client is one IP (127.0.0.1) that
      sends far more than a reader would; the rate-limit tests switch it on;
    - ``SECRET_KEY`` and ``BASE_URL``: what an operator must set outside debug.
    """
    return {
        "SECRET_KEY": "test-secret-key",
        "DATABASE_URL": database_url,
        "MAILER": "memory://",
        "BASE_URL": "http://newsletters.test",
        "MAIL_FROM": "news@example.com",
        "RATELIMIT_ENABLED": False,
    }


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Migrate one SQLite file per session; each test gets a copy (migrations run once)."""
    path = tmp_path_factory.mktemp("db") / "template.sqlite3"
    engine = make_engine(f"sqlite:///{path}")
    migrate.upgrade(engine)
    engine.dispose()
    return path


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """Create a throw-away PostgreSQL database for the session, migrated to head."""
    admin_url = os.environ.get("NEWSLETTER_TEST_DATABASE_URL", DEFAULT_POSTGRES_URL)
    try:
        admin = make_engine(admin_url, isolation_level="AUTOCOMMIT",
                            connect_args={"connect_timeout": 3})
        with admin.connect() as connection:
            connection.execute(text("SELECT 1"))
    except Exception as error:  # noqa: BLE001 - any failure means "no server here"
        skip_or_fail("postgres", f"PostgreSQL at {admin_url} does not answer: {error}")
    name = f"newsletter_test_{uuid.uuid4().hex[:12]}"
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    url = admin.url.set(database=name).render_as_string(hide_password=False)
    engine = make_engine(url)
    migrate.upgrade(engine)
    engine.dispose()
    yield url
    with admin.connect() as connection:
        connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def _database_url(kind: str, request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if kind == "postgresql":
        url: str = request.getfixturevalue("postgres_url")
        engine = make_engine(url)
        with engine.begin() as connection:
            connection.execute(text(f"TRUNCATE {', '.join(TABLES)} RESTART IDENTITY CASCADE"))
        engine.dispose()
        return url
    path = tmp_path / "test.sqlite3"
    shutil.copy(request.getfixturevalue("sqlite_template"), path)
    return f"sqlite:///{path}"


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_kind(request: pytest.FixtureRequest) -> str:
    """Run the test once per supported database."""
    return str(request.param)


def _make_app(database_url: str, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Flask]:
    config = base_config(database_url, tmp_path)
    marker = request.node.get_closest_marker("app_config")
    if marker:
        config.update(marker.kwargs)
    app = create_app(config)
    app.instance_path = str(tmp_path / "instance")
    app.test_client_class = ServerLikeClient
    yield app
    app.extensions["db_engine"].dispose()


@pytest.fixture
def app(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Flask]:
    """An app on a fresh SQLite database with a memory mailer."""
    yield from _make_app(_database_url("sqlite", request, tmp_path), tmp_path, request)


@pytest.fixture
def db_app(request: pytest.FixtureRequest, tmp_path: Path, database_kind: str) -> Iterator[Flask]:
    """An app on each database in turn: SQLite, then PostgreSQL."""
    yield from _make_app(_database_url(database_kind, request, tmp_path), tmp_path, request)


@pytest.fixture
def pg_app(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Flask]:
    """An app on PostgreSQL only, for what only a PostgreSQL deployment does."""
    yield from _make_app(_database_url("postgresql", request, tmp_path), tmp_path, request)


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def runner(app: Flask) -> FlaskCliRunner:
    return app.test_cli_runner()


@pytest.fixture
def mailer(app: Flask) -> MemoryMailer:
    return memory_mailer(app)


@pytest.fixture
def session(app: Flask) -> Iterator[Session]:
    """A session on the app's database, outside any request."""
    with open_session(app) as session:
        yield session


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "app_config(**values): extra config for the app fixture")
