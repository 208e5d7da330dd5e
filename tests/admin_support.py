"""Helpers of the console and API tests: an admin, a logged-in client, a token.

The test app runs with CSRF on, as production does: console forms are posted the way a
browser posts them, with the token from a console page the client has loaded.
"""

from __future__ import annotations

import re
from typing import Any

from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from newsletter_service import admins, api_tokens

from .factories import open_session

PASSWORD = "correct horse battery staple"
CSRF_FIELD = re.compile(r'name="csrf_token"[^>]*value="([^"]+)"')


def make_admin(app: Flask, email: str = "editor@example.com", password: str = PASSWORD) -> None:
    """Create an admin through the use case."""
    with open_session(app) as session:
        admins.create_admin(session, email, password)


def csrf_token(client: FlaskClient, page: str = "/admin/login") -> str:
    """Return the CSRF token of a console page, as a browser that loaded it would have it."""
    found = CSRF_FIELD.search(client.get(page).get_data(as_text=True))
    assert found, f"no CSRF token on {page}"
    return found.group(1)


def form_post(client: FlaskClient, url: str, data: dict[str, Any] | None = None,
              page: str = "/admin/login", **kwargs: Any) -> TestResponse:
    """POST a console form with the CSRF token of ``page`` (a page the admin could load)."""
    fields = {"csrf_token": csrf_token(client, page), **(data or {})}
    return client.post(url, data=fields, **kwargs)


def log_in(client: FlaskClient, email: str = "editor@example.com",
           password: str = PASSWORD) -> None:
    """Log ``client`` in through the login form, CSRF token and all."""
    response = form_post(client, "/admin/login", {"email": email, "password": password})
    assert response.status_code == 302, response.get_data(as_text=True)


def make_token(app: Flask, name: str = "ci") -> str:
    """Create an API token and return it."""
    with open_session(app) as session:
        return api_tokens.create_token(session, name)


def bearer(token: str) -> dict[str, str]:
    """Return the header that carries ``token``."""
    return {"Authorization": f"Bearer {token}"}
