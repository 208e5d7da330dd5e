"""Console login: hashed passwords, CSRF, one message for every failure, slowed guessing."""

from __future__ import annotations

import re

import pytest
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner

from newsletter_service.models import Admin

from .admin_support import PASSWORD, csrf_token, form_post, log_in, make_admin
from .factories import all_rows


def test_password_is_stored_as_argon2id_at_owasp_parameters(app: Flask) -> None:
    make_admin(app)
    [admin] = all_rows(app, Admin)
    assert admin.password_hash.startswith("$argon2id$v=19$m=19456,t=2,p=1$")
    assert PASSWORD not in admin.password_hash


def test_login_with_csrf_token_reaches_the_dashboard(app: Flask, client: FlaskClient) -> None:
    make_admin(app)
    token = csrf_token(client)
    response = form_post(client, "/admin/login", {"email": "Editor@Example.com",
                                                  "password": PASSWORD, "csrf_token": token})
    assert response.status_code == 302 and response.location.endswith("/admin/")
    assert client.get("/admin/").status_code == 200
    [admin] = all_rows(app, Admin)
    assert admin.last_login_at is not None


def test_login_without_csrf_token_is_refused(app: Flask, client: FlaskClient) -> None:
    make_admin(app)
    response = client.post("/admin/login", data={"email": "editor@example.com",
                                                  "password": PASSWORD})
    assert response.status_code == 400
    assert client.get("/admin/").status_code == 302


def test_logout_is_a_post_withcsrf_token(app: Flask, client: FlaskClient) -> None:
    make_admin(app)
    log_in(client)
    assert client.post("/admin/logout").status_code == 400  # no token: a forged logout
    assert client.get("/admin/logout").status_code == 405
    client.post("/admin/logout", data={"csrf_token": csrf_token(client, "/admin/")})
    assert client.get("/admin/").status_code == 302


@pytest.mark.parametrize("email, password", [
    ("editor@example.com", "wrong password!"),
    ("nobody@example.com", PASSWORD),
])
def test_failed_login_does_not_say_which_part_was_wrong(app: Flask, client: FlaskClient,
                                                        email: str, password: str) -> None:
    make_admin(app)
    response = form_post(client, "/admin/login", {"email": email, "password": password})
    assert "Email or password is wrong." in response.get_data(as_text=True)
    assert client.get("/admin/").status_code == 302


def test_repeated_failures_are_refused_even_with_the_right_password(
        app: Flask, client: FlaskClient) -> None:
    make_admin(app)
    for _ in range(5):
        form_post(client, "/admin/login", {"email": "editor@example.com", "password": "nope"})
    response = form_post(client, "/admin/login", {"email": "editor@example.com",
                                                  "password": PASSWORD})
    assert response.status_code == 429
    assert int(response.headers["Retry-After"]) > 0
    assert "Too many failed logins" in response.get_data(as_text=True)
    assert client.get("/admin/").status_code == 302


def test_a_successful_login_forgets_earlier_failures(app: Flask, client: FlaskClient) -> None:
    make_admin(app)
    for _ in range(4):
        form_post(client, "/admin/login", {"email": "editor@example.com", "password": "nope"})
    log_in(client)
    client.post("/admin/logout")
    for _ in range(4):
        form_post(client, "/admin/login", {"email": "editor@example.com", "password": "nope"})
    log_in(client)


def test_session_cookie_is_httponly_and_lax(app: Flask, client: FlaskClient) -> None:
    make_admin(app)
    response = form_post(client, "/admin/login", {"email": "editor@example.com",
                                                  "password": PASSWORD})
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert "Secure" in cookie  # the test app runs production's settings


def test_session_cookie_is_secure_outside_debug_and_testing(tmp_path: object) -> None:
    from newsletter_service import create_app

    production = create_app({"SECRET_KEY": "x" * 32, "DATABASE_URL": "sqlite://",
                             "MAILER": "memory://", "BASE_URL": "https://news.example.com"})
    assert production.config["SESSION_COOKIE_SECURE"] is True


def test_login_redirects_only_to_console_pages(app: Flask, client: FlaskClient) -> None:
    make_admin(app)
    for target, expected in [("/admin/subscribers/", "/admin/subscribers/"),
                             ("https://evil.example/", "/admin/"), ("//evil.example", "/admin/")]:
        response = form_post(client, f"/admin/login?next={target}",
                             {"email": "editor@example.com", "password": PASSWORD})
        assert response.location == expected
        form_post(client, "/admin/logout", page="/admin/")


def _sample_path(rule: str) -> str:
    """Fill a URL rule's variables with values its converters accept."""
    path = re.sub(r"<int:\w+>", "1", rule)
    path = re.sub(r"<any\(\s*([^,)\s]+)[^>]*>", r"\1", path)  # the first choice
    return re.sub(r"<(?:string:)?\w+>", "daily", path)


def test_every_console_page_needs_a_login(app: Flask, client: FlaskClient) -> None:
    rules = [r for r in app.url_map.iter_rules()
             if r.rule.startswith("/admin") and r.endpoint != "admin_auth.login"
             and r.endpoint != "admin_auth.logout"]
    assert len(rules) >= 10
    token = csrf_token(client)  # a POST with a valid token still needs the login
    for rule in rules:
        path = _sample_path(rule.rule)
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            response = client.open(path, method=method, data={"csrf_token": token})
            assert response.status_code == 302, (method, path)
            assert "/admin/login" in response.location


def test_admins_create_asks_for_the_password_twice(app: Flask, runner: FlaskCliRunner) -> None:
    result = runner.invoke(args=["admins", "create", "Chief@Example.com"],
                           input=f"{PASSWORD}\n{PASSWORD}\n")
    assert result.exit_code == 0, result.output
    assert "Created admin chief@example.com." in result.output
    assert PASSWORD not in result.output


def test_admins_create_reads_the_password_from_stdin(app: Flask, client: FlaskClient,
                                                     runner: FlaskCliRunner) -> None:
    result = runner.invoke(args=["admins", "create", "ops@example.com", "--password-stdin"],
                           input=f"{PASSWORD}\n")
    assert result.exit_code == 0, result.output
    log_in(client, "ops@example.com")


@pytest.mark.parametrize("email, password, message", [
    ("not-an-address", PASSWORD, "@-sign"),
    ("ops@example.com", "short", "12 to 1024"),
])
def test_admins_create_refuses_bad_input(runner: FlaskCliRunner, email: str, password: str,
                                         message: str) -> None:
    result = runner.invoke(args=["admins", "create", email, "--password-stdin"],
                           input=f"{password}\n")
    assert result.exit_code == 1 and message in result.output


def test_admins_create_refuses_a_second_admin_with_the_address(runner: FlaskCliRunner) -> None:
    args = ["admins", "create", "ops@example.com", "--password-stdin"]
    runner.invoke(args=args, input=f"{PASSWORD}\n")
    again = runner.invoke(args=args, input=f"{PASSWORD}\n")
    assert again.exit_code == 1 and "exists already" in again.output
