"""The command line: thin commands, each a call into a use case."""

from __future__ import annotations

import threading

import click
from flask import Flask, current_app
from flask.cli import AppGroup, FlaskGroup, with_appcontext

from . import migrate, newsletters, subscriptions, worker
from .db import get_session


@click.group("db", cls=AppGroup)
def db_group() -> None:
    """Manage the database schema."""


@db_group.command("upgrade")
@click.option("--revision", default="head", show_default=True)
def db_upgrade(revision: str) -> None:
    """Create or migrate the schema."""
    migrate.upgrade(current_app.extensions["db_engine"], revision)
    click.echo("Database is up to date.")


@click.group("newsletters", cls=AppGroup)
def newsletters_group() -> None:
    """Manage newsletters."""


@newsletters_group.command("add")
@click.argument("slug")
@click.option("--name", required=True, help="The name readers see.")
@click.option("--description", default="", help="One or two sentences for the form.")
def newsletters_add(slug: str, name: str, description: str) -> None:
    """Add a newsletter that asks for the email address alone."""
    try:
        created = newsletters.create_newsletter(get_session(), slug, name, description=description)
    except newsletters.InvalidNewsletter as error:
        raise click.ClickException(str(error)) from None
    click.echo(f"Added {created.slug}: {created.name}")


@newsletters_group.command("list")
def newsletters_list() -> None:
    """List the newsletters."""
    for item in newsletters.all_newsletters(get_session()):
        state = "active" if item.is_active else "inactive"
        click.echo(f"{item.slug}\t{item.name}\t{state}")


@newsletters_group.command("seed-demo")
def newsletters_seed_demo() -> None:
    """Add the demo newsletters when there are none."""
    count = newsletters.seed_demo(get_session())
    click.echo(f"Added {count} demo newsletters." if count else "Newsletters exist; none added.")


@click.command("worker")
@with_appcontext
@click.option("--once", is_flag=True, help="Deliver what is due, then exit.")
def worker_command(once: bool) -> None:
    """Deliver the queued emails (SIGTERM finishes the message in hand, then exits)."""
    app: Flask = current_app._get_current_object()  # type: ignore[attr-defined]
    stop = threading.Event()
    worker.stop_on_signals(stop)
    if once:
        total = 0
        while not stop.is_set():
            report = worker.deliver_once(app, stop)
            total += report.sent
            for error in report.errors:
                click.echo(error, err=True)
            if report.claimed < app.config["WORKER_BATCH_SIZE"]:
                break
        click.echo(f"Sent {total} emails.")
        return
    click.echo("Worker started; Ctrl+C or SIGTERM stops it.")
    worker.run_forever(app, stop)


@click.command("purge-unconfirmed")
@with_appcontext
@click.option("--days", type=click.IntRange(min=1), default=None,
              help="Age in days (default: NEWSLETTER_PURGE_PENDING_AFTER_DAYS, 30).")
def purge_unconfirmed(days: int | None) -> None:
    """Delete signups never confirmed after the given number of days."""
    days = days or current_app.config["PURGE_PENDING_AFTER_DAYS"]
    count = subscriptions.purge_unconfirmed(get_session(), days)
    click.echo(f"Purged {count} unconfirmed subscriptions older than {days} days.")


def init_app(app: Flask) -> None:
    """Register the command groups on ``app.cli``."""
    for command in (db_group, newsletters_group, worker_command, purge_unconfirmed):
        app.cli.add_command(command)


def _create_app() -> Flask:
    from . import create_app

    return create_app()


main = FlaskGroup(create_app=_create_app, help="newsletter-service: signups and double opt-in.")
