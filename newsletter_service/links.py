"""Absolute URLs for emailed links, always from ``NEWSLETTER_BASE_URL``.

Never from the request: a signup sent with ``Host: evil.example`` (or a forged
``X-Forwarded-Host``) must not write links to another site into a reader's mailbox.
Outside debug the app refuses to start without it (config.py); in debug the
development server's address stands in.
"""

from __future__ import annotations

from flask import current_app

DEV_BASE_URL = "http://127.0.0.1:5000"


def base_url() -> str:
    """Return the public root URL, without a trailing slash."""
    configured = current_app.config.get("BASE_URL")
    return str(configured or DEV_BASE_URL).rstrip("/")


def confirm_url(token: str) -> str:
    """Return the link that confirms a subscription."""
    return f"{base_url()}/confirm/{token}"


def manage_url(token: str) -> str:
    """Return a reader's preference-centre link from their ``manage_token``."""
    return f"{base_url()}/preferences/{token}"


def unsubscribe_url(token: str) -> str:
    """Return the link that unsubscribes (also the RFC 8058 one-click target)."""
    return f"{base_url()}/unsubscribe/{token}"


def signing_key() -> str:
    """Return the key that signs the tokens in emailed links (``SECRET_KEY``)."""
    return str(current_app.config["SECRET_KEY"])
