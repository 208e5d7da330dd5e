"""Commands for the sending system: webhooks, sync targets and suppressions."""

from __future__ import annotations

from typing import BinaryIO

import click
from flask.cli import AppGroup

from .. import suppressions, webhooks
from ..addresses import InvalidAddress
from ..db import get_session
from ..models import SuppressionReason
from .errors import refusals_reported


@click.group("webhooks", cls=AppGroup)
def webhooks_group() -> None:
    """Manage the webhook endpoints."""


@webhooks_group.command("add")
@click.argument("url")
@click.option("--events", default=",".join(webhooks.EVENTS), show_default=True,
              help="Comma-separated event types.")
def webhooks_add(url: str, events: str) -> None:
    """Add an endpoint; print its secret alone on the last line."""
    with refusals_reported(webhooks.InvalidEndpoint):
        endpoint = webhooks.add_webhook(get_session(), url, events.split(","))
    click.echo(f"Added webhook {endpoint.id}: {endpoint.url} ({endpoint.events})")
    click.echo("Its signing secret (give it to the receiver; it is not shown again):")
    click.echo(endpoint.secret)


@webhooks_group.command("list")
def webhooks_list() -> None:
    """List the endpoints and sync targets (never their secrets)."""
    for endpoint in webhooks.all_endpoints(get_session()):
        state = "paused" if endpoint.paused_at else (
            "failing" if endpoint.failing_since else "active")
        click.echo(f"{endpoint.id}\t{endpoint.kind}\t{endpoint.url}\t{endpoint.events}\t{state}")


@webhooks_group.command("remove")
@click.argument("endpoint_id", type=int)
def webhooks_remove(endpoint_id: int) -> None:
    """Remove an endpoint or sync target, and its queued deliveries."""
    with refusals_reported(webhooks.UnknownEndpoint, message=f"No endpoint {endpoint_id}."):
        webhooks.remove_endpoint(get_session(), endpoint_id)
    click.echo(f"Removed endpoint {endpoint_id}.")


@webhooks_group.command("resume")
@click.argument("endpoint_id", type=int)
def webhooks_resume(endpoint_id: int) -> None:
    """Resume a paused endpoint: its waiting deliveries go out again."""
    with refusals_reported(webhooks.UnknownEndpoint, message=f"No endpoint {endpoint_id}."):
        webhooks.resume_endpoint(get_session(), endpoint_id)
    click.echo(f"Resumed endpoint {endpoint_id}.")


@click.group("sync", cls=AppGroup)
def sync_group() -> None:
    """Keep a sending system's list in step with ours."""


@sync_group.command("add")
@click.argument("system", type=click.Choice(["listmonk"]))
@click.argument("url")
@click.option("--list-id", type=int, required=True, help="The listmonk list to keep in step.")
@click.option("--api-user", required=True, help="A listmonk API user.")
@click.option("--api-token", required=True, help="Its token (stored; never printed).")
def sync_add(system: str, url: str, list_id: int, api_user: str, api_token: str) -> None:
    """Add a sync target: confirmed readers, unsubscribes and erasures are pushed to it."""
    with refusals_reported(webhooks.InvalidEndpoint):
        target = webhooks.add_listmonk(get_session(), url, list_id=list_id,
                                       api_user=api_user, api_token=api_token)
    click.echo(f"Added {system} sync {target.id}: {target.url}, list {target.list_id}")


@click.group("suppressions", cls=AppGroup)
def suppressions_group() -> None:
    """Manage the addresses that get no email from us."""


@suppressions_group.command("add")
@click.argument("email")
@click.option("--reason", type=click.Choice([r.value for r in SuppressionReason]),
              default="manual", show_default=True)
def suppressions_add(email: str, reason: str) -> None:
    """Suppress an address; a complaint also unsubscribes it everywhere."""
    with refusals_reported(InvalidAddress):
        created = suppressions.add(get_session(), email, reason)
    click.echo("Suppressed." if created else "Already suppressed.")


@suppressions_group.command("list")
def suppressions_list() -> None:
    """List the suppressions: address, reason, date."""
    for item in suppressions.all_suppressions(get_session()):
        click.echo(f"{item.email or '(erased)'}\t{item.reason.value}\t"
                   f"{item.created_at.isoformat()}\t{item.detail or ''}")


@suppressions_group.command("remove")
@click.argument("email")
def suppressions_remove(email: str) -> None:
    """Lift an address's suppression."""
    with refusals_reported(InvalidAddress):
        removed = suppressions.remove(get_session(), email)
    click.echo("Removed." if removed else "That address is not suppressed.")


@suppressions_group.command("ingest-dsn")
@click.argument("source", type=click.File("rb"))
def suppressions_ingest_dsn(source: BinaryIO) -> None:
    """Read a delivery status notification (a file, or - for standard input)."""
    report = suppressions.ingest_dsn(get_session(), source.read())
    for address in report.suppressed:
        click.echo(f"suppressed\t{address}")
    for address in report.ignored:
        click.echo(f"ignored\t{address}")
    if not report.suppressed and not report.ignored:
        click.echo("No delivery status found.")


COMMANDS = (webhooks_group, sync_group, suppressions_group)
