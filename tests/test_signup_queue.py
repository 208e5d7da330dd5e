"""A signup is recorded in its request and carried out after the answer (issue 17).

The answer must not tell who is subscribed: the request does the same statements for a
new, a pending and a confirmed address, and what differs happens after the answer has
left, or in the worker when the web process could not finish it.
"""

from __future__ import annotations

import threading
import time

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import update
from sqlalchemy.orm import Session

from newsletter_service import privacy, signup_batches, signup_queue
from newsletter_service.addresses import normalize_address
from newsletter_service.consent import ConsentOrigin
from newsletter_service.models import (
    ConsentEvent,
    Newsletter,
    OutboxMessage,
    SignupRequest,
    Subscriber,
    Subscription,
    SubscriptionStatus,
)
from newsletter_service.signup_batches import QueuedSignup
from newsletter_service.subscriptions import Signup
from newsletter_service.worker import deliver_once, run_forever

from .factories import (
    all_rows,
    executed_sql,
    make_newsletter,
    memory_mailer,
    open_session,
    outbox_rows,
    wait_until_signups_carried_out,
)

JSON = {"Accept": "application/json"}


def unclosed_client(app: Flask) -> FlaskClient:
    """Flask's own client: it leaves each answer open until the test closes it."""
    return FlaskClient(app, app.response_class, use_cookies=False)


def test_the_signup_is_carried_out_only_once_the_answer_is_closed(app: Flask) -> None:
    make_newsletter(app, "daily")
    client = unclosed_client(app)
    response = client.post("/newsletters/daily/subscribe", json={"email": "new@example.com"},
                           headers=JSON)
    assert response.status_code == 200 and response.json["ok"] is True
    # Answered: the request is stored, nothing is decided yet.
    [waiting] = all_rows(app, SignupRequest)
    assert waiting.email == "new@example.com" and waiting.ip == "127.0.0.1"
    assert all_rows(app, Subscription) == [] and outbox_rows(app) == []
    response.close()  # what the server does once the last byte is sent
    assert all_rows(app, SignupRequest) == []
    [subscription] = all_rows(app, Subscription)
    assert subscription.status is SubscriptionStatus.pending
    assert [row.kind for row in outbox_rows(app)] == ["confirm"]


def test_the_request_runs_the_same_statements_whoever_the_reader_is(app: Flask) -> None:
    make_newsletter(app, "daily")
    client = unclosed_client(app)

    def request_statements(address: str) -> list[str]:
        with executed_sql(app) as seen:
            response = client.post("/newsletters/daily/subscribe", json={"email": address},
                                   headers=JSON)
        assert response.status_code == 200
        response.close()
        return [statement for statement, _ in seen]

    for address in ("pending@example.com", "confirmed@example.com"):
        request_statements(address)
    with open_session(app) as session:
        session.execute(update(Subscription).where(Subscription.subscriber.has(
            email="confirmed@example.com")).values(status=SubscriptionStatus.confirmed))
        session.commit()
    new = request_statements("new@example.com")
    pending = request_statements("pending@example.com")
    confirmed = request_statements("confirmed@example.com")
    assert new == pending == confirmed
    assert any("INSERT INTO signup_requests" in s for s in new)
    assert not any("subscriptions" in s or "outbox" in s for s in new)


def test_the_worker_carries_out_what_the_web_process_left(app: Flask) -> None:
    make_newsletter(app, "daily")
    response = unclosed_client(app).post("/newsletters/daily/subscribe",
                                         json={"email": "left@example.com"}, headers=JSON)
    assert response.status_code == 200  # never closed: as if the process died after answering
    report = deliver_once(app)
    assert report.sent == 1
    assert all_rows(app, SignupRequest) == []
    [message] = app.extensions["mailer"].outbox
    assert message["To"] == "left@example.com"


