"""The outbox worker on SQLite and PostgreSQL: retries, leases, several workers at once."""

from __future__ import annotations

import sqlite3
import threading
import time
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from email.message import EmailMessage
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import insert, update

from newsletter_service import db, outbox
from newsletter_service.mailers import FailingMailer, MailerError, MemoryMailer, create_mailer
from newsletter_service.models import OutboxMessage, OutboxStatus, utcnow
from newsletter_service.outbox import RenderedEmail, RetryPolicy, deliver_pending
from newsletter_service.worker import run_forever

from .factories import all_rows, executed_sql, make_due, numbered_email, open_session, queue
from .smtp_sink import SMTPSink

POLICY = RetryPolicy(max_attempts=3, backoff_seconds=60, lease_seconds=300)


def deliver(app: Flask, mailer: object, worker: str = "w1",
            **kwargs: object) -> outbox.DeliveryReport:
    return deliver_pending(app.extensions["db_sessionmaker"], mailer,  # type: ignore[arg-type]
                           worker_id=worker, policy=POLICY, **kwargs)  # type: ignore[arg-type]


def test_delivers_and_marks_sent(db_app: Flask) -> None:
    queue(db_app, 3)
    mailer = MemoryMailer()
    report = deliver(db_app, mailer)
    assert report.sent == 3
    assert [m["Subject"] for m in mailer.outbox] == ["Message 0", "Message 1", "Message 2"]
    rows = all_rows(db_app, OutboxMessage)
    assert {r.status for r in rows} == {OutboxStatus.sent}
    assert all(r.sent_at is not None and r.attempts == 1 for r in rows)
    assert deliver(db_app, mailer).claimed == 0  # nothing twice


def test_transient_failure_is_retried_later_with_backoff(db_app: Flask) -> None:
    queue(db_app, 1)
    failing = FailingMailer(MailerError("451 4.3.0 Try again later", permanent=False))
    report = deliver(db_app, failing)
    assert (report.sent, report.retrying) == (0, 1)
    [row] = all_rows(db_app, OutboxMessage)
    assert row.status is OutboxStatus.pending and row.attempts == 1
    assert "451" in (row.last_error or "")
    assert row.next_attempt_at > utcnow() + timedelta(seconds=40)  # ~60 s, with jitter
    assert deliver(db_app, MemoryMailer()).claimed == 0  # not due yet
    make_due(db_app)
    assert deliver(db_app, MemoryMailer()).sent == 1


def test_backoff_doubles() -> None:
    now = utcnow()
    delays = [(POLICY.next_attempt(n, now) - now).total_seconds() for n in (1, 2, 3)]
    assert 48 <= delays[0] <= 72 and 96 <= delays[1] <= 144 and 192 <= delays[2] <= 288


def test_gives_up_after_the_attempt_limit(db_app: Flask) -> None:
    queue(db_app, 1)
    failing = FailingMailer(MailerError("421 busy", permanent=False))
    for _ in range(POLICY.max_attempts):
        make_due(db_app)
        deliver(db_app, failing)
    [row] = all_rows(db_app, OutboxMessage)
    assert row.status is OutboxStatus.failed and row.attempts == POLICY.max_attempts


def test_permanent_failure_is_not_retried(db_app: Flask) -> None:
    queue(db_app, 2)
    failing = FailingMailer(MailerError("550 5.1.1 No such user", permanent=True))
    report = deliver(db_app, failing)
    assert report.failed == 2  # a permanent error is the message's, not the server's
    assert {r.status for r in all_rows(db_app, OutboxMessage)} == {OutboxStatus.failed}


def test_transient_failure_hands_the_rest_of_the_batch_back(db_app: Flask) -> None:
    queue(db_app, 5)
    report = deliver(db_app, FailingMailer(MailerError("connection refused", permanent=False)))
    assert (report.retrying, report.claimed) == (1, 1)
    rows = all_rows(db_app, OutboxMessage)
    assert [r.attempts for r in rows] == [1, 0, 0, 0, 0]
    assert deliver(db_app, MemoryMailer()).sent == 4  # the untried ones go at once


def test_a_killed_worker_leaves_its_messages_to_the_next(db_app: Flask) -> None:
    queue(db_app, 4)
    sessions = db_app.extensions["db_sessionmaker"]
    claimed = outbox._claim(sessions, "dead-worker", 10, POLICY)  # claims, then "dies"
    assert len(claimed) == 4
    assert deliver(db_app, MemoryMailer(), "w2").claimed == 0  # leased to the dead worker
    with sessions() as session:  # the lease runs out
        session.execute(update(OutboxMessage).values(claimed_until=utcnow() - timedelta(1)))
        session.commit()
    mailer = MemoryMailer()
    assert deliver(db_app, mailer, "w2").sent == 4
    assert len(mailer.outbox) == 4


