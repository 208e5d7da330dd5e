"""Preflight checks for ``newsletter-service check`` and ``/readyz``: is this deployment whole?

Each check answers a ``Check``: its name, whether it passed, and a line for the operator.
They read the configuration as the app has it, and talk to the database, the mailer and the
rate-limit storage the way the app would; none sends an email or writes a row.
"""

from __future__ import annotations

from dataclasses import dataclass

from flask import Flask
from limits.storage import storage_from_string
from sqlalchemy import Engine, text
from sqlalchemy.exc import SQLAlchemyError

from .config import DEFAULTS
from .mailers import Mailer, MailerError, SMTPMailer

NOWHERE_MAILERS = ("memory://", "devmail://")  # keep mail in memory or the instance folder
NETWORK_TIMEOUT = 5  # seconds, for the rate-limit storage


@dataclass(frozen=True)
class Check:
    """The outcome of one check."""

    name: str
    ok: bool
    message: str


def run_checks(app: Flask) -> list[Check]:
    """Run every check against ``app``'s configuration and services."""
    engine = app.extensions["db_engine"]
    return [
        check_settings(app),
        check_database(engine),
        check_mailer(app.config["MAILER"], app.extensions["mailer"], debug=app.debug),
        check_rate_limit_storage(app.config["RATELIMIT_STORAGE_URI"],
                                 enabled=bool(app.config["RATELIMIT_ENABLED"])),
    ]


def check_settings(app: Flask) -> Check:
    """Check that nothing production needs is missing or left at a development value."""
    if app.debug:
        return Check("configuration", False, "debug mode is on (FLASK_DEBUG): never in "
                     "production; it allows a generated secret key and shows tracebacks")
    problems = []
    base_url = app.config.get("BASE_URL") or ""
    if not base_url.startswith(("https://", "http://")):
        problems.append("NEWSLETTER_BASE_URL is not set (like https://news.example.com): "
                        "emailed links need it")
    if not app.config.get("SECRET_KEY"):
        problems.append("NEWSLETTER_SECRET_KEY is not set")
    if app.config["MAIL_FROM"] == DEFAULTS["MAIL_FROM"]:
        problems.append(f"NEWSLETTER_MAIL_FROM is the placeholder {DEFAULTS['MAIL_FROM']}: "
                        "relays refuse it")
    if problems:
        return Check("configuration", False, "; ".join(problems))
    return Check("configuration", True, f"secret key set, base URL {base_url}")


def database_problem(engine: Engine) -> str | None:
    """Return why the database is not ready to serve (down, or not migrated), or None."""
    from . import migrate  # Alembic, loaded when asked: every command starts without it

    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        current = migrate.current_revisions(engine)
    except SQLAlchemyError as error:
        return f"the database does not answer: {type(error).__name__}"
    heads = migrate.script_heads()
    if current != heads:
        at = f"the schema is at {', '.join(sorted(current))}" if current else "no schema yet"
        return (f"{at}, the code needs {', '.join(sorted(heads))}: "
                "run `newsletter-service db upgrade`")
    return None


def check_database(engine: Engine) -> Check:
    """Check that the database answers and its schema is at the migrations' head."""
    from . import migrate

    where = engine.url.render_as_string(hide_password=True)
    problem = database_problem(engine)
    if problem is not None:
        return Check("database", False, f"{where}: {problem}")
    return Check("database", True, f"{where}: answers, schema at "
                 f"{', '.join(sorted(migrate.script_heads()))}")


def check_mailer(url: str, mailer: Mailer, *, debug: bool = False) -> Check:
    """Check that the mailer answers: open its session and close it, sending nothing."""
    scheme = url.partition(":")[0]
    if url.startswith(NOWHERE_MAILERS) and not debug:
        return Check("mailer", False, f"NEWSLETTER_MAILER is {scheme}://: mail is kept, never "
                     "delivered; set smtp://... (or console:// to print it)")
    try:
        if isinstance(mailer, SMTPMailer):
            mailer.ping()  # connect, EHLO, STARTTLS and login as configured, QUIT
    except (MailerError, OSError) as error:
        return Check("mailer", False, f"{_mailer_label(url, mailer)}: {error}")
    return Check("mailer", True, f"{_mailer_label(url, mailer)} answers")


def _mailer_label(url: str, mailer: Mailer) -> str:
    """Name the mailer for the operator; an SMTP mailer's repr leaves the password out."""
    if isinstance(mailer, SMTPMailer):
        return repr(mailer)
    return url.partition("?")[0] if "://" in url else url  # no credentials in the others


def check_rate_limit_storage(uri: str, *, enabled: bool = True) -> Check:
    """Check that a shared rate-limit storage (Redis and the like) answers."""
    if not enabled:
        return Check("rate limits", True, "switched off (NEWSLETTER_RATELIMIT_ENABLED=false)")
    scheme = uri.partition(":")[0]
    if scheme == "memory":
        return Check("rate limits", True, "memory:// (counts per process)")
    options = {}
    if scheme.startswith("redis"):
        options = {"socket_connect_timeout": NETWORK_TIMEOUT, "socket_timeout": NETWORK_TIMEOUT}
    try:
        answers = storage_from_string(uri, **options).check()
    except Exception as error:  # noqa: BLE001 - a missing driver or a bad URI: say which
        return Check("rate limits", False, f"{scheme}:// storage: {error}")
    if not answers:
        return Check("rate limits", False, f"{scheme}:// storage does not answer")
    return Check("rate limits", True, f"{scheme}:// storage answers")
