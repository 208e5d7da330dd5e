"""The worker: due emails, and in threads of their own waiting signups and webhook events."""

from __future__ import annotations

import logging
import os
import signal
import socket
import threading
from collections.abc import Callable
from types import FrameType

from flask import Flask

from . import signup_queue
from .db import get_session
from .outbox import DATABASE_DOWN, DeliveryReport, RetryPolicy, deliver_pending, retry_delays
from .webhook_delivery import WebhookSettings, deliver_webhooks

log = logging.getLogger(__name__)


def retry_policy(app: Flask) -> RetryPolicy:
    """Return the retry policy configured for ``app``."""
    return RetryPolicy(max_attempts=app.config["WORKER_MAX_ATTEMPTS"],
                       backoff_seconds=app.config["WORKER_BACKOFF_SECONDS"],
                       lease_seconds=app.config["WORKER_LEASE_SECONDS"],
                       confirmations_per_domain_hour=app.config[
                           "CONFIRM_MAX_PER_DOMAIN_PER_HOUR"])


def worker_id() -> str:
    """Return a name for this worker process, unique on the database."""
    return f"{socket.gethostname()[:40]}:{os.getpid()}:{threading.get_ident() % 10_000}"


def deliver_once(app: Flask, stop: threading.Event | None = None) -> DeliveryReport:
    """Carry out the signups the web processes left, then deliver one batch of due emails.

    ``worker --once`` and the tests: ``run_forever`` does the two in loops of their own.
    """
    carry_out_signups_once(app)
    return deliver_emails_once(app, stop)


def deliver_emails_once(app: Flask, stop: threading.Event | None = None) -> DeliveryReport:
    """Deliver one batch of due emails."""
    return deliver_pending(
        app.extensions["db_sessionmaker"], app.extensions["mailer"],
        worker_id=worker_id(), batch_size=app.config["WORKER_BATCH_SIZE"],
        policy=retry_policy(app), should_stop=stop.is_set if stop else lambda: False,
        pause=stop.wait if stop else None,
    )


def webhook_settings(app: Flask) -> WebhookSettings:
    """Return how ``app`` delivers webhook and sync events."""
    policy = RetryPolicy(max_attempts=app.config["WEBHOOK_MAX_ATTEMPTS"],
                         backoff_seconds=app.config["WORKER_BACKOFF_SECONDS"],
                         lease_seconds=app.config["WORKER_LEASE_SECONDS"])
    return WebhookSettings(timeout=app.config["WEBHOOK_TIMEOUT_SECONDS"],
                           pause_after=app.config["WEBHOOK_PAUSE_AFTER_SECONDS"],
                           batch_size=app.config["WEBHOOK_BATCH_SIZE"], policy=policy)


def deliver_events_once(app: Flask, stop: threading.Event | None = None) -> DeliveryReport:
    """Deliver one batch of due webhook and sync events."""
    return deliver_webhooks(app.extensions["db_sessionmaker"], worker_id=worker_id(),
                            settings=webhook_settings(app),
                            should_stop=stop.is_set if stop else lambda: False)


def carry_out_signups_once(app: Flask, stop: threading.Event | None = None) -> int:
    """Carry out the signups waiting (a batch); return how many."""
    with app.app_context():  # its own session, closed with it
        return signup_queue.process_waiting(get_session())


def run_forever(app: Flask, stop: threading.Event) -> None:
    """Send emails until ``stop``; in threads of their own, carry out signups and send events."""
    loops = [
        threading.Thread(target=_loop, name="signups", daemon=True, args=(
            app, stop, carry_out_signups_once, signup_queue.BATCH_SIZE,
            app.config["WORKER_SIGNUP_POLL_SECONDS"])),
        threading.Thread(target=_loop, name="webhooks", daemon=True, args=(
            app, stop, _handled(deliver_events_once), app.config["WEBHOOK_BATCH_SIZE"],
            app.config["WORKER_POLL_SECONDS"])),
    ]
    for thread in loops:
        thread.start()
    try:
        _loop(app, stop, _handled(deliver_emails_once), app.config["WORKER_BATCH_SIZE"],
              app.config["WORKER_POLL_SECONDS"])
    finally:
        for thread in loops:
            thread.join()


def _handled(deliver: Callable[[Flask, threading.Event], DeliveryReport],
             ) -> Callable[[Flask, threading.Event], int]:
    """Return ``deliver`` as a loop's step: it logs what it did and returns how many."""
    def step(app: Flask, stop: threading.Event) -> int:
        report = deliver(app, stop)
        if report.claimed:
            log.info("sent %s, retrying %s, failed %s", report.sent, report.retrying,
                     report.failed)
        return report.claimed
    return step


def _loop(app: Flask, stop: threading.Event, step: Callable[[Flask, threading.Event], int],
          batch_size: int, poll_seconds: float) -> None:
    """Run ``step`` until ``stop`` is set; sleep after a short batch, back off while failing.

    Nothing but ``stop`` ends the loop: a database that goes away (or stays locked) is
    waited for, 1 s and doubling up to 30 s between attempts.
    """
    delays = retry_delays()
    while not stop.is_set():
        try:
            handled = step(app, stop)
        except DATABASE_DOWN as error:
            delay = next(delays)
            log.error("database unavailable (%s); trying again in %s s", error.orig or error,
                      delay)
            stop.wait(delay)
            continue
        except Exception:
            delay = next(delays)
            log.exception("a batch failed; trying again in %s s", delay)
            stop.wait(delay)
            continue
        delays = retry_delays()
        if handled < batch_size:
            stop.wait(poll_seconds)


def stop_on_signals(stop: threading.Event) -> None:
    """Set ``stop`` on SIGTERM and SIGINT: the message in hand is finished, then we exit."""

    def _handler(signum: int, _frame: FrameType | None) -> None:
        log.info("signal %s: finishing the message in hand", signum)
        stop.set()

    signal.signal(signal.SIGTERM, _handler)
    signal.signal(signal.SIGINT, _handler)
