"""The preference centre: one link per reader, every public newsletter, one Save."""

from __future__ import annotations

import csv
import io
import json
import re

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from newsletter_service import privacy, webhooks
from newsletter_service.mailers import MemoryMailer
from newsletter_service.models import (
    ConsentEvent,
    ConsentEventKind,
    OutboxMessage,
    Subscriber,
    Subscription,
    SubscriptionStatus,
)

from .factories import (
    all_rows,
    deliver,
    link_in,
    make_newsletter,
    memory_mailer,
    open_session,
    text_body,
)

MANAGE_LINK = re.compile(r"http://newsletters\.test(/preferences/[A-Za-z0-9_\-]+)")
CONSENT = "I agree to receive Weekend Reads."


@pytest.fixture
def newsletters(db_app: Flask) -> Flask:
    make_newsletter(db_app, "daily", "The Daily")
    make_newsletter(db_app, "weekly", "The Weekly")
    make_newsletter(db_app, "weekend", "Weekend Reads", consent_text=CONSENT)
    make_newsletter(db_app, "hidden", "Staff Only", is_public=False)
    return db_app


@pytest.fixture
def mail(newsletters: Flask) -> MemoryMailer:
    """The memory mailer of the app on each database."""
    return memory_mailer(newsletters)


def confirmed_reader(app: Flask, client: FlaskClient, mailer: MemoryMailer,
                     email: str = "reader@example.com", slug: str = "daily") -> str:
    """Sign up and confirm through the emails; return the preference link of the welcome."""
    assert client.post(f"/newsletters/{slug}/subscribe", json={"email": email}).status_code == 200
    deliver(app)
    assert client.post(link_in(mailer.outbox[-1])).status_code == 200
    deliver(app)
    welcome = mailer.outbox[-1]
    assert "Welcome" in welcome["Subject"]
    return link_in(welcome, MANAGE_LINK)


def statuses(app: Flask) -> dict[str, SubscriptionStatus]:
    with open_session(app) as session:
        return {s.newsletter.slug: s.status for s in session.scalars(select(Subscription))}


def manage_token(app: Flask, email: str = "reader@example.com") -> str:
    with open_session(app) as session:
        token = session.scalar(select(Subscriber.manage_token)
                               .where(Subscriber.email_key == email))
        assert token
        return token


def test_page_ticks_the_readers_newsletters_and_shows_every_public_one(
        newsletters: Flask, mail: MemoryMailer) -> None:
    client = newsletters.test_client()
    link = confirmed_reader(newsletters, client, mail)
    page = client.get(link).get_data(as_text=True)
    assert re.search(r'value="daily" id="pref-daily"\s+checked', page)
    assert 'value="weekly" id="pref-weekly">' in page and "Weekend Reads" in page
    assert "Staff Only" not in page
    assert "reader@example.com" in page


def test_journey_from_a_welcome_email_untick_one_tick_two_save_export(
        newsletters: Flask, mail: MemoryMailer) -> None:
    client = newsletters.test_client()
    link = confirmed_reader(newsletters, client, mail)
    emails_before = len(mail.outbox)
    # No cookie, no CSRF token: production's settings, and the link alone is enough.
    client = newsletters.test_client(use_cookies=False)
    response = client.post(link, data={"newsletters": ["weekly", "weekend"]})
    assert response.status_code == 200
    assert "Your choices are saved." in response.get_data(as_text=True)
    assert statuses(newsletters) == {"daily": SubscriptionStatus.unsubscribed,
                                     "weekly": SubscriptionStatus.confirmed,
                                     "weekend": SubscriptionStatus.confirmed}
    assert deliver(newsletters) == 0 and len(mail.outbox) == emails_before  # nothing to confirm
    for slug, status in (("weekly", "confirmed"), ("daily", "unsubscribed")):
        result = newsletters.test_cli_runner().invoke(
            args=["subscribers", "export", slug, "--status", "all"])
        [row] = list(csv.DictReader(io.StringIO(result.output)))
        assert row["status"] == status
        assert row["manage_url"] == "http://newsletters.test" + link
        assert list(row)[9] == "manage_url"


