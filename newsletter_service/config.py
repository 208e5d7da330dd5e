"""Configuration: embedded defaults, then ``NEWSLETTER_*`` environment variables, then tests."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from flask import Flask

DEFAULTS: dict[str, Any] = {
    "DATABASE_URL": None,  # None: a SQLite file in the instance folder
    "MAILER": None,  # required outside debug; in debug, the dev mailbox (devmail://)
    "BASE_URL": None,  # required outside debug: emailed links never follow the Host header
    "MAIL_FROM": "newsletter@localhost.localdomain",
    "MAIL_REPLY_TO": None,
    "CHECK_DELIVERABILITY": False,  # DNS lookups of the address's domain
    # Double opt-in
    "CONFIRM_MAX_AGE": 7 * 24 * 3600,  # seconds a confirm link stays valid
    "ONE_CLICK_CONFIRM_DELAY": 300,  # seconds after sending before a GET may confirm
    "CONFIRM_RESEND_COOLDOWN": 300,  # seconds between two confirmation emails to one subscription
    "CONFIRM_MAX_PER_DAY": 5,  # confirmation emails to one mailbox per 24 hours, all newsletters
    # Confirmation emails to one recipient domain per hour, the whole service: more wait.
    "CONFIRM_MAX_PER_DOMAIN_PER_HOUR": 1000,
    # A link page opened sooner than this after its email was queued (or by a robot) may be
    # a mail scanner's: it offers no button that confirms or cancels (scanners.py).
    "CONFIRM_SCANNER_SECONDS": 60,
    "NOT_ME_DAYS": 90,  # "this wasn't me": no confirmation emails to that mailbox this long
    "PURGE_PENDING_AFTER_DAYS": 30,
    # Outbox worker
    "WORKER_BATCH_SIZE": 100,
    "WORKER_MAX_ATTEMPTS": 8,
    "WORKER_BACKOFF_SECONDS": 30,  # first retry; doubles each attempt
    "WORKER_LEASE_SECONDS": 300,  # a claimed message returns to the queue after this
    "WORKER_POLL_SECONDS": 2.0,
    # Signups a busy web process left: looked for often, so that their emails go soon.
    "WORKER_SIGNUP_POLL_SECONDS": 0.25,
    # Webhooks and sync targets (their own batch in the worker, the worker's backoff)
    "WEBHOOK_TIMEOUT_SECONDS": 10,  # per request: a slow receiver costs at most this a batch
    "WEBHOOK_BATCH_SIZE": 50,
    "WEBHOOK_MAX_ATTEMPTS": 15,  # with the doubling backoff from 30 s: about eleven days
    "WEBHOOK_PAUSE_AFTER_SECONDS": 3 * 24 * 3600,  # an endpoint failing this long is paused
    # Web
    # A web process answers with a newsletter's settings read this long ago at most: its
    # own edits apply at once, other processes' within this (web/lookup.py).
    "SETTINGS_CACHE_SECONDS": 1.0,
    "MAX_CONTENT_LENGTH": 64 * 1024,
    "MAX_FORM_MEMORY_SIZE": 64 * 1024,
    "RATELIMIT_STORAGE_URI": "memory://",
    "RATELIMIT_ENABLED": True,
    "RATELIMIT_KEY_PREFIX": "newsletter-service",
    "RATELIMIT_SIGNUP": "10 per minute;60 per hour",  # per IP: signups and new-link requests
    "RATELIMIT_LINKS": "30 per minute",  # per IP: confirm and unsubscribe pages
    "RATELIMIT_LOGIN": "10 per minute",  # per IP: admin login attempts
    "RATELIMIT_API": "300 per minute",  # per IP: the token API
    "TRUSTED_PROXIES": 0,  # proxies in front that set X-Forwarded-For (werkzeug ProxyFix)
    # Operations: logs and metrics (logs.py, metrics.py)
    "LOG_FORMAT": "text",  # or "json": one JSON object a line, for log shippers
    "LOG_LEVEL": "INFO",
    "METRICS_TOKEN": None,  # set: GET /metrics answers ``Authorization: Bearer <token>``
    # Bots: a honeypot field and a minimum time between showing a form and its post
    "MIN_FILL_SECONDS": 2.0,
    # Optional challenges, switched on per newsletter (challenges.py)
    # The most work a browser may have to do; on average half of it. challenge.js checked
    # 50k-120k numbers a second on one shared server core in headless Chromium, a phone
    # maybe a third to a half of that: 1-2 s, while the reader types. (ALTCHA's default of
    # 1,000,000 assumes its own widget, which hashes in parallel workers.)
    "CHALLENGE_POW_MAX_NUMBER": 100_000,
    "CHALLENGE_TTL_SECONDS": 900,
    "TURNSTILE_SITE_KEY": None,
    "TURNSTILE_SECRET_KEY": None,
    "TURNSTILE_VERIFY_URL": "https://challenges.cloudflare.com/turnstile/v0/siteverify",
    "HCAPTCHA_SITE_KEY": None,
    "HCAPTCHA_SECRET_KEY": None,
    "HCAPTCHA_VERIFY_URL": "https://api.hcaptcha.com/siteverify",
    # Admin console
    "SESSION_COOKIE_HTTPONLY": True,
    "SESSION_COOKIE_SAMESITE": "Lax",
    "SESSION_COOKIE_SECURE": None,  # None: secure unless in debug or testing (plain http)
    "ADMIN_UPLOAD_MAX_BYTES": 32 * 1024 * 1024,  # the console's CSV import, only there
    "ADMIN_LOGIN_MAX_FAILURES": 5,  # failed logins per address and IP within the window ...
    "ADMIN_LOGIN_MAX_FAILURES_PER_IP": 20,  # ... or per IP, whatever the address ...
    "ADMIN_LOGIN_WINDOW_SECONDS": 15 * 60,  # ... before that client is refused for a while
    "ADMIN_IDLE_TIMEOUT_SECONDS": 30 * 60,  # a console session unused this long has ended
    "PERMANENT_SESSION_LIFETIME": 12 * 3600,  # and any console session ends after this
    # Signs console sessions and CSRF tokens; None: derived from SECRET_KEY. Set, it lets
    # either key be rotated without breaking the other (emailed links use SECRET_KEY).
    "SESSION_SECRET_KEY": None,
}


def load_config(app: Flask, test_config: Mapping[str, Any] | None) -> None:
    """Fill ``app.config`` from defaults, the environment and the test mapping."""
    app.config.from_mapping(DEFAULTS)
    app.config.from_prefixed_env("NEWSLETTER")
    if test_config is not None:
        app.config.from_mapping(test_config)
    if not app.config["DATABASE_URL"]:
        app.config["DATABASE_URL"] = f"sqlite:///{Path(app.instance_path) / 'newsletter.sqlite3'}"
    if app.config["SESSION_COOKIE_SECURE"] is None:
        app.config["SESSION_COOKIE_SECURE"] = not (app.debug or app.testing)
    if not app.config.get("SECRET_KEY"):
        app.config["SECRET_KEY"] = _secret_key(app)
    _require_production_settings(app)


# What an operator must set outside debug, and why; in debug each has a default.
REQUIRED_OUTSIDE_DEBUG = {
    "BASE_URL": "the public URL of emailed links (never taken from a request's Host header), "
                "e.g. https://news.example.com",
    "MAILER": "where emails go, e.g. smtp://user:pass@relay.example.com:587?starttls=true "
              "(the dev mailbox is for debug only)",
}
DEBUG_DEFAULTS = {"MAILER": "devmail://"}


def _require_production_settings(app: Flask) -> None:
    """Fill the debug defaults, or refuse to start without what production needs."""
    missing = [key for key in REQUIRED_OUTSIDE_DEBUG if not app.config.get(key)]
    if app.debug:
        for key in missing:
            app.config[key] = DEBUG_DEFAULTS.get(key)
        return
    if missing:
        lines = [f"NEWSLETTER_{key} is not set: {REQUIRED_OUTSIDE_DEBUG[key]}." for key in missing]
        raise RuntimeError(" ".join(lines) + " (Outside debug mode both are required.)")
    session_key = app.config["SESSION_SECRET_KEY"] or _derived_key(app, "session")
    app.config["SESSION_SECRET_KEY"] = app.config["WTF_CSRF_SECRET_KEY"] = str(session_key)


def _derived_key(app: Flask, purpose: str) -> str:
    """Return a key for ``purpose`` derived from SECRET_KEY (HMAC-SHA256: one-way)."""
    secret = str(app.config["SECRET_KEY"]).encode()
    return hmac.new(secret, f"newsletter-service.{purpose}".encode(), hashlib.sha256).hexdigest()


def _secret_key(app: Flask) -> str:
    """Return the instance folder's generated key; outside debug a key must be configured."""
    if not (app.debug or app.testing):
        raise RuntimeError(
            "NEWSLETTER_SECRET_KEY is not set. Generate one with "
            "`python -c 'import secrets; print(secrets.token_hex())'` and export it."
        )
    key_file = Path(app.instance_path) / "secret_key"
    if not key_file.exists():
        key_file.parent.mkdir(parents=True, exist_ok=True)
        key_file.write_text(secrets.token_hex(32))
        key_file.chmod(0o600)
    return key_file.read_text().strip()
