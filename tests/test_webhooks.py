"""Signed webhooks from the outbox: each event once, in order, retried under one id."""

from __future__ import annotations

import threading
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select, update

from newsletter_service import not_me, privacy, webhooks
from newsletter_service.consent import ConsentOrigin
from newsletter_service.mailers import MemoryMailer
from newsletter_service.models import (
    OutboxMessage,
    OutboxStatus,
    Subscriber,
    Subscription,
    WebhookEndpoint,
)
from newsletter_service.webhook_delivery import WebhookSettings, deliver_webhooks
from newsletter_service.worker import deliver_events_once, webhook_settings

from .factories import UNSUBSCRIBE_LINK, all_rows, deliver, link_in, make_newsletter, open_session
from .webhook_receiver import Receiver, running_receiver, wait_for

ALL = list(webhooks.EVENTS)


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    yield from running_receiver()


def add_endpoint(app: Flask, receiver: Receiver, events: list[str] | None = None) -> int:
    with open_session(app) as session:
        endpoint = webhooks.add_webhook(session, receiver.url, events)
        receiver.secret = endpoint.secret or ""
        return endpoint.id


def sign_up(client: FlaskClient, email: str) -> None:
    answer = client.post("/newsletters/daily/subscribe", json={"email": email})
    assert answer.status_code == 200, answer.get_data(as_text=True)


def erase(app: Flask, email: str) -> None:
    with open_session(app) as session:
        subscriber = session.scalars(select(Subscriber).where(Subscriber.email == email)).one()
        privacy.erase(session, subscriber)


def drain(app: Flask, settings: WebhookSettings | None = None) -> int:
    """Deliver due events until none is left due; return how many were sent."""
    sent = 0
    while True:
        report = deliver_webhooks(app.extensions["db_sessionmaker"], worker_id="test",
                                  settings=settings or webhook_settings(app))
        sent += report.sent
        if not report.claimed:
            return sent


def test_the_reader_journey_arrives_signed_once_per_event(db_app: Flask,
                                                          receiver: Receiver) -> None:
    make_newsletter(db_app)
    add_endpoint(db_app, receiver)
    client = db_app.test_client()
    mailer: MemoryMailer = db_app.extensions["mailer"]
    sign_up(client, "Reader@Example.com")
    deliver(db_app)
    drain(db_app)
    assert client.post(link_in(mailer.outbox[-1])).status_code == 200
    deliver(db_app)
    drain(db_app)
    assert client.post(link_in(mailer.outbox[-1], UNSUBSCRIBE_LINK)).status_code == 200
    drain(db_app)
    erase(db_app, "Reader@example.com")
    drain(db_app)

    assert receiver.bad_signatures == []
    assert receiver.types() == ["subscription.created", "subscription.confirmed",
                                "subscription.unsubscribed", "subscriber.erased"]
    assert [r.payload["data"]["status"] for r in receiver.received] == [
        "pending", "confirmed", "unsubscribed", "erased"]
    assert {r.payload["data"]["email"] for r in receiver.received} == {"Reader@example.com"}
    assert all(r.payload["data"]["newsletter"] == "daily" for r in receiver.received[:3])
    assert set(receiver.attempts.values()) == {1}
    # Once delivered, nothing of the erased reader's address is left in the outbox.
    assert all(b"Reader@" not in row.message for row in all_rows(db_app, OutboxMessage))


def test_erasing_a_reader_cancels_their_undelivered_events(app: Flask,
                                                           receiver: Receiver) -> None:
    make_newsletter(app)
    add_endpoint(app, receiver)
    sign_up(app.test_client(), "reader@example.com")
    erase(app, "reader@example.com")  # before the worker came round: nothing else goes out
    drain(app)
    assert receiver.types() == ["subscriber.erased"]
    assert receiver.received[0].payload["data"]["newsletters"] == ["daily"]


def test_an_endpoint_gets_only_the_events_it_asked_for(app: Flask, receiver: Receiver) -> None:
    make_newsletter(app)
    add_endpoint(app, receiver, ["subscription.confirmed"])
    sign_up(app.test_client(), "reader@example.com")
    assert drain(app) == 0
    assert receiver.received == []


def test_no_endpoint_means_no_rows(app: Flask) -> None:
    make_newsletter(app)
    sign_up(app.test_client(), "reader@example.com")
    assert [row.kind for row in all_rows(app, OutboxMessage)] == ["confirm"]


