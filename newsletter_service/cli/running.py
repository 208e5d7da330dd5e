"""``newsletter-service worker`` and ``check``: running the service and checking it can run."""

from __future__ import annotations

import threading
from collections.abc import Callable

import click
from flask import Flask, current_app
from flask.cli import ScriptInfo, with_appcontext

from .. import preflight, worker
from ..outbox import DeliveryReport


@click.command("worker")
@with_appcontext
@click.option("--once", is_flag=True, help="Deliver what is due, then exit.")
def worker_command(once: bool) -> None:
    """Deliver the queued emails (SIGTERM finishes the message in hand, then exits)."""
    app: Flask = current_app._get_current_object()  # type: ignore[attr-defined]
    stop = threading.Event()
    worker.stop_on_signals(stop)
    if once:
        sent = _drain(app, stop, worker.deliver_once, app.config["WORKER_BATCH_SIZE"])
        click.echo(f"Sent {sent} emails.")
        events = _drain(app, stop, worker.deliver_events_once, app.config["WEBHOOK_BATCH_SIZE"])
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


def _drain(app: Flask, stop: threading.Event,
           deliver: Callable[[Flask, threading.Event], DeliveryReport], batch_size: int) -> int:
    """Deliver batches until one is not full (or ``stop``); return how many were delivered."""
    total = 0
    while not stop.is_set():
        report = deliver(app, stop)
        total += report.sent
        for error in report.errors:
            click.echo(error, err=True)
        if report.claimed < batch_size:
            break
    return total
