"""``newsletter-service db``: the schema and its migrations."""

from __future__ import annotations

import click
from flask import current_app
from flask.cli import AppGroup

from .. import migrate


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