def test_ticked_newsletters_record_consent_from_the_preferences(
        newsletters: Flask, mail: MemoryMailer) -> None:
    client = newsletters.test_client()
    link = confirmed_reader(newsletters, client, mail)
    client.post(link, json={"newsletters": ["daily", "weekend"]},
                headers={"User-Agent": "test-browser"})
    events = [e for e in all_rows(newsletters, ConsentEvent) if e.source == "preferences"]
    [event] = events
    assert event.kind is ConsentEventKind.confirmed
    assert event.consent_text == CONSENT and event.user_agent == "test-browser"
    [weekend] = [s for s in all_rows(newsletters, Subscription) if s.id == event.subscription_id]
    assert weekend.consent_given and weekend.confirmed_at is not None


def test_json_answers_the_contracts_shape_on_get_and_post(
        newsletters: Flask, mail: MemoryMailer) -> None:
    client = newsletters.test_client()
    link = confirmed_reader(newsletters, client, mail)
    shown = client.get(link, headers={"Accept": "application/json"}).get_json()
    assert shown == {"ok": True, "email": "reader@example.com", "newsletters": [
        {"slug": "daily", "name": "The Daily", "subscribed": True},
        {"slug": "weekly", "name": "The Weekly", "subscribed": False},
        {"slug": "weekend", "name": "Weekend Reads", "subscribed": False}]}
    saved = client.post(link, json={"newsletters": ["weekly"]}).get_json()
    assert [n["subscribed"] for n in saved["newsletters"]] == [False, True, False]


def test_get_and_head_change_nothing(newsletters: Flask, mail: MemoryMailer) -> None:
    client = newsletters.test_client()
    link = confirmed_reader(newsletters, client, mail)
    before = statuses(newsletters), len(all_rows(newsletters, ConsentEvent))
    assert client.get(link + "?newsletters=weekly").status_code == 200
    assert client.head(link).status_code == 200
    assert (statuses(newsletters), len(all_rows(newsletters, ConsentEvent))) == before


def test_saving_the_same_choice_twice_changes_nothing_more(
        newsletters: Flask, mail: MemoryMailer) -> None:
    client = newsletters.test_client()
    link = confirmed_reader(newsletters, client, mail)
    client.post(link, data={"newsletters": ["weekly"]})
    events = len(all_rows(newsletters, ConsentEvent))
    client.post(link, data={"newsletters": ["weekly"]})
    assert len(all_rows(newsletters, ConsentEvent)) == events


def test_a_pending_signup_ticked_in_the_centre_is_confirmed(
        newsletters: Flask, mail: MemoryMailer) -> None:
    client = newsletters.test_client()
    link = confirmed_reader(newsletters, client, mail)
    client.post("/newsletters/weekly/subscribe", json={"email": "reader@example.com"})
    assert statuses(newsletters)["weekly"] is SubscriptionStatus.pending
    client.post(link, data={"newsletters": ["daily", "weekly"]})
    assert statuses(newsletters)["weekly"] is SubscriptionStatus.confirmed


def test_unticking_everything_unsubscribes_from_all_and_leaves_hidden_ones(
        newsletters: Flask, mail: MemoryMailer) -> None:
    client = newsletters.test_client()
    link = confirmed_reader(newsletters, client, mail)
    response = client.post(link, data={})
    assert response.status_code == 200
    assert statuses(newsletters) == {"daily": SubscriptionStatus.unsubscribed}


@pytest.mark.parametrize("body", [{"newsletters": ["nope"]}, {"newsletters": "daily"},
                                  {"newsletters": [1]}, ["daily"]])
def test_a_bad_choice_is_refused_and_changes_nothing(
        newsletters: Flask, mail: MemoryMailer, body: object) -> None:
    client = newsletters.test_client()
    link = confirmed_reader(newsletters, client, mail)
    response = client.post(link, json=body)
    assert response.status_code == 422
    assert response.get_json()["ok"] is False and "newsletters" in response.get_json()["errors"]
    assert statuses(newsletters) == {"daily": SubscriptionStatus.confirmed}


