"""'This wasn't me': the not-me link of every confirmation email, and the console's view of it."""

from __future__ import annotations

import re

import pytest
from flask import Flask
from flask.testing import FlaskClient

from newsletter_service.mailers import MemoryMailer
from newsletter_service.models import (
    ConsentEvent,
    ConsentEventKind,
    NotMeBlock,
    OutboxMessage,
    Subscription,
    SubscriptionStatus,
)

from .admin_support import form_post, log_in, make_admin
from .factories import all_rows, deliver, link_in, make_newsletter, text_body

NOT_ME_LINK = re.compile(r"http://newsletters\.test(/not-me/[A-Za-z0-9_.\-]+)")
BROWSER = {"User-Agent": "Mozilla/5.0 (X11; Linux x86_64) Firefox/140.0",
           "Accept-Language": "en"}
# Opened at once, the page would take the test client for a link scanner (scanners.py):
# these tests are about what a reader sees later.
LATER = pytest.mark.app_config(CONFIRM_SCANNER_SECONDS=0)


def sign_up(client: FlaskClient, email: str = "victim@example.com", slug: str = "daily") -> None:
    assert client.post(f"/newsletters/{slug}/subscribe", json={"email": email}).status_code == 200


def not_me_link(app: Flask, mailer: MemoryMailer) -> str:
    deliver(app)
    return link_in(mailer.outbox[-1], NOT_ME_LINK)


@pytest.fixture
def newsletters(db_app: Flask) -> Flask:
    make_newsletter(db_app, "daily", "The Daily")
    make_newsletter(db_app, "weekly", "The Weekly")
    return db_app


@LATER
def test_the_page_shows_a_button_and_changes_nothing(app: Flask, client: FlaskClient,
                                                     mailer: MemoryMailer) -> None:
    make_newsletter(app, "daily", "The Daily")
    sign_up(client)
    link = not_me_link(app, mailer)
    page = client.get(link, headers=BROWSER)
    assert page.status_code == 200
    assert "This wasn't me</button>" in page.get_data(as_text=True)
    assert page.headers["Referrer-Policy"] == "no-referrer"
    assert [s.status for s in all_rows(app, Subscription)] == [SubscriptionStatus.pending]


def test_a_page_opened_at_once_offers_no_button(app: Flask, client: FlaskClient,
                                                mailer: MemoryMailer) -> None:
    make_newsletter(app, "daily", "The Daily")
    sign_up(client)
    page = client.get(not_me_link(app, mailer), headers=BROWSER).get_data(as_text=True)
    assert "<button" not in page and "open it again in a minute" in page


@LATER
def test_not_me_cancels_and_stops_the_next_signups_email(newsletters: Flask) -> None:
    app, client = newsletters, newsletters.test_client()
    mailer = app.extensions["mailer"]
    sign_up(client, "victim+news@example.com")
    response = client.post(not_me_link(app, mailer))  # no cookie, no CSRF token
    assert response.status_code == 200
    assert "90 days" in response.get_data(as_text=True)
    [subscription] = all_rows(app, Subscription)
    assert subscription.status is SubscriptionStatus.unsubscribed
    assert ConsentEventKind.unsubscribed in [e.kind for e in all_rows(app, ConsentEvent)]
    [block] = all_rows(app, NotMeBlock)
    assert block.mailbox_key == "victim@example.com"
    assert client.post(link_in(mailer.outbox[0])).status_code == 404  # its confirm link died
    sent = len(all_rows(app, OutboxMessage))
    for address, slug in [("victim@example.com", "weekly"), ("Victim+2@example.com", "daily")]:
        answer = client.post(f"/newsletters/{slug}/subscribe", json={"email": address})
        assert answer.get_json()["status"] == "pending"  # the normal answer
    assert len(all_rows(app, OutboxMessage)) == sent  # and no email
    assert client.post("/newsletters/daily/subscribe",
                       json={"email": "someone.else@example.com"}).status_code == 200
    assert len(all_rows(app, OutboxMessage)) == sent + 1


@LATER
def test_not_me_twice_is_harmless(app: Flask, client: FlaskClient, mailer: MemoryMailer) -> None:
    make_newsletter(app, "daily", "The Daily")
    sign_up(client)
    link = not_me_link(app, mailer)
    assert client.post(link).status_code == 200
    assert client.post(link).status_code == 200
    assert len(all_rows(app, NotMeBlock)) == 1


@LATER
def test_not_me_leaves_a_confirmed_subscription_alone(app: Flask, client: FlaskClient,
                                                      mailer: MemoryMailer) -> None:
    make_newsletter(app, "daily", "The Daily")
    sign_up(client)
    link = not_me_link(app, mailer)
    client.post(link_in(mailer.outbox[0]))
    client.post(link)
    [subscription] = all_rows(app, Subscription)
    assert subscription.status is SubscriptionStatus.confirmed


@pytest.mark.parametrize("token", ["garbage", "a" * 300])
def test_a_bad_not_me_token_gets_a_friendly_404(client: FlaskClient, token: str) -> None:
    assert client.get(f"/not-me/{token}").status_code == 404
    assert client.post(f"/not-me/{token}").status_code == 404


@LATER
def test_the_console_shows_the_block_and_lifts_it(app: Flask, client: FlaskClient,
                                                  mailer: MemoryMailer) -> None:
    make_newsletter(app, "daily", "The Daily")
    make_newsletter(app, "weekly", "The Weekly")
    sign_up(client)
    client.post(not_me_link(app, mailer))
    admin = app.test_client()
    make_admin(app)
    log_in(admin)
    [subscription] = all_rows(app, Subscription)
    page_url = f"/admin/subscribers/{subscription.subscriber_id}"
    page = admin.get(page_url).get_data(as_text=True)
    assert "Confirmation emails blocked" in page and "this wasn't me" in page
    response = form_post(admin, f"{page_url}/lift-not-me", page=page_url)
    assert response.status_code == 303
    assert all_rows(app, NotMeBlock) == []
    assert "Confirmation emails blocked" not in admin.get(page_url).get_data(as_text=True)
    sent = len(all_rows(app, OutboxMessage))
    sign_up(client, slug="weekly")
    assert len(all_rows(app, OutboxMessage)) == sent + 1
    assert "/not-me/" in text_body(mailer.outbox[0])