def test_stop_request_finishes_the_message_in_hand_and_releases_the_rest(db_app: Flask) -> None:
    queue(db_app, 5)
    mailer = MemoryMailer()
    report = deliver(db_app, mailer, should_stop=lambda: len(mailer.outbox) >= 2)
    assert report.sent == 2
    assert deliver(db_app, MemoryMailer(), "w2").sent == 3  # released, not leased


class SlowMailer(MemoryMailer):
    """A mailer that takes a moment per message, so workers overlap."""

    def send(self, message: EmailMessage) -> None:
        time.sleep(0.002)
        super().send(message)


def test_three_workers_send_each_message_exactly_once(db_app: Flask) -> None:
    queue(db_app, 300)
    mailer = SlowMailer()
    stop = threading.Event()

    def work(name: str) -> None:
        while deliver(db_app, mailer, name, batch_size=20).claimed:
            pass

    with ThreadPoolExecutor(max_workers=3) as pool:
        list(pool.map(work, ["w1", "w2", "w3"]))
    stop.set()
    counts = Counter(m["Message-ID"] for m in mailer.outbox)
    assert len(counts) == 300 and set(counts.values()) == {1}
    assert {r.status for r in all_rows(db_app, OutboxMessage)} == {OutboxStatus.sent}


@pytest.mark.postgres
def test_claims_skip_rows_locked_by_another_worker(app: Flask, request: pytest.FixtureRequest,
                                                   tmp_path: object) -> None:
    """On PostgreSQL a claim never waits for, nor takes, another claim's rows."""
    from sqlalchemy import select

    from newsletter_service.db import make_engine

    url = request.getfixturevalue("postgres_url")
    engine = make_engine(url)
    from sqlalchemy.orm import sessionmaker

    sessions = sessionmaker(engine)
    with sessions() as session:
        session.execute(update(OutboxMessage).values(status=OutboxStatus.sent))
        for index in range(4):
            outbox.enqueue(session, RenderedEmail.of(numbered_email(index)), kind="lock-test")
        session.commit()
    with sessions() as holder:  # another worker mid-claim holds two rows
        locked = holder.scalars(
            select(OutboxMessage.id).where(OutboxMessage.status == OutboxStatus.pending)
            .order_by(OutboxMessage.id).limit(2).with_for_update()).all()
        claimed = outbox._claim(sessions, "w2", 10, POLICY)
        holder.rollback()
    assert len(locked) == 2 and len(claimed) == 2
    assert not set(locked) & {row_id for row_id, *_ in claimed}
    engine.dispose()


class RawRecorder(MemoryMailer):
    """A mailer that takes stored bytes as they are, recording the envelope."""

    def __init__(self) -> None:
        super().__init__()
        self.envelopes: list[tuple[str, list[str]]] = []

    def send_raw(self, data: bytes, sender: str, recipients: list[str]) -> None:
        self.envelopes.append((sender, recipients))


def test_raw_sending_takes_the_envelope_from_the_stored_message(app: Flask) -> None:
    from email.headerregistry import Address

    with open_session(app) as session:
        message = EmailMessage()
        message["From"] = Address("A newsletter name long enough to be folded " * 3,
                                  addr_spec="news@example.com")
        message["To"] = Address("Reader", addr_spec="reader@bücher.example")
        message["Subject"] = "Hi"
        message.set_content("Hello")
        outbox.enqueue(session, RenderedEmail.of(message), kind="test")
        session.commit()
    recorder = RawRecorder()
    assert deliver(app, recorder).sent == 1
    assert recorder.envelopes == [("news@example.com", ["reader@bücher.example"])]


def sqlite_path(app: Flask) -> str:
    return str(app.config["DATABASE_URL"]).removeprefix("sqlite:///")


def wait_for(condition: Callable[[], bool], seconds: float = 20) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_no_transaction_is_open_while_a_slow_relay_sends(app: Flask, smtp_sink: SMTPSink) -> None:
    # Before: the 550's row was updated in the session, whose transaction (SQLite's write
    # lock) stayed open while the next 19 messages went out; signups waited, then got 503.
    queue(app, 5)
    smtp_sink.delay = 0.4
    smtp_sink.fail_next(1, 550, "5.1.1 No such user", command="RCPT")
    mailer = create_mailer(f"smtp://{smtp_sink.host}:{smtp_sink.port}")
    worker = threading.Thread(target=deliver, args=(app, mailer))
    worker.start()
    wait_for(lambda: len(smtp_sink.received) >= 1)  # the 550 is behind it: mid-batch now
    writer = sqlite3.connect(sqlite_path(app), timeout=0.2, isolation_level=None)
    try:
        writer.execute("BEGIN IMMEDIATE")  # what a signup does; it waited 10 s before
        writer.execute("ROLLBACK")
        assert worker.is_alive() and len(smtp_sink.received) < 4
    finally:
        writer.close()
        worker.join()
    rows = all_rows(app, OutboxMessage)
    assert [r.status for r in rows] == [OutboxStatus.failed] + [OutboxStatus.sent] * 4
    assert "550" in (rows[0].last_error or "")


