"""The shield for victims of mail bombing: one mailbox, one per-IP bucket, a ceiling per domain."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from flask import Flask
from sqlalchemy import update

from newsletter_service import signup_queue
from newsletter_service.addresses import mailbox_key
from newsletter_service.mailers import SMTPMailer
from newsletter_service.models import OutboxMessage, OutboxStatus, utcnow
from newsletter_service.worker import deliver_once

from .factories import all_rows, make_newsletter, open_session
from .smtp_sink import SMTPSink

VICTIM = "victim@gmail.com"
VARIANTS = ["victim+1@gmail.com", "victim+2@gmail.com", "v.i.c.t.i.m@gmail.com",
            "Victim@GoogleMail.com", "vic.tim+news@googlemail.com", "VICTIM+x@gmail.com",
            "victim@gmail.com", "v.ictim+3@gmail.com", "victim+4@googlemail.com",
            "vi.ctim@gmail.com", "victim+5@gmail.com", "victim+6@gmail.com"]
SLUGS = [f"list{n}" for n in range(8)]


@pytest.mark.parametrize("address, key", [
    ("victim@gmail.com", "victim@gmail.com"),
    ("V.i.c.t.i.m+spam@GoogleMail.com", "victim@gmail.com"),
    ("first.last+tag@example.com", "first.last@example.com"),
    ("First.Last@Example.COM", "first.last@example.com"),
    ("+only@example.com", "+only@example.com"),
    ("josé+x@exämple.com", "josé@exämple.com"),
])
def test_mailbox_key_joins_what_reaches_one_mailbox(address: str, key: str) -> None:
    assert mailbox_key(address) == key


@pytest.fixture
def bombed_app(db_app: Flask, smtp_sink: SMTPSink) -> Flask:
    """The app on each database, many newsletters, its mailer a real SMTP client of the sink."""
    db_app.extensions["mailer"] = SMTPMailer(smtp_sink.host, smtp_sink.port, timeout=2)
    for slug in SLUGS:
        make_newsletter(db_app, slug, f"List {slug}")
    return db_app


def attack(app: Flask, ips: list[str]) -> list[int]:
    """Sign the victim's variants up everywhere, one request per IP in turn; return statuses."""
    client = app.test_client()
    statuses = []
    for n, address in enumerate(VARIANTS * 2):
        environ = {"REMOTE_ADDR": ips[n % len(ips)]}
        if n % 3 == 2:
            answer = client.post("/subscribe", environ_base=environ,
                                 json={"email": address, "newsletters": SLUGS[:4]})
        else:
            answer = client.post(f"/newsletters/{SLUGS[n % len(SLUGS)]}/subscribe",
                                 environ_base=environ, data={"email": address})
        statuses.append(answer.status_code)
    return statuses


def reaching_victim(sink: SMTPSink) -> int:
    return sum(1 for mail in sink.received for rcpt in mail.rcpt_tos
               if mailbox_key(rcpt) == VICTIM)


# The attack is about the limits: they are on, as in production.
@pytest.mark.app_config(RATELIMIT_ENABLED=True)
def test_one_ip_bombing_every_form_reaches_the_mailbox_at_most_the_cap(
        bombed_app: Flask, smtp_sink: SMTPSink) -> None:
    statuses = attack(bombed_app, ["198.51.100.7"])
    assert statuses.count(200) == 10 and set(statuses[10:]) == {429}  # one shared bucket
    deliver_once(bombed_app)
    assert 1 <= reaching_victim(smtp_sink) <= bombed_app.config["CONFIRM_MAX_PER_DAY"]


@pytest.mark.app_config(RATELIMIT_ENABLED=True)
def test_bombing_from_many_ips_still_reaches_the_mailbox_at_most_the_cap(
        bombed_app: Flask, smtp_sink: SMTPSink) -> None:
    statuses = attack(bombed_app, [f"198.51.100.{n}" for n in range(1, 40)])
    assert set(statuses) == {200}  # nobody learns anything
    deliver_once(bombed_app)
    assert reaching_victim(smtp_sink) == bombed_app.config["CONFIRM_MAX_PER_DAY"]


def test_simultaneous_variants_pass_the_mailbox_cap_one_at_a_time(db_app: Flask) -> None:
    make_newsletter(db_app, "daily", "The Daily")
    barrier = threading.Barrier(len(VARIANTS))

    def sign_up(address: str) -> None:
        client = db_app.test_client()
        barrier.wait()
        assert client.post("/newsletters/daily/subscribe",
                           json={"email": address}).status_code == 200

    threads = [threading.Thread(target=sign_up, args=(a,)) for a in VARIANTS]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    # The worker's part: the signups that found others waiting were left to it.
    with db_app.app_context(), open_session(db_app) as session:
        signup_queue.process_waiting(session)
    queued = [r for r in all_rows(db_app, OutboxMessage) if r.kind == "confirm"]
    assert len(queued) == db_app.config["CONFIRM_MAX_PER_DAY"]
    assert {r.mailbox_key for r in queued} == {VICTIM}


@pytest.mark.app_config(RATELIMIT_ENABLED=True, RATELIMIT_SIGNUP="4 per minute")
def test_every_endpoint_that_sends_a_confirmation_shares_one_bucket_per_ip(app: Flask) -> None:
    make_newsletter(app, "daily", "The Daily")
    client = app.test_client()
    answers = [
        client.post("/newsletters/daily/subscribe", json={"email": "a@example.com"}),
        client.post("/subscribe", json={"email": "b@example.com", "newsletters": ["daily"]}),
        client.post("/confirm/not-a-token/resend"),
        client.post("/newsletters/daily/subscribe", json={"email": "c@example.com"}),
        client.post("/subscribe", json={"email": "d@example.com", "newsletters": ["daily"]}),
        client.post("/confirm/not-a-token/resend"),
    ]
    assert [a.status_code for a in answers] == [200, 200, 404, 200, 429, 429]


# A small ceiling, so that a handful of readers reach it.
@pytest.mark.app_config(CONFIRM_MAX_PER_DOMAIN_PER_HOUR=3)
def test_a_domain_over_its_hourly_ceiling_waits_rather_than_loses_mail(
        bombed_app: Flask, smtp_sink: SMTPSink) -> None:
    client = bombed_app.test_client()
    for n in range(5):
        client.post("/newsletters/list0/subscribe", json={"email": f"reader{n}@gmail.com"})
    client.post("/newsletters/list0/subscribe", json={"email": "reader@example.com"})
    deliver_once(bombed_app)
    assert sorted(m.rcpt_tos[0] for m in smtp_sink.received) == [
        "reader0@gmail.com", "reader1@gmail.com", "reader2@gmail.com", "reader@example.com"]
    waiting = [r for r in all_rows(bombed_app, OutboxMessage)
               if r.status is OutboxStatus.pending]
    assert [r.recipient for r in waiting] == ["reader3@gmail.com", "reader4@gmail.com"]
    assert all(r.next_attempt_at > utcnow() and r.attempts == 0 for r in waiting)
    with open_session(bombed_app) as session:  # an hour later
        session.execute(update(OutboxMessage).values(
            sent_at=utcnow() - timedelta(hours=1, seconds=1), next_attempt_at=utcnow()))
        session.commit()
    deliver_once(bombed_app)
    assert len(smtp_sink.received) == 6
