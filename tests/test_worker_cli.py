"""The worker and purge commands, as an operator runs them."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

from flask import Flask
from flask.testing import FlaskCliRunner
from sqlalchemy import update

from newsletter_service.mailers import MemoryMailer
from newsletter_service.models import Subscriber, Subscription, utcnow

from .factories import all_rows, make_newsletter, open_session, subscribe

SCRIPT = str(Path(sys.executable).parent / "newsletter-service")


def test_worker_once_delivers_what_is_due(app: Flask, runner: FlaskCliRunner,
                                          mailer: MemoryMailer) -> None:
    make_newsletter(app)
    subscribe(app, "a@example.com")
    subscribe(app, "b@example.com")
    result = runner.invoke(args=["worker", "--once"])
    assert result.exit_code == 0, result.output
    assert "Sent 2 emails." in result.output
    assert len(mailer.outbox) == 2


def test_worker_runs_until_sigterm_then_exits_cleanly(app: Flask, tmp_path: Path) -> None:
    make_newsletter(app)
    subscribe(app, "a@example.com")
    maildir = tmp_path / "mail"
    env = {**os.environ, "NEWSLETTER_DATABASE_URL": app.config["DATABASE_URL"],
           "NEWSLETTER_SECRET_KEY": "x" * 32, "NEWSLETTER_MAILER": f"file://{maildir}",
           "NEWSLETTER_BASE_URL": "http://newsletters.test",
           "NEWSLETTER_WORKER_POLL_SECONDS": "0.2"}
    worker = subprocess.Popen([SCRIPT, "worker"], env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 30
        while not list(maildir.glob("*.eml")) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert len(list(maildir.glob("*.eml"))) == 1
        subscribe(app, "b@example.com")  # a worker keeps polling
        while len(list(maildir.glob("*.eml"))) < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert len(list(maildir.glob("*.eml"))) == 2
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(timeout=15) == 0
    finally:
        if worker.poll() is None:
            worker.kill()
        worker.communicate()


def test_purge_unconfirmed_removes_only_old_pending_signups(app: Flask,
                                                            runner: FlaskCliRunner) -> None:
    make_newsletter(app)
    subscribe(app, "old@example.com")
    subscribe(app, "new@example.com")
    with open_session(app) as session:
        session.execute(update(Subscription).where(Subscription.id == 1)
                        .values(created_at=utcnow() - timedelta(days=31)))
        session.commit()
    result = runner.invoke(args=["purge-unconfirmed"])
    assert "Purged 1 unconfirmed subscriptions older than 30 days." in result.output
    assert [s.email for s in all_rows(app, Subscriber)] == ["new@example.com"]
