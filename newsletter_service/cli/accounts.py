"""``newsletter-service admins`` and ``tokens``: console accounts and API tokens."""

from __future__ import annotations

import sys

import click
from flask.cli import AppGroup

from .. import admins, api_tokens
from ..db import get_session
from .errors import refusals_reported

password_stdin_option = click.option(
    "--password-stdin", is_flag=True,
    help="Read the password from the first line of standard input (for scripts).")


def _password(from_stdin: bool, prompt: str) -> str:
    """Return the password from standard input's first line, or asked for twice."""
    if from_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    return str(click.prompt(prompt, hide_input=True, confirmation_prompt=True))


@click.group("admins", cls=AppGroup)
def admins_group() -> None:
    """Manage the console's admins."""


@admins_group.command("create")
@click.argument("email")
@password_stdin_option
def admins_create(email: str, password_stdin: bool) -> None:
    """Create an admin who logs in to /admin/ with EMAIL and a password."""
    password = _password(password_stdin, "Password")
    with refusals_reported(admins.InvalidAdmin):
        admin = admins.create_admin(get_session(), email, password)
    click.echo(f"Created admin {admin.email}.")


@admins_group.command("set-password")
@click.argument("email")
@password_stdin_option
def admins_set_password(email: str, password_stdin: bool) -> None:
    """Give an admin a new password; their console sessions end."""
    password = _password(password_stdin, "New password")
    with refusals_reported(admins.InvalidAdmin):
        admin = admins.set_password(get_session(), email, password)
    click.echo(f"Changed the password of {admin.email}; their sessions have ended.")


@admins_group.command("disable")
@click.argument("email")
def admins_disable(email: str) -> None:
    """Stop an admin from logging in; their console sessions end."""
    with refusals_reported(admins.InvalidAdmin):
        admin = admins.set_disabled(get_session(), email, True)
    click.echo(f"Disabled admin {admin.email}.")


@admins_group.command("enable")
@click.argument("email")
def admins_enable(email: str) -> None:
    """Let a disabled admin log in again."""
    with refusals_reported(admins.InvalidAdmin):
        admin = admins.set_disabled(get_session(), email, False)
    click.echo(f"Enabled admin {admin.email}.")


@click.group("tokens", cls=AppGroup)
def tokens_group() -> None:
    """Manage the API's bearer tokens."""


@tokens_group.command("create")
@click.argument("name")
def tokens_create(name: str) -> None:
    """Create a token; it is shown once, on the last line."""
    with refusals_reported(api_tokens.TokenNameError):
        token = api_tokens.create_token(get_session(), name)
    click.echo(f"Created token '{name}'. Keep it now: it is stored hashed and not shown again.")
    click.echo(token)


@tokens_group.command("revoke")
@click.argument("name")
def tokens_revoke(name: str) -> None:
    """Revoke a token: it stops working at once."""
    with refusals_reported(api_tokens.TokenNameError):
        api_tokens.revoke_token(get_session(), name)
    click.echo(f"Revoked token '{name}'.")


@tokens_group.command("list")
def tokens_list() -> None:
    """List the tokens (names and dates, never the tokens)."""
    for token in api_tokens.all_tokens(get_session()):
        state = f"revoked {token.revoked_at:%Y-%m-%d}" if token.revoked_at else "active"
        used = f"{token.last_used_at:%Y-%m-%d %H:%M}" if token.last_used_at else "never"
        click.echo(f"{token.name}\t{state}\tcreated {token.created_at:%Y-%m-%d}\tused {used}")
