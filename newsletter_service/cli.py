"""The command line: thin commands, each a call into a use case."""

from __future__ import annotations

import sys
import threading
from pathlib import Path

import click
from flask import Flask, current_app
from flask.cli import AppGroup, FlaskGroup, ScriptInfo, with_appcontext

from . import (
    admins,
    api_tokens,
    cli_sending,
    exports,
    i18n,
    imports,
    migrate,
    newsletters,
    preflight,
    subscriptions,
    worker,
)
from .db import get_session
from .models import Newsletter


@click.group("db", cls=AppGroup)
def db_group() -> None:
    """Manage the database schema."""


@db_group.command("upgrade")
@click.option("--revision", default="head", show_default=True)
def db_upgrade(revision: str) -> None:
    """Create or migrate the schema."""
    migrate.upgrade(current_app.extensions["db_engine"], revision)
    click.echo("Database is up to date.")


@db_group.command("revision")
@click.option("-m", "--message", required=True, help="What the migration does.")
def db_revision(message: str) -> None:
    """Write a migration script for what the models changed (autogenerate; review it)."""
    path = migrate.revision(current_app.extensions["db_engine"], message)
    click.echo(f"Wrote {path}: review it before committing it.")


@click.group("newsletters", cls=AppGroup)
def newsletters_group() -> None:
    """Manage newsletters."""


@newsletters_group.command("add")
@click.argument("slug")
@click.option("--name", required=True, help="The name readers see.")
@click.option("--description", default="", help="One or two sentences for the form.")
@click.option("--language", type=click.Choice(sorted(i18n.LANGUAGES)),
              default=i18n.DEFAULT_LANGUAGE, show_default=True,
              help="The language of its form, pages and emails.")
def newsletters_add(slug: str, name: str, description: str, language: str) -> None:
    """Add a newsletter that asks for the email address alone."""
    try:
        created = newsletters.create_newsletter(get_session(), slug, name,
                                                description=description, language=language)
    except newsletters.InvalidNewsletter as error:
        raise click.ClickException(str(error)) from None
    click.echo(f"Added {created.slug}: {created.name}")


@newsletters_group.command("list")
def newsletters_list() -> None:
    """List the newsletters."""
    for item in newsletters.all_newsletters(get_session()):
        state = "active" if item.is_active else "inactive"
        click.echo(f"{item.slug}\t{item.name}\t{state}\t{item.language}")


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
        events = _deliver_events_once(app, stop)
        if events:
            click.echo(f"Delivered {events} webhook and sync events.")
        return
    click.echo("Worker started; Ctrl+C or SIGTERM stops it.")
    worker.run_forever(app, stop)


@click.command("check")
@click.pass_context
def check_command(ctx: click.Context) -> None:
    """Check the configuration, database, mailer and rate-limit storage; exit 1 if one fails."""
    try:
        app = ctx.ensure_object(ScriptInfo).load_app()
    except Exception as error:  # noqa: BLE001 - the app refused to start: that is the finding
        results = [preflight.Check("configuration", False, f"the app does not start: {error}")]
    else:
        with app.app_context():
            results = preflight.run_checks(app)
    for result in results:
        click.echo(f"{'✓' if result.ok else '✗'} {result.name}: {result.message}")
    failed = [result.name for result in results if not result.ok]
    if failed:
        click.echo(f"Not ready: {', '.join(failed)}.", err=True)
        ctx.exit(1)
    click.echo("Ready.")


@click.command("purge-unconfirmed")
@with_appcontext
@click.option("--days", type=click.IntRange(min=1), default=None,
              help="Age in days (default: NEWSLETTER_PURGE_PENDING_AFTER_DAYS, 30).")
def purge_unconfirmed(days: int | None) -> None:
    """Delete signups never confirmed after the given number of days."""
    days = days or current_app.config["PURGE_PENDING_AFTER_DAYS"]
    count = subscriptions.purge_unconfirmed(get_session(), days)
    click.echo(f"Purged {count} unconfirmed subscriptions older than {days} days.")


@click.group("admins", cls=AppGroup)
def admins_group() -> None:
    """Manage the console's admins."""


@admins_group.command("create")
@click.argument("email")
@click.option("--password-stdin", is_flag=True,
              help="Read the password from the first line of standard input (for scripts).")
def admins_create(email: str, password_stdin: bool) -> None:
    """Create an admin who logs in to /admin/ with EMAIL and a password."""
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = click.prompt("Password", hide_input=True, confirmation_prompt=True)
    try:
        admin = admins.create_admin(get_session(), email, password)
    except admins.InvalidAdmin as error:
        raise click.ClickException(str(error)) from None
    click.echo(f"Created admin {admin.email}.")


@admins_group.command("set-password")
@click.argument("email")
@click.option("--password-stdin", is_flag=True,
              help="Read the password from the first line of standard input (for scripts).")
def admins_set_password(email: str, password_stdin: bool) -> None:
    """Give an admin a new password; their console sessions end."""
    if password_stdin:
        password = sys.stdin.readline().rstrip("\r\n")
    else:
        password = click.prompt("New password", hide_input=True, confirmation_prompt=True)
    try:
        admin = admins.set_password(get_session(), email, password)
    except admins.InvalidAdmin as error:
        raise click.ClickException(str(error)) from None
    click.echo(f"Changed the password of {admin.email}; their sessions have ended.")


@admins_group.command("disable")
@click.argument("email")
def admins_disable(email: str) -> None:
    """Stop an admin from logging in; their console sessions end."""
    try:
        admin = admins.set_disabled(get_session(), email, True)
    except admins.InvalidAdmin as error:
        raise click.ClickException(str(error)) from None
    click.echo(f"Disabled admin {admin.email}.")


