"""newsletter-service: self-hosted newsletter signups with double opt-in."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from flask import Flask

from .resources import templates_dir


def create_app(test_config: Mapping[str, Any] | None = None) -> Flask:
    """Build the app: config, database, mailer, extensions, blueprints, CLI."""
    app = Flask(__name__, template_folder=str(templates_dir()),
                instance_relative_config=True)
    Path(app.instance_path).mkdir(parents=True, exist_ok=True)

    from . import config, db, i18n, logs, mailers

    config.load_config(app, test_config)
    i18n.init_app(app)  # before any template or message is rendered
    logs.configure(app.config["LOG_FORMAT"], app.config["LOG_LEVEL"])
    db.init_app(app)
    app.extensions["mailer"] = mailers.create_mailer(app.config["MAILER"],
                                                     instance_path=app.instance_path)

    from .web import ops, telemetry

    telemetry.init_app(app)  # first hooks: every request gets an id, a log line, a timing

    from flask_wtf.csrf import CSRFProtect

    from .web import bodies, errors, limits, lookup, security
    from .web.public import bots, challenge, codes, embed, preferences, views

    csrf = CSRFProtect(app)
    lookup.init_app(app)
    errors.init_app(app)
    bodies.init_app(app)  # bounded bodies, strict JSON: before any request is read
    security.init_app(app)
    app.register_blueprint(views.bp)
    app.register_blueprint(embed.bp)
    app.register_blueprint(codes.bp)  # confirm with the emailed code; "this wasn't me"
    app.register_blueprint(preferences.bp)  # the reader's preference centre
    app.register_blueprint(ops.bp)  # /readyz, /metrics
    _register_admin(app, csrf)
    if app.debug or app.testing:
        from .web import devmail

        app.register_blueprint(devmail.bp)
    security.exempt_csrf(csrf, app)  # the views that declared it: signups, emailed links
    bots.init_app(app)
    challenge.init_app(app)
    limits.init_app(app)  # last: it applies the limits the registered views declared

    from . import cli

    cli.init_app(app)
    return app


def _register_admin(app: Flask, csrf: Any) -> None:
    """Register the console and the token API."""
    from . import i18n
    from .web import api
    from .web.console import auth, newsletters, sending, subscribers

    for blueprint in (auth.bp, newsletters.bp, subscribers.bp, sending.bp, api.bp):
        app.register_blueprint(blueprint)
        i18n.speak_english(app, blueprint)  # the publisher's tools are English only
    auth.init_app(app)  # sessions signed with their own key, not the emailed links'
    csrf.exempt(api.bp)  # bearer tokens, no cookies: nothing to forge
