"""Failures of the parts around us: the database goes away and comes back.

The cuts are real: PostgreSQL is reached through a TCP proxy on loopback that drops every
connection and refuses new ones until it is restored.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from email.message import EmailMessage
from pathlib import Path

import pytest
from flask import Flask
from sqlalchemy import text
from sqlalchemy.engine import make_url

from newsletter_service import create_app
from newsletter_service.mailers import MemoryMailer, create_mailer
from newsletter_service.models import OutboxMessage, OutboxStatus
from newsletter_service.worker import deliver_once, run_forever

from .conftest import TABLES, base_config
from .factories import all_rows, make_newsletter, subscribe
from .servers import TCPProxy
from .smtp_sink import SMTPSink

pytestmark = pytest.mark.postgres


@pytest.fixture
def proxied_app(postgres_url: str, tmp_path: Path) -> Iterator[tuple[Flask, TCPProxy]]:
    """An app whose PostgreSQL connection runs through a proxy the test can cut."""
    url = make_url(postgres_url)
    proxy = TCPProxy((url.host or "127.0.0.1", url.port or 5432))
    through_proxy = url.set(port=proxy.port).render_as_string(hide_password=False)
    app = create_app(base_config(through_proxy, tmp_path))
    yield app, proxy
    proxy.cut()
    app.extensions["db_engine"].dispose()


def test_database_unreachable_gives_503_and_recovers(
        proxied_app: tuple[Flask, TCPProxy]) -> None:
    app, proxy = proxied_app
    with app.extensions["db_engine"].begin() as connection:
        connection.execute(text(f"TRUNCATE {', '.join(TABLES)} RESTART IDENTITY CASCADE"))
    make_newsletter(app)
    client = app.test_client()
    assert client.post("/newsletters/daily/subscribe", json={"email": "a@example.com"}
                       ).status_code == 200
    proxy.cut()
    down = client.post("/newsletters/daily/subscribe", json={"email": "b@example.com"})
    assert down.status_code == 503
    assert down.json["ok"] is False and "try again" in down.json["error"]
    assert down.headers["Retry-After"]
    page = client.post("/newsletters/daily/subscribe", data={"email": "b@example.com"})
    assert page.status_code == 503 and "Traceback" not in page.get_data(as_text=True)
    assert client.get("/healthz").status_code == 503
    proxy.restore()
    assert client.get("/healthz").status_code == 200
    back = client.post("/newsletters/daily/subscribe", json={"email": "b@example.com"})
    assert back.status_code == 200


@pytest.fixture
def direct_app(postgres_url: str, tmp_path: Path) -> Iterator[Flask]:
    """An app on the same database without the proxy: readers signing up during a cut."""
    app = create_app(base_config(postgres_url, tmp_path))
    with app.extensions["db_engine"].begin() as connection:
        connection.execute(text(f"TRUNCATE {', '.join(TABLES)} RESTART IDENTITY CASCADE"))
    make_newsletter(app)
    yield app
    app.extensions["db_engine"].dispose()


def wait_for(condition: Callable[[], bool], seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_the_worker_outlives_a_database_cut_and_sends_every_message(
        proxied_app: tuple[Flask, TCPProxy], direct_app: Flask, smtp_sink: SMTPSink) -> None:
    # Before: OperationalError came out of run_forever and the worker process ended.
    app, proxy = proxied_app
    app.extensions["mailer"] = create_mailer(f"smtp://{smtp_sink.host}:{smtp_sink.port}")
    app.config["WORKER_POLL_SECONDS"] = 0.1
    stop = threading.Event()
    worker = threading.Thread(target=run_forever, args=(app, stop))
    worker.start()
    try:
        for index in range(3):
            subscribe(direct_app, f"before{index}@example.com")
        wait_for(lambda: len(smtp_sink.received) == 3)
        proxy.cut()
        for index in range(3):
            subscribe(direct_app, f"during{index}@example.com")
        time.sleep(5)
        assert worker.is_alive() and len(smtp_sink.received) == 3
        proxy.restore()
        wait_for(lambda: len(smtp_sink.received) == 6)
    finally:
        stop.set()
        worker.join(timeout=35)
    assert not worker.is_alive()
    assert sorted(r for mail in smtp_sink.received for r in mail.rcpt_tos) == sorted(
        [f"before{i}@example.com" for i in range(3)] + [f"during{i}@example.com" for i in range(3)])
    assert {row.status for row in all_rows(direct_app, OutboxMessage)} == {OutboxStatus.sent}


class CuttingMailer(MemoryMailer):
    """Sends; at the ``at``-th message the database goes away for ``seconds``."""

    def __init__(self, proxy: TCPProxy, at: int, seconds: float) -> None:
        super().__init__()
        self.proxy, self.at, self.seconds = proxy, at, seconds

    def send(self, message: EmailMessage) -> None:
        super().send(message)
        if len(self.outbox) == self.at:
            self.proxy.cut()
            threading.Timer(self.seconds, self.proxy.restore).start()


def test_a_cut_during_a_batch_records_its_outcomes_once_the_database_is_back(
        proxied_app: tuple[Flask, TCPProxy], direct_app: Flask) -> None:
    app, proxy = proxied_app
    for index in range(4):
        subscribe(direct_app, f"reader{index}@example.com")
    app.extensions["mailer"] = mailer = CuttingMailer(proxy, at=2, seconds=2)
    report = deliver_once(app, threading.Event())  # before: OperationalError, outcomes lost
    assert report.sent == 4 and len(mailer.outbox) == 4
    assert {row.status for row in all_rows(direct_app, OutboxMessage)} == {OutboxStatus.sent}
    assert deliver_once(app).claimed == 0  # nothing waits for its lease to be sent again