@pytest.mark.parametrize("tamper", [
    lambda token: token[:-1] + ("A" if token[-1] != "A" else "B"),
    lambda token: token[:10],
    lambda token: token + "x",
    lambda token: "x" * 300,
])
def test_a_tampered_token_is_a_friendly_4xx_and_changes_nothing(
        newsletters: Flask, mail: MemoryMailer, tamper) -> None:  # type: ignore[no-untyped-def]
    client = newsletters.test_client()
    confirmed_reader(newsletters, client, mail)
    bad = tamper(manage_token(newsletters))
    page = client.get(f"/preferences/{bad}")
    assert 400 <= page.status_code < 500 and "not valid" in page.get_data(as_text=True)
    assert 400 <= client.post(f"/preferences/{bad}", data={}).status_code < 500
    assert statuses(newsletters) == {"daily": SubscriptionStatus.confirmed}


def test_the_token_is_the_readers_stable_and_dies_with_erasure(
        newsletters: Flask, mail: MemoryMailer) -> None:
    client = newsletters.test_client()
    link = confirmed_reader(newsletters, client, mail)
    client.post("/newsletters/weekly/subscribe", json={"email": "reader@example.com"})
    deliver(newsletters)
    client.post(link_in(mail.outbox[-1]))
    deliver(newsletters)
    assert link_in(mail.outbox[-1], MANAGE_LINK) == link  # one link for the reader
    other = confirmed_reader(newsletters, client, mail, "other@example.com")
    assert other != link
    with open_session(newsletters) as session:
        reader = session.scalar(select(Subscriber).where(Subscriber.email_key ==
                                                         "reader@example.com"))
        privacy.erase(session, reader)
    assert client.get(link).status_code == 404
    assert client.get(other).status_code == 200


def test_the_unsubscribe_page_offers_the_preference_centre(
        newsletters: Flask, mail: MemoryMailer) -> None:
    client = newsletters.test_client()
    link = confirmed_reader(newsletters, client, mail)
    unsubscribe = re.search(r"http://newsletters\.test(/unsubscribe/\S+)",
                            text_body(mail.outbox[-1]))
    assert unsubscribe
    for answer in (client.get(unsubscribe.group(1)), client.post(unsubscribe.group(1))):
        assert f'href="{link}"' in answer.get_data(as_text=True)


def test_welcome_email_html_links_to_the_preference_centre(
        newsletters: Flask, mail: MemoryMailer) -> None:
    client = newsletters.test_client()
    link = confirmed_reader(newsletters, client, mail)
    html = mail.outbox[-1].get_body(preferencelist=("html",)).get_content()
    assert f'href="http://newsletters.test{link}"' in html


def test_no_email_is_queued_by_the_centre(newsletters: Flask, mail: MemoryMailer) -> None:
    client = newsletters.test_client()
    link = confirmed_reader(newsletters, client, mail)
    queued = len(all_rows(newsletters, OutboxMessage))
    client.post(link, data={"newsletters": ["daily", "weekly", "weekend"]})
    assert len(all_rows(newsletters, OutboxMessage)) == queued


def test_choices_saved_in_the_centre_reach_the_sending_system_as_webhook_events(
        newsletters: Flask, mail: MemoryMailer) -> None:
    link = confirmed_reader(newsletters, newsletters.test_client(), mail)
    with open_session(newsletters) as session:
        webhooks.add_webhook(session, "http://127.0.0.1:9/hook")
    newsletters.test_client().post(link, data={"newsletters": ["weekly"]})
    queued = [(webhooks.event_type(row.message), json.loads(row.message)["data"]["newsletter"])
              for row in all_rows(newsletters, OutboxMessage) if row.kind == "webhook"]
    assert sorted(queued) == [(webhooks.CONFIRMED, "weekly"), (webhooks.UNSUBSCRIBED, "daily")]