@pytest.mark.app_config(WORKER_BACKOFF_SECONDS=0.05)  # retries within the test's patience
def test_receiver_down_during_50_signups_loses_nothing_and_keeps_ids(
        db_app: Flask, receiver: Receiver, capsys: pytest.CaptureFixture[str]) -> None:
    make_newsletter(db_app)
    add_endpoint(db_app, receiver)
    receiver.stop()
    client = db_app.test_client()
    for index in range(50):
        sign_up(client, f"reader{index}@example.com")
    settings = webhook_settings(db_app)
    for _ in range(3):  # every delivery refused at least once, some twice or more
        time.sleep(0.2)
        drain(db_app, settings)
    queued = {row.webhook_id for row in all_rows(db_app, OutboxMessage) if row.endpoint_id}
    failed_attempts = sum(row.attempts for row in all_rows(db_app, OutboxMessage)
                          if row.endpoint_id)
    receiver.start()
    started = time.monotonic()
    wait_for(lambda: (drain(db_app, settings), len(receiver.received) >= 50)[1], timeout=60)
    drained_in = time.monotonic() - started

    assert receiver.bad_signatures == []
    assert Counter(r.webhook_id for r in receiver.received) == Counter(dict.fromkeys(queued, 1))
    assert failed_attempts >= 50
    rows = [r for r in all_rows(db_app, OutboxMessage) if r.endpoint_id]
    assert {r.status for r in rows} == {OutboxStatus.sent}
    with capsys.disabled():
        print(f"\n[outage] 50 events, {failed_attempts} refused attempts while down, "
              f"{sum(r.attempts for r in rows)} attempts in all, drained in {drained_in:.2f} s "
              "after the receiver came back")


def test_a_later_event_waits_for_an_earlier_one_of_the_same_reader(
        app: Flask, receiver: Receiver) -> None:
    make_newsletter(app)
    add_endpoint(app, receiver)
    client = app.test_client()
    mailer: MemoryMailer = app.extensions["mailer"]
    receiver.stop()
    sign_up(client, "reader@example.com")
    drain(app)  # created: refused, now backing off
    deliver(app)
    client.post(link_in(mailer.outbox[-1]))  # confirmed: queued behind it
    receiver.start()
    report = deliver_webhooks(app.extensions["db_sessionmaker"], worker_id="w",
                              settings=webhook_settings(app))
    assert report.claimed == 0  # the confirmation may not overtake the signup
    with app.extensions["db_sessionmaker"].begin() as session:
        session.execute(update(OutboxMessage).values(next_attempt_at=OutboxMessage.created_at))
    drain(app)
    assert receiver.types() == ["subscription.created", "subscription.confirmed"]


@pytest.mark.app_config(WEBHOOK_PAUSE_AFTER_SECONDS=0, WORKER_BACKOFF_SECONDS=0)
def test_an_endpoint_failing_too_long_is_paused_and_the_console_says_so(
        app: Flask, receiver: Receiver) -> None:
    from .admin_support import form_post, log_in, make_admin

    make_newsletter(app)
    endpoint_id = add_endpoint(app, receiver)
    receiver.stop()
    sign_up(app.test_client(), "reader@example.com")
    drain(app)
    drain(app)
    [endpoint] = all_rows(app, WebhookEndpoint)
    assert endpoint.paused_at is not None
    assert deliver_webhooks(app.extensions["db_sessionmaker"], worker_id="w").claimed == 0
    make_admin(app)
    client = app.test_client()
    log_in(client)
    page = client.get("/admin/sending/").get_data(as_text=True)
    assert "Paused" in page and "Connection" in page  # the state, and the last error
    receiver.start()
    form_post(client, f"/admin/sending/{endpoint_id}/resume", page="/admin/sending/")
    drain(app)
    assert receiver.types() == ["subscription.created"]


def test_console_adds_an_endpoint_sends_a_test_event_and_shows_the_log(
        app: Flask, receiver: Receiver) -> None:
    from .admin_support import form_post, log_in, make_admin

    make_admin(app)
    client = app.test_client()
    log_in(client)
    assert client.post("/admin/sending/", data={"url": receiver.url}).status_code == 400
    answer = form_post(client, "/admin/sending/",
                       {"url": receiver.url, "events": ALL}, page="/admin/sending/")
    [endpoint] = all_rows(app, WebhookEndpoint)
    assert endpoint.secret in answer.get_data(as_text=True)
    receiver.secret = endpoint.secret
    form_post(client, f"/admin/sending/{endpoint.id}/test", page="/admin/sending/")
    drain(app)
    assert receiver.types() == ["subscription.created"]
    assert receiver.received[0].payload["data"]["test"] is True
    page = client.get("/admin/sending/").get_data(as_text=True)
    assert "subscription.created" in page and ">sent<" in page
    form_post(client, f"/admin/sending/{endpoint.id}/remove", page="/admin/sending/")
    assert all_rows(app, WebhookEndpoint) == []


