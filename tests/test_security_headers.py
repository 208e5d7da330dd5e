"""Security headers on every page: a strict CSP, framing rules, no inline scripts."""

from __future__ import annotations

import re

import pytest
from flask import Flask
from flask.testing import FlaskClient

from .factories import make_newsletter

PAGES = ["/", "/newsletters/daily", "/newsletters/daily/embed-code", "/confirm/bad-token",
         "/unsubscribe/bad-token", "/healthz", "/no-such-page", "/embed/daily", "/admin/login"]


@pytest.fixture(autouse=True)
def newsletter(app: Flask) -> None:
    make_newsletter(app, "daily", "The Daily", allowed_origins="https://publisher.example")


@pytest.mark.parametrize("path", PAGES)
def test_every_page_has_a_strict_policy(client: FlaskClient, path: str) -> None:
    response = client.get(path)
    policy = response.headers["Content-Security-Policy"]
    assert "default-src 'self'" in policy and "script-src 'self'" in policy
    assert "'unsafe-inline'" not in policy and "object-src 'none'" in policy
    assert "frame-ancestors" in policy
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    expected = {"/confirm/bad-token": "no-referrer", "/unsubscribe/bad-token": "no-referrer",
                "/admin/login": "same-origin"}.get(path, "strict-origin-when-cross-origin")
    assert response.headers["Referrer-Policy"] == expected


@pytest.mark.parametrize("path", [p for p in PAGES if p != "/healthz"])
def test_pages_have_no_inline_scripts_or_handlers(client: FlaskClient, path: str) -> None:
    page = client.get(path).get_data(as_text=True)
    assert not re.search(r"<script(?![^>]*\bsrc=)[^>]*>", page)
    assert not re.search(r"\son[a-z]+\s*=", page)  # onclick= and friends


def test_only_the_embed_page_may_be_framed_and_only_by_allowed_origins(
        client: FlaskClient) -> None:
    framed = client.get("/embed/daily").headers
    assert "frame-ancestors 'self' https://publisher.example" in framed["Content-Security-Policy"]
    assert "X-Frame-Options" not in framed
    page = client.get("/newsletters/daily").headers
    assert "frame-ancestors 'none'" in page["Content-Security-Policy"]
    assert page["X-Frame-Options"] == "DENY"


@pytest.mark.parametrize("path", ["/confirm/some-token", "/unsubscribe/some-token"])
def test_pages_behind_emailed_links_send_no_referrer(client: FlaskClient, path: str) -> None:
    assert client.get(path).headers["Referrer-Policy"] == "no-referrer"
