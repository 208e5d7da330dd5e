"""The command line: thin commands, each a call into a use case, one module per group.

A command's module is imported when that command runs (or ``--help`` lists it), not when the
program starts: ``subscribers export`` loads no migrations, password hashing or worker.
"""

from __future__ import annotations

from collections.abc import Mapping
from importlib import import_module
from typing import Any

import click
from flask import Flask
from flask.cli import AppGroup, FlaskGroup, NoAppException
from sqlalchemy.exc import DBAPIError

# Every command: the module of this package that defines it, and its name there.
COMMANDS: Mapping[str, tuple[str, str]] = {
    "db": ("database", "db_group"),
    "newsletters": ("newsletters", "newsletters_group"),
    "worker": ("running", "worker_command"),
    "check": ("running", "check_command"),
    "purge-unconfirmed": ("readers", "purge_unconfirmed"),
    "admins": ("accounts", "admins_group"),
    "tokens": ("accounts", "tokens_group"),
    "subscribers": ("readers", "subscribers_group"),
    "webhooks": ("sending", "webhooks_group"),
    "sync": ("sending", "sync_group"),
    "suppressions": ("sending", "suppressions_group"),
}


class LazyCommands(click.Group):
    """A group that imports a command's module when the command is first asked for."""

    def __init__(self, *args: Any, lazy: Mapping[str, tuple[str, str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.lazy = dict(lazy)

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *self.lazy})

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name in self.lazy and name not in self.commands:
            module, attribute = self.lazy[name]
            self.add_command(getattr(import_module(f"{__name__}.{module}"), attribute), name)
        return super().get_command(ctx, name)


class LazyAppGroup(LazyCommands, AppGroup):
    """``app.cli``: the app's commands, each module imported on first use."""


class LazyFlaskGroup(LazyCommands, FlaskGroup):
    """The ``newsletter-service`` program: Flask's commands, then the app's."""

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        command = super().get_command(ctx, name)
        if command is None and name in COMMANDS:
            ctx.exit(1)  # the app did not load, and Flask has said why: not an unknown command
        return command

    def invoke(self, ctx: click.Context) -> Any:
        """Run the command; a database without our tables is an error that says what to do."""
        try:
            return super().invoke(ctx)
        except DBAPIError as error:
            if not missing_table(error):
                raise
            raise click.ClickException(
                "The database has no tables yet (or not all of this version's): run "
                "`newsletter-service db upgrade` first.") from None


def init_app(app: Flask) -> None:
    """Give ``app.cli`` every command group (what Flask and blueprints added there stays)."""
    app.cli = LazyAppGroup(app.cli.name, commands=app.cli.commands, lazy=COMMANDS)


def _create_app() -> Flask:
    from .. import create_app

    try:
        return create_app()
    except RuntimeError as error:  # a setting missing: say which, without a traceback
        raise NoAppException(str(error)) from None


def missing_table(error: DBAPIError) -> bool:
    """Tell whether ``error`` is a table that does not exist (SQLite or PostgreSQL)."""
    return "no such table" in str(error.orig) or type(error.orig).__name__ == "UndefinedTable"


# ``check`` is found without loading the app: it reports an app that fails to load.
main = LazyFlaskGroup(create_app=_create_app, lazy={"check": COMMANDS["check"]},
                      help="newsletter-service: signups and double opt-in.")