class LockingMailer(MemoryMailer):
    """Sends; at the ``at``-th message another connection takes SQLite's write lock a while."""

    def __init__(self, path: str, at: int, seconds: float) -> None:
        super().__init__()
        self.locker = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self.at, self.seconds = at, seconds

    def send(self, message: EmailMessage) -> None:
        super().send(message)
        if len(self.outbox) == self.at:
            self.locker.execute("BEGIN IMMEDIATE")
            threading.Timer(self.seconds, self.locker.execute, ["ROLLBACK"]).start()


@pytest.fixture
def short_busy_timeout(app: Flask, monkeypatch: pytest.MonkeyPatch) -> None:
    """Make SQLite give up on a lock after 0.2 s instead of 10 (a test cannot wait that)."""
    monkeypatch.setattr(db, "SQLITE_BUSY_TIMEOUT_MS", 200)
    app.extensions["db_engine"].dispose()  # new connections set the shorter timeout


@pytest.mark.usefixtures("short_busy_timeout")
def test_outcomes_are_recorded_once_a_lock_past_the_busy_timeout_ends(app: Flask) -> None:
    queue(app, 3)
    mailer = LockingMailer(sqlite_path(app), at=2, seconds=1.5)
    stop = threading.Event()
    report = deliver(app, mailer, pause=stop.wait)  # before: OperationalError, outcomes lost
    assert report.sent == 3
    assert {r.status for r in all_rows(app, OutboxMessage)} == {OutboxStatus.sent}
    assert deliver(app, MemoryMailer()).claimed == 0  # nothing left to send twice


@pytest.mark.usefixtures("short_busy_timeout")
@pytest.mark.app_config(WORKER_POLL_SECONDS=0.1)
def test_the_worker_outlives_a_lock_held_past_the_busy_timeout(app: Flask,
                                                               mailer: MemoryMailer) -> None:
    queue(app, 3)
    locker = sqlite3.connect(sqlite_path(app), isolation_level=None)
    locker.execute("BEGIN IMMEDIATE")
    stop = threading.Event()
    worker = threading.Thread(target=run_forever, args=(app, stop))
    worker.start()
    try:
        time.sleep(1.5)  # the worker's claims time out (0.2 s) and it backs off (1 s, 2 s)
        assert worker.is_alive() and mailer.outbox == []
        locker.execute("ROLLBACK")
        wait_for(lambda: len(mailer.outbox) == 3)
        assert worker.is_alive()
    finally:
        locker.close()
        stop.set()
        worker.join(timeout=10)
    assert not worker.is_alive()
    assert {r.status for r in all_rows(app, OutboxMessage)} == {OutboxStatus.sent}


def _plan_steps(node: dict[str, Any]) -> list[dict[str, Any]]:
    """Return a PostgreSQL JSON plan node and every node under it."""
    return [node, *(step for child in node.get("Plans", []) for step in _plan_steps(child))]


def test_a_claim_reads_the_due_rows_not_the_sent_history(db_app: Flask) -> None:
    # Claimed by id, SQLite read and sorted every due row, and PostgreSQL walked the primary
    # key past every sent row the outbox keeps (125 ms a claim with 45,000 of them). Here
    # 20,000 sent and 2,000 due: enough for PostgreSQL's planner to have walked the key.
    now, rendered = utcnow(), RenderedEmail.of(numbered_email(0))
    with open_session(db_app) as session:
        session.execute(insert(OutboxMessage), [
            {"kind": "confirm", "recipient": rendered.recipient, "sender": rendered.sender,
             "message": rendered.raw,
             "status": OutboxStatus.sent if i < 20_000 else OutboxStatus.pending,
             "next_attempt_at": now - timedelta(minutes=1), "created_at": now}
            for i in range(22_000)])
        session.commit()
    engine = db_app.extensions["db_engine"]
    with engine.begin() as connection:
        if engine.dialect.name == "postgresql":
            connection.exec_driver_sql("ANALYZE outbox")  # as autovacuum would by now
    with executed_sql(db_app) as executed:
        assert deliver(db_app, MemoryMailer()).sent == 100
    [(statement, parameters)] = [(sql, values) for sql, values in executed
                                 if sql.startswith("SELECT outbox.id") and "LIMIT" in sql]
    with engine.connect() as connection:
        if engine.dialect.name == "sqlite":
            plan = [step[-1] for step in connection.exec_driver_sql(
                f"EXPLAIN QUERY PLAN {statement}", parameters)]
            assert any("INDEX ix_outbox_due" in step for step in plan), plan
            assert not [step for step in plan if "TEMP B-TREE" in step], plan
        else:
            [[explained]] = connection.exec_driver_sql(
                f"EXPLAIN (ANALYZE, FORMAT JSON) {statement}", parameters).all()
            connection.rollback()
            steps = _plan_steps(explained[0]["Plan"])
            # Only due rows are read (a sort of those few is the planner's choice).
            assert not [s for s in steps if s["Node Type"] == "Seq Scan"], steps
            assert sum(s.get("Rows Removed by Filter", 0) for s in steps) < 100, steps
