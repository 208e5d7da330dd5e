"""Absolute URLs for emailed links: ``NEWSLETTER_BASE_URL``, else the request's host."""

from __future__ import annotations

from flask import current_app, has_request_context, request

DEV_BASE_URL = "http://127.0.0.1:5000"


def base_url() -> str:
    """Return the public root URL, without a trailing slash."""
    configured = current_app.config.get("BASE_URL")
    if configured:
        return str(configured).rstrip("/")
    if has_request_context():
        return request.url_root.rstrip("/")
    if current_app.debug or current_app.testing:
        return DEV_BASE_URL
    raise RuntimeError("Set NEWSLETTER_BASE_URL: links in emails sent from the CLI need it.")


def confirm_url(token: str) -> str:
    """Return the link that confirms a subscription."""
    return f"{base_url()}/confirm/{token}"


def unsubscribe_url(token: str) -> str:
    """Return the link that unsubscribes (also the RFC 8058 one-click target)."""
    return f"{base_url()}/unsubscribe/{token}"
