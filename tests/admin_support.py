"""Helpers of the console and API tests: an admin, a logged-in client, a token."""

from __future__ import annotations

from flask import Flask
from flask.testing import FlaskClient

from newsletter_service import admins, api_tokens

PASSWORD = "correct horse battery staple"


def make_admin(app: Flask, email: str = "editor@example.com", password: str = PASSWORD) -> None:
    """Create an admin through the use case."""
    with app.app_context(), app.extensions["db_sessionmaker"]() as session:
        admins.create_admin(session, email, password)


def log_in(client: FlaskClient, email: str = "editor@example.com",
           password: str = PASSWORD) -> None:
    """Log ``client`` in (CSRF is off in these tests' app unless a test turns it on)."""
    response = client.post("/admin/login", data={"email": email, "password": password})
    assert response.status_code == 302, response.get_data(as_text=True)


def make_token(app: Flask, name: str = "ci") -> str:
    """Create an API token and return it."""
    with app.app_context(), app.extensions["db_sessionmaker"]() as session:
        return api_tokens.create_token(session, name)


def bearer(token: str) -> dict[str, str]:
    """Return the header that carries ``token``."""
    return {"Authorization": f"Bearer {token}"}