@admins_group.command("enable")
@click.argument("email")
def admins_enable(email: str) -> None:
    """Let a disabled admin log in again."""
    try:
        admin = admins.set_disabled(get_session(), email, False)
    except admins.InvalidAdmin as error:
        raise click.ClickException(str(error)) from None
    click.echo(f"Enabled admin {admin.email}.")


@click.group("tokens", cls=AppGroup)
def tokens_group() -> None:
    """Manage the API's bearer tokens."""


@tokens_group.command("create")
@click.argument("name")
def tokens_create(name: str) -> None:
    """Create a token; it is shown once, on the last line."""
    try:
        token = api_tokens.create_token(get_session(), name)
    except api_tokens.TokenNameError as error:
        raise click.ClickException(str(error)) from None
    click.echo(f"Created token '{name}'. Keep it now: it is stored hashed and not shown again.")
    click.echo(token)


@tokens_group.command("revoke")
@click.argument("name")
def tokens_revoke(name: str) -> None:
    """Revoke a token: it stops working at once."""
    try:
        api_tokens.revoke_token(get_session(), name)
    except api_tokens.TokenNameError as error:
        raise click.ClickException(str(error)) from None
    click.echo(f"Revoked token '{name}'.")


@tokens_group.command("list")
def tokens_list() -> None:
    """List the tokens (names and dates, never the tokens)."""
    for token in api_tokens.all_tokens(get_session()):
        state = f"revoked {token.revoked_at:%Y-%m-%d}" if token.revoked_at else "active"
        used = f"{token.last_used_at:%Y-%m-%d %H:%M}" if token.last_used_at else "never"
        click.echo(f"{token.name}\t{state}\tcreated {token.created_at:%Y-%m-%d}\tused {used}")


@click.group("subscribers", cls=AppGroup)
def subscribers_group() -> None:
    """Export and import subscribers."""


@subscribers_group.command("export")
@click.argument("slug")
@click.option("--status", type=click.Choice(exports.STATUSES), default="confirmed",
              show_default=True)
@click.option("--format", "format_", type=click.Choice(exports.FORMATS), default="csv",
              show_default=True)
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path),
              help="Write to this file (standard output without it).")
@click.option("--raw", is_flag=True, help="Leave cells a spreadsheet would run as formulas.")
def subscribers_export(slug: str, status: str, format_: str, output: Path | None,
                       raw: bool) -> None:
    """Export a newsletter's subscribers as CSV or JSON."""
    session = get_session()
    spec = exports.ExportSpec(_newsletter(slug), status=status, format=format_, raw=raw)
    if output is None:
        for chunk in exports.export(session, spec, "cli"):
            sys.stdout.buffer.write(chunk.encode())  # UTF-8 whatever the locale
        sys.stdout.flush()
        return
    total = exports.count(session, spec)
    with output.open("w", encoding="utf-8", newline="") as file, \
            click.progressbar(length=total, label=f"Exporting {total} rows",
                              file=sys.stderr) as bar:
        for chunk in exports.export(session, spec, "cli", row_count=total, on_rows=bar.update):
            file.write(chunk)
    click.echo(f"Wrote {total} rows to {output}.", err=True)


@subscribers_group.command("import")
@click.argument("slug")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--confirmed", is_flag=True,
              help="They opted in elsewhere: import as confirmed and send no email.")
def subscribers_import(slug: str, file: Path, confirmed: bool) -> None:
    """Import readers from a CSV file with an 'email' column; bad rows are reported."""
    newsletter = _newsletter(slug)
    with file.open("rb") as counting:
        total = max(0, sum(1 for _ in counting) - 1)
    try:
        with file.open(encoding="utf-8-sig", errors="surrogateescape", newline="") as lines, \
                click.progressbar(length=total, label="Importing",
                                  file=sys.stderr) as bar:
            report = imports.import_csv(get_session(), newsletter, lines, confirmed=confirmed,
                                        actor="cli", on_rows=bar.update)
    except imports.UnreadableFile as error:
        raise click.ClickException(f"{file}: {error}") from None
    for line, message in report.errors:
        click.echo(f"line {line}: {message}", err=True)
    click.echo(f"Added {report.added}, already there {report.existing}, skipped as "
               f"unsubscribed {report.unsubscribed}, erased before "
               f"{report.suppressed}, bad rows {len(report.errors)}, confirmation emails "
               f"queued {report.emails_queued}.")


def _deliver_events_once(app: Flask, stop: threading.Event) -> int:
    """Deliver the due webhook and sync events; return how many were delivered."""
    total = 0
    while not stop.is_set():
        report = worker.deliver_events_once(app, stop)
        total += report.sent
        for error in report.errors:
            click.echo(error, err=True)
        if report.claimed < app.config["WEBHOOK_BATCH_SIZE"]:
            break
    return total


def _newsletter(slug: str) -> Newsletter:
    newsletter = newsletters.get_newsletter(get_session(), slug)
    if newsletter is None:
        raise click.ClickException(f"There is no newsletter '{slug}'.")
    return newsletter


def init_app(app: Flask) -> None:
    """Register the command groups on ``app.cli``."""
    for command in (db_group, newsletters_group, worker_command, check_command, purge_unconfirmed,
                    admins_group, tokens_group, subscribers_group, *cli_sending.COMMANDS):
        app.cli.add_command(command)


def _create_app() -> Flask:
    from . import create_app

    return create_app()


main = FlaskGroup(create_app=_create_app, help="newsletter-service: signups and double opt-in.")
main.add_command(check_command)  # found without loading the app: it reports an app that fails