@pytest.mark.app_config(WEBHOOK_TIMEOUT_SECONDS=1)  # the slow receiver's cost, made short
def test_a_slow_receiver_slows_neither_signups_nor_emails(app: Flask, receiver: Receiver) -> None:
    make_newsletter(app)
    add_endpoint(app, receiver)
    receiver.delay = 30
    client = app.test_client()
    mailer: MemoryMailer = app.extensions["mailer"]
    for index in range(5):
        sign_up(client, f"reader{index}@example.com")  # nothing waits for the receiver
    stop = threading.Event()
    hooks = threading.Thread(target=deliver_events_once, args=(app, stop))
    hooks.start()
    wait_for(lambda: receiver.attempts)  # the webhook batch is waiting on its timeout...
    assert deliver(app) == 5  # ...while the email batch sends every confirmation
    assert len(mailer.outbox) == 5
    hooks.join()
    rows = [r for r in all_rows(app, OutboxMessage) if r.endpoint_id]
    # One timeout per endpoint and batch: the other four went back to the queue untried.
    assert sorted(r.attempts for r in rows) == [0, 0, 0, 0, 1]
    assert "no answer in 1 s" in next(r.last_error for r in rows if r.attempts)
    receiver.delay = 0


@pytest.mark.postgres
def test_three_workers_on_postgresql_deliver_each_event_once(pg_app: Flask,
                                                             receiver: Receiver) -> None:
    make_newsletter(pg_app)
    add_endpoint(pg_app, receiver)
    client = pg_app.test_client()
    for index in range(60):
        sign_up(client, f"reader{index}@example.com")
    settings = WebhookSettings(timeout=5, batch_size=7)

    def work(name: str) -> int:
        sent = 0
        while True:
            report = deliver_webhooks(pg_app.extensions["db_sessionmaker"], worker_id=name,
                                      settings=settings)
            sent += report.sent
            if not report.claimed:
                return sent

    with ThreadPoolExecutor(3) as pool:
        counts = list(pool.map(work, ["w1", "w2", "w3"]))
    assert sum(counts) == 60
    assert len(receiver.received) == 60
    assert set(receiver.attempts.values()) == {1}
    assert receiver.bad_signatures == []


def test_this_wasnt_me_tells_the_sending_system_too(app: Flask, receiver: Receiver) -> None:
    """Every way a reader leaves ends in one opt-out, which queues the event."""
    make_newsletter(app)
    add_endpoint(app, receiver)
    sign_up(app.test_client(), "bombed@example.com")
    with open_session(app) as session:
        subscriptions = list(session.scalars(select(Subscription)))
        token = not_me.not_me_url(subscriptions).rsplit("/", 1)[1]
        not_me.say_not_me(session, token, ConsentOrigin(ip="192.0.2.9"))
    events = [webhooks.event_type(row.message) for row in all_rows(app, OutboxMessage)
              if row.kind == "webhook"]
    assert events == [webhooks.CREATED, webhooks.UNSUBSCRIBED]


def test_a_readers_webhook_events_are_not_listed_as_emails(app: Flask,
                                                             receiver: Receiver) -> None:
    """The console lists the reader's emails; the data download adds who else was told."""
    from .admin_support import log_in, make_admin

    make_newsletter(app)
    add_endpoint(app, receiver)
    sign_up(app.test_client(), "reader@example.com")
    deliver(app)
    drain(app)
    assert receiver.types() == ["subscription.created"]
    make_admin(app)
    client = app.test_client()
    log_in(client)
    with open_session(app) as session:
        subscriber_id = session.scalars(select(Subscriber.id)).one()
    page = client.get(f"/admin/subscribers/{subscriber_id}").get_data(as_text=True)
    emails = page.split('id="emails"')[1].split("</section>")[0]
    assert emails.count("<tr>") == 2  # the heading and the confirmation email
    assert "confirm" in emails and "webhook" not in emails
    data = client.get(f"/admin/subscribers/{subscriber_id}/data.json").get_json()
    assert [e["kind"] for e in data["emails"]] == ["confirm"]
    assert [(e["kind"], e["receiver"], e["status"]) for e in data["webhook_events"]] == [
        ("webhook", receiver.url, "sent")]
