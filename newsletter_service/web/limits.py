"""Per-IP rate limits with Flask-Limiter, configured in one place.

Limits come from configuration (``NEWSLETTER_RATELIMIT_SIGNUP`` and friends) and are
kept in ``NEWSLETTER_RATELIMIT_STORAGE_URI``: ``memory://`` for one process, Redis
when several app servers must share the counts. The client address is the socket's
peer unless ``NEWSLETTER_TRUSTED_PROXIES`` says how many proxies set X-Forwarded-For.
"""

from __future__ import annotations

from collections.abc import Callable

from flask import Flask, current_app
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from werkzeug.middleware.proxy_fix import ProxyFix

# Endpoint -> the config key of its limit. Endpoints of blueprints not registered
# (the admin console is optional) are skipped.
ENDPOINT_LIMITS = {
    "public.subscribe": "RATELIMIT_SIGNUP",
    "public.subscribe_many": "RATELIMIT_SIGNUP",
    "public.confirm": "RATELIMIT_LINKS",
    "public.confirm_page": "RATELIMIT_LINKS",
    "public.resend_confirmation": "RATELIMIT_SIGNUP",
    "public.unsubscribe": "RATELIMIT_LINKS",
    "public.unsubscribe_page": "RATELIMIT_LINKS",
    "admin_auth.login": "RATELIMIT_LOGIN",
}
BLUEPRINT_LIMITS = {"api": "RATELIMIT_API"}
# Endpoints whose limit counts only some methods: loading the login page is no attempt.
ENDPOINT_METHODS = {"admin_auth.login": ["POST"]}


def init_app(app: Flask) -> Limiter:
    """Trust the configured proxies, and limit the public, login and API endpoints."""
    proxies = int(app.config.get("TRUSTED_PROXIES") or 0)
    if proxies:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=proxies, x_proto=proxies,  # type: ignore[method-assign]
                                x_host=proxies, x_port=proxies)
    # Flask-Limiter reads RATELIMIT_ENABLED, _STORAGE_URI and _KEY_PREFIX from app.config.
    limiter = Limiter(get_remote_address, app=app, headers_enabled=True)
    app.extensions["rate_limiter"] = limiter  # Flask-Limiter keeps only a weak reference
    for endpoint, key in ENDPOINT_LIMITS.items():
        view = app.view_functions.get(endpoint)
        if view is not None:
            limit = limiter.limit(_configured(key), methods=ENDPOINT_METHODS.get(endpoint))
            app.view_functions[endpoint] = limit(view)
    for blueprint, key in BLUEPRINT_LIMITS.items():
        if blueprint in app.blueprints:
            limiter.limit(_configured(key))(app.blueprints[blueprint])
    return limiter


def _configured(key: str) -> Callable[[], str]:
    return lambda: str(current_app.config[key])
