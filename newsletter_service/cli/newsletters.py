"""``newsletter-service newsletters``: add, list, demo; and finding one by its slug."""

from __future__ import annotations

import click
from flask.cli import AppGroup

from .. import i18n, newsletters
from ..db import get_session
from ..models import Newsletter
from .errors import refusals_reported


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
    with refusals_reported(newsletters.InvalidNewsletter):
        created = newsletters.create_newsletter(get_session(), slug, name,
                                                description=description, language=language)
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


def newsletter_named(slug: str) -> Newsletter:
    newsletter = newsletters.get_newsletter(get_session(), slug)
    if newsletter is None:
        raise click.ClickException(f"There is no newsletter '{slug}'.")
    return newsletter
