"""The command line: thin commands, each a call into a use case, one module per group."""

from __future__ import annotations

from flask import Flask
from flask.cli import FlaskGroup

from .accounts import admins_group, tokens_group
from .database import db_group
from .newsletters import newsletters_group
from .readers import purge_unconfirmed, subscribers_group
from .running import check_command, worker_command
from .sending import COMMANDS as SENDING_COMMANDS


def init_app(app: Flask) -> None:
    """Register the command groups on ``app.cli``."""
    for command in (db_group, newsletters_group, worker_command, check_command, purge_unconfirmed,
                    admins_group, tokens_group, subscribers_group, *SENDING_COMMANDS):
        app.cli.add_command(command)


def _create_app() -> Flask:
    from .. import create_app

    return create_app()


main = FlaskGroup(create_app=_create_app, help="newsletter-service: signups and double opt-in.")
main.add_command(check_command)  # found without loading the app: it reports an app that fails
