"""Console sessions end: at logout, when idle, with a new password or a disabled admin."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from newsletter_service import create_app

from .admin_support import PASSWORD, form_post, log_in, make_admin
from .conftest import base_config
from .factories import CONFIRM_LINK, make_newsletter, outbox_rows, subscribe

NEW_PASSWORD = "a brand new passphrase here"


def copy_session(source: FlaskClient, target: FlaskClient) -> None:
    """Give ``target`` the session cookie of ``source``, as a thief who copied it would."""
    cookie = source.get_cookie("session")
    assert cookie is not None
    target.set_cookie("session", cookie.value)


@contextmanager
def twin(app: Flask, tmp_path: Path, **keys: Any) -> Iterator[Flask]:
    """Run a second app on ``app``'s database with other keys: the same service, rotated."""
    other = create_app({**base_config(app.config["DATABASE_URL"], tmp_path), **keys})
    try:
        yield other
    finally:
        other.extensions["db_engine"].dispose()


def test_a_cookie_copied_before_logout_is_dead_after_it(db_app: Flask) -> None:
    make_admin(db_app)
    client, thief = db_app.test_client(), db_app.test_client()
    log_in(client)
    copy_session(client, thief)
    assert thief.get("/admin/").status_code == 200
    form_post(client, "/admin/logout", page="/admin/")
    assert thief.get("/admin/").status_code == 302
    assert client.get("/admin/").status_code == 302


@pytest.mark.parametrize("key, age", [("seen", 30 * 60 + 5), ("since", 12 * 3600 + 5)])
def test_an_idle_or_old_session_has_ended(app: Flask, client: FlaskClient, key: str,
                                          age: int) -> None:
    make_admin(app)
    log_in(client)
    assert client.get("/admin/").status_code == 200
    with client.session_transaction() as cookie:
        cookie[key] = int(time.time()) - age
    response = client.get("/admin/")
    assert response.status_code == 302 and "/admin/login" in response.location


def test_using_the_console_keeps_the_session_alive(app: Flask, client: FlaskClient) -> None:
    make_admin(app)
    log_in(client)
    with client.session_transaction() as cookie:
        cookie["seen"] = int(time.time()) - 29 * 60
    assert client.get("/admin/").status_code == 200
    with client.session_transaction() as cookie:
        assert cookie["seen"] >= int(time.time()) - 5


def test_a_disabled_admin_is_logged_out_and_cannot_log_in(db_app: Flask) -> None:
    make_admin(db_app)
    client, runner = db_app.test_client(), db_app.test_cli_runner()
    log_in(client)
    result = runner.invoke(args=["admins", "disable", "Editor@Example.com"])
    assert result.exit_code == 0 and "Disabled admin editor@example.com." in result.output
    assert client.get("/admin/").status_code == 302
    refused = form_post(client, "/admin/login", {"email": "editor@example.com",
                                                 "password": PASSWORD})
    assert refused.status_code == 200 and "Email or password is wrong." in refused.text
    assert runner.invoke(args=["admins", "enable", "editor@example.com"]).exit_code == 0
    log_in(client)


def test_a_new_password_ends_sessions_and_replaces_the_old_one(db_app: Flask) -> None:
    make_admin(db_app)
    client, runner = db_app.test_client(), db_app.test_cli_runner()
    log_in(client)
    result = runner.invoke(args=["admins", "set-password", "editor@example.com"],
                           input=f"{NEW_PASSWORD}\n{NEW_PASSWORD}\n")
    assert result.exit_code == 0, result.output
    assert NEW_PASSWORD not in result.output
    assert client.get("/admin/").status_code == 302
    old = form_post(client, "/admin/login", {"email": "editor@example.com",
                                             "password": PASSWORD})
    assert "Email or password is wrong." in old.text
    log_in(client, password=NEW_PASSWORD)


@pytest.mark.parametrize("args, message", [
    (["admins", "disable", "nobody@example.com"], "There is no admin nobody@example.com."),
    (["admins", "enable", "nobody@example.com"], "There is no admin nobody@example.com."),
    (["admins", "set-password", "editor@example.com", "--password-stdin"], "12 to 1024"),
])
def test_admins_commands_refuse_what_they_cannot_do(app: Flask, args: list[str],
                                                    message: str) -> None:
    make_admin(app)
    result = app.test_cli_runner().invoke(args=args, input="short\n")
    assert result.exit_code == 1 and message in result.output


def test_sessions_and_csrf_are_not_signed_with_the_key_of_emailed_links(app: Flask) -> None:
    assert app.config["SESSION_SECRET_KEY"] not in ("", None, app.config["SECRET_KEY"])
    assert app.config["WTF_CSRF_SECRET_KEY"] == app.config["SESSION_SECRET_KEY"]


def test_rotating_the_session_key_leaves_emailed_links_working(app: Flask,
                                                               tmp_path: Path) -> None:
    make_newsletter(app)
    subscribe(app, "reader@example.com")
    [email] = outbox_rows(app)
    found = CONFIRM_LINK.search(email.message.decode().replace("=\r\n", "").replace("=\n", ""))
    assert found
    with twin(app, tmp_path, SESSION_SECRET_KEY="a new session key") as rotated:
        page = rotated.test_client().get(found.group(1))
    assert page.status_code == 200 and "Confirm" in page.text


def test_rotating_secret_key_keeps_the_console_session_when_its_key_is_set(
        app: Flask, tmp_path: Path) -> None:
    keys = {"SESSION_SECRET_KEY": "the session key"}
    make_admin(app)
    with twin(app, tmp_path, **keys) as before, \
            twin(app, tmp_path, SECRET_KEY="a rotated secret key", **keys) as after:
        client, later = before.test_client(), after.test_client()
        log_in(client)
        copy_session(client, later)
        assert later.get("/admin/").status_code == 200
