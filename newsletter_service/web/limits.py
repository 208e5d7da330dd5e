"""Per-IP rate limits with Flask-Limiter, declared at the views with ``@rate_limited``.

Limits come from configuration (``NEWSLETTER_RATELIMIT_SIGNUP`` and friends) and are
kept in ``NEWSLETTER_RATELIMIT_STORAGE_URI``: ``memory://`` for one process, Redis
when several app servers must share the counts. The client address is the socket's
peer unless ``NEWSLETTER_TRUSTED_PROXIES`` says how many proxies set X-Forwarded-For.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, TypeVar, cast

from flask import Blueprint, Flask, current_app
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from werkzeug.middleware.proxy_fix import ProxyFix

if TYPE_CHECKING:
    from flask.typing import RouteCallable

T = TypeVar("T")
log = logging.getLogger(__name__)


@dataclass(frozen=True)
class RateLimit:
    """A per-IP limit: the config key that holds it, and the methods it counts (None: all)."""

    key: str
    methods: list[str] | None = None
    shared: str | None = None  # a scope: every view that names it counts in one bucket


def rate_limited(key: str, methods: list[str] | None = None,
                 shared: str | None = None) -> Callable[[T], T]:
    """Declare the per-IP limit of a view, or of every request to a blueprint.

    A blueprint's limit is checked before its ``before_request`` hooks, so requests they
    refuse (a wrong API token) count too; a view's, when the view is called. Views that
    name the same ``shared`` scope share one bucket per IP (Flask-Limiter's shared limit).
    """
    def declare(target: T) -> T:
        setattr(target, "rate_limit", RateLimit(key, methods, shared))  # noqa: B010 - views and blueprints
        return target
    return declare


def declared_limit(target: object) -> RateLimit | None:
    """Return the limit a view or blueprint declared with ``rate_limited``, if any."""
    limit = getattr(target, "rate_limit", None)
    return limit if isinstance(limit, RateLimit) else None


def init_app(app: Flask) -> Limiter:
    """Trust the configured proxies, and apply the limits views and blueprints declared."""
    proxies = int(app.config.get("TRUSTED_PROXIES") or 0)
    if proxies:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=proxies, x_proto=proxies,  # type: ignore[method-assign]
                                x_host=proxies, x_port=proxies)
    # Flask-Limiter reads RATELIMIT_ENABLED, _STORAGE_URI and _KEY_PREFIX from app.config.
    limiter = Limiter(get_remote_address, app=app, headers_enabled=True)
    app.extensions["rate_limiter"] = limiter  # Flask-Limiter keeps only a weak reference
    _warn_of_memory_storage(app)
    for endpoint, view in list(app.view_functions.items()):
        if declared := declared_limit(view):
            if declared.shared:
                limit = limiter.shared_limit(_configured(declared.key), scope=declared.shared,
                                             methods=declared.methods)
            else:
                limit = limiter.limit(_configured(declared.key), methods=declared.methods)
            # Flask types a view as sync-or-async; mypy cannot carry that union through
            # the limit's generic decorator, which returns what it was given.
            app.view_functions[endpoint] = cast("RouteCallable", limit(view))
    for blueprint in app.blueprints.values():
        if isinstance(blueprint, Blueprint) and (declared := declared_limit(blueprint)):
            limiter.limit(_configured(declared.key), methods=declared.methods)(blueprint)
    return limiter


def _warn_of_memory_storage(app: Flask) -> None:
    """Warn that ``memory://`` counts per process: N workers let N times the limits through."""
    storage = str(app.config.get("RATELIMIT_STORAGE_URI") or "memory://")
    if storage.startswith("memory://") and app.config.get("RATELIMIT_ENABLED", True) \
            and not (app.debug or app.testing):
        log.warning("rate limits are kept in memory (NEWSLETTER_RATELIMIT_STORAGE_URI=%s): "
                    "each worker process counts on its own; production uses redis://", storage)


def _configured(key: str) -> Callable[[], str]:
    return lambda: str(current_app.config[key])