def test_a_failure_after_the_answer_leaves_the_request_for_the_worker(
        app: Flask, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    make_newsletter(app, "daily")
    real = signup_batches.carry_out
    failures = iter([RuntimeError("the relay of a webhook exploded")])

    def failing_once(*args: object, **kwargs: object) -> None:
        # A failure the test cannot cause for real inside one call (the database answers).
        error = next(failures, None)
        if error is not None:
            raise error
        real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(signup_batches, "carry_out", failing_once)
    response = app.test_client().post("/newsletters/daily/subscribe",
                                      json={"email": "later@example.com"}, headers=JSON)
    assert response.status_code == 200
    assert "left for the worker" in caplog.text
    assert len(all_rows(app, SignupRequest)) == 1 and all_rows(app, Subscription) == []
    assert deliver_once(app).sent == 1
    assert len(all_rows(app, Subscription)) == 1 and all_rows(app, SignupRequest) == []


def test_a_request_that_always_fails_is_tried_five_times_then_left(
        app: Flask, monkeypatch: pytest.MonkeyPatch) -> None:
    make_newsletter(app, "daily")
    calls: list[list[str]] = []

    def broken(_session: object, signups: list[QueuedSignup]) -> None:
        calls.append([item.signup.address.email for item in signups])
        raise RuntimeError("broken")

    monkeypatch.setattr(signup_batches, "carry_out", broken)
    unclosed_client(app).post("/newsletters/daily/subscribe", json={"email": "x@example.com"},
                              headers=JSON)
    for _ in range(signup_queue.MAX_ATTEMPTS):
        with app.app_context(), open_session(app) as session:
            signup_queue.process_waiting(session)  # the batch fails, then the request alone
    [left] = all_rows(app, SignupRequest)
    assert left.attempts == signup_queue.MAX_ATTEMPTS
    tried = len(calls)
    with app.app_context(), open_session(app) as session:
        assert signup_queue.process_waiting(session) == 0
    assert len(calls) == tried
    # After an answer the web process carries out its own request only, never a failed one.
    app.test_client().post("/newsletters/daily/subscribe", json={"email": "y@example.com"},
                           headers=JSON)
    assert calls[tried:] == [["y@example.com"]]


def test_a_newsletter_deactivated_in_between_signs_nobody_up(app: Flask) -> None:
    make_newsletter(app, "daily")
    response = unclosed_client(app).post("/newsletters/daily/subscribe",
                                         json={"email": "late@example.com"}, headers=JSON)
    with open_session(app) as session:
        session.execute(update(Newsletter).values(is_active=False))
        session.commit()
    response.close()
    assert all_rows(app, SignupRequest) == [] and all_rows(app, Subscription) == []


def test_carried_out_once_when_web_and_worker_meet_on_it(db_app: Flask) -> None:
    make_newsletter(db_app, "daily")
    with db_app.app_context(), open_session(db_app) as session:
        newsletter = session.query(Newsletter).one()
        request_id = signup_queue.record(
            session, [newsletter], Signup(normalize_address("both@example.com")),
            ConsentOrigin(ip="192.0.2.7")).id
    results: list[bool] = []
    start = threading.Barrier(2)

    def carry_out() -> None:
        with db_app.app_context(), open_session(db_app) as session:
            start.wait()
            results.append(signup_queue.process(session, request_id))

    threads = [threading.Thread(target=carry_out) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(results) == [False, True]
    assert len(all_rows(db_app, Subscription)) == 1
    assert len(outbox_rows(db_app)) == 1
    [event_row] = all_rows(db_app, ConsentEvent)
    assert event_row.ip == "192.0.2.7"


def test_the_combined_form_keeps_the_readers_order(app: Flask) -> None:
    make_newsletter(app, "daily", "The Daily")
    make_newsletter(app, "weekly", "The Weekly")
    response = app.test_client().post(
        "/subscribe", json={"email": "both@example.com", "newsletters": ["weekly", "daily"]},
        headers=JSON)
    assert response.status_code == 200
    [message] = outbox_rows(app)
    assert isinstance(message, OutboxMessage)
    assert b"The Weekly" in message.message.split(b"\r\n\r\n")[0]  # the first one names it


def test_erasing_a_reader_drops_their_signup_still_waiting(app: Flask) -> None:
    make_newsletter(app, "daily")
    make_newsletter(app, "weekly", "The Weekly")
    app.test_client().post("/newsletters/daily/subscribe", json={"email": "gone@example.com"})
    unclosed_client(app).post("/newsletters/weekly/subscribe",
                              json={"email": "gone@example.com"})
    assert len(all_rows(app, SignupRequest)) == 1
    with app.app_context(), open_session(app) as session:
        reader = session.query(Subscriber).one()
        privacy.erase(session, reader)
    assert all_rows(app, SignupRequest) == [] and all_rows(app, Subscriber) == []


# The worker's mail loop looks every 0.1 s here (2 s in production), so the test is short.
@pytest.mark.app_config(WORKER_POLL_SECONDS=0.1)
def test_a_busy_server_leaves_its_signups_to_the_worker_which_carries_them_out_together(
        app: Flask) -> None:
    make_newsletter(app, "daily")
    # One answered signup not carried out yet (its process is busy), then another: the
    # second's process sees the first waiting and leaves its own to the worker too.
    unclosed_client(app).post("/newsletters/daily/subscribe", json={"email": "a@example.com"},
                              headers=JSON)
    app.test_client().post("/newsletters/daily/subscribe", json={"email": "b@example.com"},
                           headers=JSON)
    assert len(all_rows(app, SignupRequest)) == 2 and all_rows(app, Subscription) == []
    batches: list[int] = []
    real = signup_batches.carry_out

    def counted(session: Session, signups: list[QueuedSignup]) -> None:
        batches.append(len(signups))
        real(session, signups)

    stop = threading.Event()
    worker = threading.Thread(target=run_forever, args=(app, stop))
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(signup_batches, "carry_out", counted)
        worker.start()
        try:
            wait_until_signups_carried_out(app)
            deadline = time.monotonic() + 10
            while len(memory_mailer(app).outbox) < 2 and time.monotonic() < deadline:
                time.sleep(0.05)
        finally:
            stop.set()
            worker.join()
    assert batches == [2]
    assert sorted(str(m["To"]) for m in memory_mailer(app).outbox) == [
        "a@example.com", "b@example.com"]
