"""Scale out: three worker processes on one PostgreSQL drain 10,000 emails, each sent once."""

from __future__ import annotations

import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import func, select

from newsletter_service.models import OutboxMessage, OutboxStatus

from .factories import open_session, queue
from .smtp_sink import SMTPSink

pytestmark = pytest.mark.postgres
MESSAGES = 10_000
SCRIPT = str(Path(sys.executable).parent / "newsletter-service")


def test_three_workers_send_10000_emails_exactly_once(pg_app: Flask, smtp_sink: SMTPSink) -> None:
    queue(pg_app, MESSAGES, kind="confirm")
    env = {**os.environ, "NEWSLETTER_DATABASE_URL": pg_app.config["DATABASE_URL"],
           "NEWSLETTER_SECRET_KEY": "scale-test", "NEWSLETTER_BASE_URL": "http://newsletters.test",
           "NEWSLETTER_WORKER_BATCH_SIZE": "200",
           "NEWSLETTER_MAILER": f"smtp://{smtp_sink.host}:{smtp_sink.port}?timeout=30"}
    workers = [subprocess.Popen([SCRIPT, "worker", "--once"], env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True) for _ in range(3)]
    outputs = [worker.communicate(timeout=600) for worker in workers]
    assert [w.returncode for w in workers] == [0, 0, 0], outputs
    sent_by_worker = [int(out.split("Sent ")[1].split()[0]) for out, _ in outputs]
    assert sum(sent_by_worker) == MESSAGES
    assert all(sent > 0 for sent in sent_by_worker), sent_by_worker  # all three took part
    counts = Counter(m.message["Message-ID"] for m in smtp_sink.received)
    assert len(counts) == MESSAGES and set(counts.values()) == {1}
    with open_session(pg_app) as session:
        statuses = dict(session.execute(
            select(OutboxMessage.status, func.count()).group_by(OutboxMessage.status)).all())
    assert statuses == {OutboxStatus.sent: MESSAGES}
