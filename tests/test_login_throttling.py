"""Guessing passwords is slowed per address and IP, without letting anyone lock an admin out."""

from __future__ import annotations

import logging
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from flask import Flask
from flask.testing import FlaskClient

from newsletter_service import admins

from .admin_support import PASSWORD, csrf_token, form_post, make_admin
from .factories import open_session

ATTACKER = {"REMOTE_ADDR": "203.0.113.66"}
EDITOR = {"REMOTE_ADDR": "198.51.100.7"}


def _try(client: FlaskClient, password: str, environ: dict[str, str],
         email: str = "editor@example.com") -> int:
    response = form_post(client, "/admin/login", {"email": email, "password": password},
                         environ_base=environ)
    return response.status_code


def test_failures_from_one_ip_do_not_lock_the_admin_out_elsewhere(db_app: Flask) -> None:
    make_admin(db_app)
    attacker, editor = db_app.test_client(), db_app.test_client()
    for _ in range(5):
        assert _try(attacker, "wrong password", ATTACKER) == 200
    assert _try(attacker, PASSWORD, ATTACKER) == 429  # the guesser's client stays refused
    assert _try(editor, PASSWORD, EDITOR) == 302
    assert editor.get("/admin/").status_code == 200


def test_one_ip_guessing_many_addresses_is_refused(db_app: Flask) -> None:
    make_admin(db_app)
    client = db_app.test_client()
    limit = db_app.config["ADMIN_LOGIN_MAX_FAILURES_PER_IP"]
    for index in range(limit):
        assert _try(client, "wrong password", ATTACKER, f"guess{index}@example.com") == 200
    assert _try(client, PASSWORD, ATTACKER) == 429
    assert _try(db_app.test_client(), PASSWORD, EDITOR) == 302


def test_a_lockout_is_logged_without_the_address(app: Flask, client: FlaskClient,
                                                 caplog: pytest.LogCaptureFixture) -> None:
    make_admin(app)
    with caplog.at_level(logging.WARNING, logger="newsletter_service.admins"):
        for _ in range(5):
            _try(client, "wrong password", ATTACKER)
    [record] = [r for r in caplog.records if r.name == "newsletter_service.admins"]
    assert "203.0.113.66" in record.getMessage() and "admin 1" in record.getMessage()
    assert "editor@example.com" not in caplog.text and "wrong password" not in caplog.text


# The per-IP limits are off in tests (one client IP); this test is about one of them.
@pytest.mark.app_config(RATELIMIT_ENABLED=True, RATELIMIT_LOGIN="3 per minute")
def test_loading_the_login_page_does_not_count_toward_the_rate_limit(
        client: FlaskClient) -> None:
    assert [client.get("/admin/login").status_code for _ in range(6)] == [200] * 6
    token = csrf_token(client)
    codes = [client.post("/admin/login", data={"csrf_token": token, "email": f"x{i}@example.com",
                                               "password": "nope"}).status_code
             for i in range(4)]
    assert codes == [200, 200, 200, 429]


@pytest.mark.postgres
def test_parallel_wrong_guesses_verify_no_more_passwords_than_the_limit(
        pg_app: Flask, monkeypatch: pytest.MonkeyPatch) -> None:
    make_admin(pg_app)
    verified: list[bool] = []
    real_verify = admins._verify

    def counting_verify(password_hash: str, password: str) -> bool:
        verified.append(True)  # list.append is atomic: a thread-safe count
        return real_verify(password_hash, password)

    monkeypatch.setattr(admins, "_verify", counting_verify)
    barrier = threading.Barrier(8)

    def guess(index: int) -> str:
        if index < 8:
            barrier.wait()
        with open_session(pg_app) as session:
            try:
                admins.log_in(session, "editor@example.com", f"guess {index}", "203.0.113.66")
            except admins.LoginFailed:
                return "failed"
            except admins.TooManyAttempts:
                return "refused"
        return "in"

    with ThreadPoolExecutor(max_workers=8) as pool:
        outcomes = list(pool.map(guess, range(40)))
    # Before the reservation, 10 of 40 such guesses were checked against a limit of 5.
    assert len(verified) == pg_app.config["ADMIN_LOGIN_MAX_FAILURES"]
    assert outcomes.count("failed") == len(verified)
    assert outcomes.count("refused") == 40 - len(verified)
