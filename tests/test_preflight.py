"""`newsletter-service check` and /readyz: a deployment is whole, or they say what is missing."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from flask import Flask
from sqlalchemy import text

from newsletter_service import create_app, preflight
from newsletter_service.cli import main
from newsletter_service.db import make_engine
from tests.conftest import skip_or_fail
from tests.servers import free_port
from tests.smtp_sink import SMTPSink

AppFactory = Callable[..., Flask]


@pytest.fixture
def migrated_sqlite(sqlite_template: Path, tmp_path: Path) -> str:
    """Return the URL of a SQLite database migrated to head."""
    path = tmp_path / "migrated.sqlite3"
    shutil.copy(sqlite_template, path)
    return f"sqlite:///{path}"


@pytest.fixture
def make_app(tmp_path: Path, migrated_sqlite: str) -> Iterator[AppFactory]:
    """Yield a factory of production-configured apps (override any setting)."""
    apps: list[Flask] = []

    def factory(**settings: Any) -> Flask:
        config = {"SECRET_KEY": "a-production-secret-key", "BASE_URL": "https://news.example.com",
                  "MAIL_FROM": "news@example.com", "DATABASE_URL": migrated_sqlite,
                  "MAILER": "console://", **settings}
        app = create_app(config)
        apps.append(app)
        return app

    yield factory
    for app in apps:
        app.extensions["db_engine"].dispose()


def checks(app: Flask) -> dict[str, preflight.Check]:
    with app.app_context():
        return {check.name: check for check in preflight.run_checks(app)}


def smtp_url(sink: SMTPSink, credentials: str = "", query: str = "") -> str:
    return f"smtp://{credentials}{sink.host}:{sink.port}{query}"


def test_a_complete_deployment_passes_every_check(make_app: AppFactory,
                                                  make_smtp_sink: Callable[..., SMTPSink]) -> None:
    sink = make_smtp_sink(auth=("relay-user", "relay-pass"), tls="starttls")
    app = make_app(MAILER=smtp_url(sink, "relay-user:relay-pass@", "?starttls=true&verify=false"))
    results = checks(app)
    assert all(check.ok for check in results.values()), results
    assert sink.connections == 1 and sink.received == []  # it spoke to the relay, sent nothing
    assert "relay-pass" not in str(results)


@pytest.mark.postgres
def test_a_complete_postgresql_deployment_passes(make_app: AppFactory, postgres_url: str,
                                                 smtp_sink: SMTPSink) -> None:
    app = make_app(DATABASE_URL=postgres_url, MAILER=smtp_url(smtp_sink))
    results = checks(app)
    assert all(check.ok for check in results.values()), results
    assert "postgresql" in results["database"].message


def test_an_unmigrated_database_fails_and_says_to_upgrade(make_app: AppFactory,
                                                          tmp_path: Path) -> None:
    app = make_app(DATABASE_URL=f"sqlite:///{tmp_path / 'empty.sqlite3'}")
    database = checks(app)["database"]
    assert not database.ok
    assert "no schema" in database.message and "newsletter-service db upgrade" in database.message


def test_a_database_one_migration_behind_fails(make_app: AppFactory) -> None:
    app = make_app()
    with app.extensions["db_engine"].begin() as connection:
        connection.execute(text("UPDATE alembic_version SET version_num = '0001'"))
    database = checks(app)["database"]
    assert not database.ok and "schema is at 0001" in database.message


def test_a_database_that_does_not_answer_fails(make_app: AppFactory) -> None:
    app = make_app(DATABASE_URL=f"postgresql://nobody@127.0.0.1:{free_port()}/none")
    database = checks(app)["database"]
    assert not database.ok and "does not answer" in database.message


def test_a_relay_that_refuses_connections_fails(make_app: AppFactory) -> None:
    mailer = checks(make_app(MAILER=f"smtp://127.0.0.1:{free_port()}?timeout=3"))["mailer"]
    assert not mailer.ok and "connect" in mailer.message


def test_a_relay_that_refuses_the_login_fails(make_app: AppFactory,
                                              make_smtp_sink: Callable[..., SMTPSink]) -> None:
    sink = make_smtp_sink(auth=("relay-user", "relay-pass"))
    mailer = checks(make_app(MAILER=smtp_url(sink, "relay-user:wrong-pass@")))["mailer"]
    assert not mailer.ok and "535" in mailer.message
    assert "wrong-pass" not in mailer.message


@pytest.mark.parametrize("mailer_url", ["devmail://", "memory://"])
def test_a_mailer_that_delivers_nowhere_fails_outside_debug(make_app: AppFactory,
                                                            mailer_url: str) -> None:
    mailer = checks(make_app(MAILER=mailer_url))["mailer"]
    assert not mailer.ok and "never delivered" in mailer.message


@pytest.mark.parametrize(("settings", "complaint"), [
    ({"MAIL_FROM": "newsletter@localhost.localdomain"}, "NEWSLETTER_MAIL_FROM"),
    ({"DEBUG": True}, "debug mode is on"),
])
def test_incomplete_settings_fail(make_app: AppFactory, settings: dict[str, Any],
                                  complaint: str) -> None:
    configuration = checks(make_app(**settings))["configuration"]
    assert not configuration.ok and complaint in configuration.message


def test_a_shared_redis_that_answers_passes(make_app: AppFactory) -> None:
    result = preflight.check_rate_limit_storage("redis://127.0.0.1:6379/0")
    if not result.ok:
        skip_or_fail("redis", f"Redis at 127.0.0.1:6379 does not answer: {result.message}")
    assert checks(make_app(RATELIMIT_STORAGE_URI="redis://127.0.0.1:6379/0"))["rate limits"].ok


def test_a_shared_redis_that_does_not_answer_fails(make_app: AppFactory) -> None:
    app = make_app(RATELIMIT_STORAGE_URI=f"redis://127.0.0.1:{free_port()}/0")
    limits = checks(app)["rate limits"]
    assert not limits.ok and "redis://" in limits.message


# ---- the command: reads the environment as the app would ----------------------------------

def run_check(env: dict[str, str | None]) -> Any:
    base: dict[str, str | None] = {"FLASK_DEBUG": None, "FLASK_APP": None}
    return CliRunner().invoke(main, ["check"], env={**base, **env})


def production_env(database_url: str, mailer: str) -> dict[str, str | None]:
    return {"NEWSLETTER_SECRET_KEY": "a-production-secret-key",
            "NEWSLETTER_BASE_URL": "https://news.example.com",
            "NEWSLETTER_MAIL_FROM": "news@example.com",
            "NEWSLETTER_DATABASE_URL": database_url, "NEWSLETTER_MAILER": mailer}


def test_check_prints_a_line_per_check_and_exits_0(migrated_sqlite: str,
                                                   smtp_sink: SMTPSink) -> None:
    result = run_check(production_env(migrated_sqlite, smtp_url(smtp_sink)))
    assert result.exit_code == 0, result.output
    # Log lines (e.g. the start-up warning about in-memory rate limits) may come first.
    lines = [line for line in result.output.splitlines() if not line[:4].isdigit()]
    assert [line.split(":")[0] for line in lines[:4]] == [
        "✓ configuration", "✓ database", "✓ mailer", "✓ rate limits"]
    assert lines[-1] == "Ready."


def test_check_names_what_failed_and_exits_1(tmp_path: Path) -> None:
    env = production_env(f"sqlite:///{tmp_path / 'empty.sqlite3'}",
                         f"smtp://127.0.0.1:{free_port()}?timeout=3")
    result = run_check(env)
    assert result.exit_code == 1
    assert "✓ configuration:" in result.output
    assert "✗ database:" in result.output and "✗ mailer:" in result.output
    assert "Not ready: database, mailer." in result.output


@pytest.mark.parametrize("base_url", [None, "news.example.com"])
def test_check_fails_without_a_base_url(migrated_sqlite: str, base_url: str | None) -> None:
    # Whether the app refuses to start without it or starts and the check finds it missing,
    # the operator reads the same: configuration failed, for want of NEWSLETTER_BASE_URL.
    env = production_env(migrated_sqlite, "console://")
    result = run_check({**env, "NEWSLETTER_BASE_URL": base_url})
    assert result.exit_code == 1
    assert "✗ configuration:" in result.output and "NEWSLETTER_BASE_URL" in result.output
    assert "Traceback" not in result.output


def test_check_reports_an_app_that_refuses_to_start(migrated_sqlite: str) -> None:
    env = production_env(migrated_sqlite, "console://")
    result = run_check({**env, "NEWSLETTER_SECRET_KEY": None})
    assert result.exit_code == 1
    assert "✗ configuration: the app does not start: " in result.output
    assert "NEWSLETTER_SECRET_KEY is not set" in result.output
    assert "Traceback" not in result.output


# ---- /readyz: what a load balancer asks before sending traffic -----------------------------

def test_readyz_answers_200_on_a_migrated_database(make_app: AppFactory) -> None:
    response = make_app().test_client().get("/readyz")
    assert response.status_code == 200 and response.json == {"ok": True}


def test_readyz_answers_503_with_a_reason_before_migrating(make_app: AppFactory,
                                                           tmp_path: Path) -> None:
    app = make_app(DATABASE_URL=f"sqlite:///{tmp_path / 'empty.sqlite3'}")
    response = app.test_client().get("/readyz")
    assert response.status_code == 503
    assert response.json["ok"] is False and "db upgrade" in response.json["error"]
    assert app.test_client().get("/healthz").status_code == 200  # alive, just not ready


def test_readyz_answers_503_when_the_database_is_down(make_app: AppFactory) -> None:
    app = make_app()
    app.extensions["db_engine"] = make_engine(f"postgresql://nobody@127.0.0.1:{free_port()}/x")
    response = app.test_client().get("/readyz")
    assert response.status_code == 503 and "does not answer" in response.json["error"]
