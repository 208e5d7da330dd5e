"""``newsletter-service subscribers`` (export, import) and ``purge-unconfirmed``."""

from __future__ import annotations

import sys
from pathlib import Path

import click
from flask import current_app
from flask.cli import AppGroup, with_appcontext

from .. import exports, imports, subscriptions
from ..db import get_session
from .newsletters import newsletter_named


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
    spec = exports.ExportSpec(newsletter_named(slug), status=status, format=format_, raw=raw)
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
    newsletter = newsletter_named(slug)
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


@click.command("purge-unconfirmed")
@with_appcontext
@click.option("--days", type=click.IntRange(min=1), default=None,
              help="Age in days (default: NEWSLETTER_PURGE_PENDING_AFTER_DAYS, 30).")
def purge_unconfirmed(days: int | None) -> None:
    """Delete signups never confirmed after the given number of days."""
    days = days or current_app.config["PURGE_PENDING_AFTER_DAYS"]
    count = subscriptions.purge_unconfirmed(get_session(), days)
    click.echo(f"Purged {count} unconfirmed subscriptions older than {days} days.")
