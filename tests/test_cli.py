"""The command line: db upgrade, newsletters add/list, the demo seed."""

from __future__ import annotations

import subprocess
import sys
import uuid
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskCliRunner
from sqlalchemy import text

from newsletter_service.db import make_engine
from newsletter_service.models import Newsletter

from .factories import all_rows


def test_newsletters_add_and_list(app: Flask, runner: FlaskCliRunner) -> None:
    result = runner.invoke(args=["newsletters", "add", "tech", "--name", "Tech Weekly"])
    assert result.exit_code == 0, result.output
    assert "Added tech: Tech Weekly" in result.output
    [newsletter] = all_rows(app, Newsletter)
    assert newsletter.asks_name is False and newsletter.consent_text is None
    listing = runner.invoke(args=["newsletters", "list"])
    assert "tech\tTech Weekly\tactive" in listing.output


def test_newsletters_add_refuses_a_taken_or_bad_slug(runner: FlaskCliRunner) -> None:
    runner.invoke(args=["newsletters", "add", "tech", "--name", "Tech"])
    taken = runner.invoke(args=["newsletters", "add", "tech", "--name", "Tech again"])
    assert taken.exit_code == 1 and "exists already" in taken.output
    bad = runner.invoke(args=["newsletters", "add", "Not A Slug", "--name", "X"])
    assert bad.exit_code == 1 and "not a valid slug" in bad.output


def test_newsletters_add_refuses_control_characters_in_the_name(app: Flask,
                                                                runner: FlaskCliRunner) -> None:
    result = runner.invoke(args=["newsletters", "add", "tech", "--name", "Tech\r\nBcc: x@y.z"])
    assert result.exit_code == 1 and "one line" in result.output
    assert all_rows(app, Newsletter) == []


def test_seed_demo_only_when_empty(app: Flask, runner: FlaskCliRunner) -> None:
    first = runner.invoke(args=["newsletters", "seed-demo"])
    assert "Added 4 demo newsletters." in first.output
    second = runner.invoke(args=["newsletters", "seed-demo"])
    assert "none added" in second.output
    assert len(all_rows(app, Newsletter)) == 4


def run_cli(*args: str, database: Path | str,
            configured: bool = True) -> subprocess.CompletedProcess[str]:
    """Run the installed console script on ``database`` (a SQLite file, or a URL);
    ``configured``: as production needs."""
    url = database if isinstance(database, str) else f"sqlite:///{database}"
    env = {"NEWSLETTER_DATABASE_URL": url, "PATH": "/usr/bin:/bin"}
    if configured:
        env |= {"NEWSLETTER_SECRET_KEY": "x" * 32, "NEWSLETTER_MAILER": "console://",
                "NEWSLETTER_BASE_URL": "https://news.example.com"}
    script = Path(sys.executable).parent / "newsletter-service"
    return subprocess.run([str(script), *args], env=env, capture_output=True, text=True,
                          timeout=60, check=False)


def test_console_script_upgrades_a_fresh_database(tmp_path: Path) -> None:
    database = tmp_path / "fresh.sqlite3"
    result = run_cli("db", "upgrade", database=database)
    assert result.returncode == 0, result.stderr
    assert "Database is up to date." in result.stdout
    listed = run_cli("newsletters", "list", database=database)
    assert listed.returncode == 0 and listed.stdout == ""


def test_app_refuses_to_start_without_a_secret_key_outside_debug(tmp_path: Path) -> None:
    result = run_cli("newsletters", "list", database=tmp_path / "x.sqlite3", configured=False)
    assert result.returncode != 0
    assert "NEWSLETTER_SECRET_KEY is not set" in result.stderr
    # Said once, plainly: no traceback, and the command is not called unknown.
    assert "Traceback" not in result.stderr and "No such command" not in result.stderr


def test_help_without_settings_says_what_is_missing(tmp_path: Path) -> None:
    result = run_cli("--help", database=tmp_path / "x.sqlite3", configured=False)
    assert result.returncode == 0
    assert "Usage: newsletter-service" in result.stdout and "  check " in result.stdout
    assert "NEWSLETTER_SECRET_KEY is not set" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_command_on_a_database_without_tables_says_to_upgrade_it(tmp_path: Path) -> None:
    result = run_cli("newsletters", "list", database=tmp_path / "empty.sqlite3")
    assert result.returncode == 1
    assert "run `newsletter-service db upgrade` first" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.postgres
def test_a_command_on_an_empty_postgresql_database_says_to_upgrade_it(
        postgres_url: str) -> None:
    # PostgreSQL says "relation ... does not exist" (UndefinedTable), not SQLite's words.
    admin = make_engine(postgres_url, isolation_level="AUTOCOMMIT")
    empty = f"newsletter_empty_{uuid.uuid4().hex[:12]}"
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{empty}"'))
    try:
        result = run_cli("subscribers", "export", "daily",
                         database=admin.url.set(database=empty).render_as_string(False))
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{empty}" WITH (FORCE)'))
        admin.dispose()
    assert result.returncode == 1, result.stderr
    assert "run `newsletter-service db upgrade` first" in result.stderr
    assert "Traceback" not in result.stderr
