"""Signing up through the forms and the JSON endpoint."""

from __future__ import annotations

import re

import pytest
from flask import Flask
from flask.testing import FlaskClient

from newsletter_service.models import (
    ConsentEvent,
    FieldMode,
    Subscriber,
    Subscription,
    SubscriptionStatus,
)

from .factories import all_rows, make_newsletter, open_session, outbox_rows

SUCCESS = "Thank you for signing up for this newsletter. We&#39;ve sent you a confirmation email."


@pytest.fixture
def newsletters(app: Flask) -> None:
    make_newsletter(app, "daily", "The Daily", description="News every morning.")
    make_newsletter(app, "weekly", "The Weekly", name_field=FieldMode.required,
                    consent_text="I agree to receive The Weekly.")


def test_index_shows_one_form_per_newsletter(client: FlaskClient, newsletters: None) -> None:
    page = client.get("/").get_data(as_text=True)
    assert page.count('<form class="signup-form"') == 2
    assert 'action="/newsletters/daily/subscribe"' in page
    assert 'action="/newsletters/weekly/subscribe"' in page
    assert "News every morning." in page
    assert page.count(">Subscribe</button>") == 2
    assert page.count("indicates required") == 2
    # ids are unique on the page, labels point at them
    ids = re.findall(r'\bid="([^"]+)"', page)
    assert len(ids) == len(set(ids))
    assert 'for="nl-daily-email"' in page and 'id="nl-daily-email"' in page


def test_index_marks_required_fields(client: FlaskClient, newsletters: None) -> None:
    page = client.get("/").get_data(as_text=True)
    weekly = page[page.index('action="/newsletters/weekly/subscribe"'):]
    assert re.search(r'<input[^>]*id="nl-weekly-name"[^>]*required', weekly)
    assert 'I agree to receive The Weekly.' in weekly
    daily = page[page.index('action="/newsletters/daily/subscribe"'):
                 page.index('action="/newsletters/weekly/subscribe"')]
    assert "nl-daily-name" not in daily  # only asked where the newsletter wants it


def test_good_address_shows_success_and_stores_pending(app: Flask, client: FlaskClient,
                                                       newsletters: None) -> None:
    response = client.post("/newsletters/daily/subscribe", data={"email": "Reader@Example.COM"})
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "Successfully subscribed" in page
    assert SUCCESS in page
    [subscriber] = all_rows(app, Subscriber)
    assert subscriber.email == "Reader@example.com"  # domain lower-cased, local part kept
    assert subscriber.email_key == "reader@example.com"
    [subscription] = all_rows(app, Subscription)
    assert subscription.status is SubscriptionStatus.pending
    assert len(outbox_rows(app)) == 1


def test_newsletter_sets_its_own_success_message(app: Flask, client: FlaskClient) -> None:
    make_newsletter(app, "sport", "Sport", success_title="You're in",
                    success_message="Check your inbox for the match report.")
    page = client.post("/newsletters/sport/subscribe",
                       data={"email": "fan@example.com"}).get_data(as_text=True)
    assert "You&#39;re in" in page and "Check your inbox for the match report." in page


@pytest.mark.parametrize(("email", "message"), [
    ("", "Enter your email address."),
    ("   ", "Enter your email address."),
    ("not-an-email", "must have an @-sign"),
    ("a@b", "It should have a period."),
    ("a@@example.com", "invalid characters"),
    ("user@localhost", "It should have a period."),
    ("x" * 250 + "@example.com", "at most 254 characters"),
    ("a" * 65 + "@example.com", "too long before the @-sign"),
])
def test_bad_address_shows_form_again_with_message(app: Flask, client: FlaskClient,
                                                   newsletters: None, email: str,
                                                   message: str) -> None:
    response = client.post("/newsletters/daily/subscribe", data={"email": email})
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    error = re.search(r'<p class="field-error" id="nl-daily-email-error">([^<]*)</p>', page)
    assert error is not None and message in error.group(1)
    assert re.search(r'id="nl-daily-email"[^>]*aria-invalid="true"|aria-invalid="true"[^>]*'
                     r'id="nl-daily-email"', page)
    assert all_rows(app, Subscriber) == [] and outbox_rows(app) == []


def test_invalid_form_keeps_entered_values(client: FlaskClient, newsletters: None) -> None:
    response = client.post("/newsletters/weekly/subscribe",
                           data={"email": "keep-me@example", "name": "Ada Lovelace"})
    page = response.get_data(as_text=True)
    assert response.status_code == 422
    assert 'value="keep-me@example"' in page and 'value="Ada Lovelace"' in page
    assert "Tick the box to give your consent." in page


def test_required_name_and_consent(app: Flask, client: FlaskClient, newsletters: None) -> None:
    response = client.post("/newsletters/weekly/subscribe", json={"email": "ok@example.com"})
    assert response.status_code == 422
    assert set(response.json["errors"]) == {"name", "consent"}
    response = client.post("/newsletters/weekly/subscribe",
                           json={"email": "ok@example.com", "name": "Ada", "consent": True})
    assert response.status_code == 200
    [subscription] = all_rows(app, Subscription)
    assert subscription.name == "Ada" and subscription.consent_given


def test_errors_stay_with_their_form(client: FlaskClient, newsletters: None) -> None:
    page = client.post("/newsletters/weekly/subscribe",
                       data={"email": "bad"}).get_data(as_text=True)
    assert "nl-weekly-email-error" in page
    assert "nl-daily" not in page  # the other newsletter's form is not touched
    fresh = client.get("/").get_data(as_text=True)
    assert "field-error" not in fresh


def test_json_signup_answers_json(client: FlaskClient, newsletters: None) -> None:
    response = client.post("/newsletters/daily/subscribe", json={"email": "json@example.com"})
    assert response.status_code == 200
    assert response.json["ok"] is True and response.json["status"] == "pending"
    assert "Thank you for signing up" in response.json["message"]


def test_accept_header_asks_for_json(client: FlaskClient, newsletters: None) -> None:
    response = client.post("/newsletters/daily/subscribe", data={"email": "nope"},
                           headers={"Accept": "application/json"})
    assert response.status_code == 422
    assert response.json == {"ok": False, "errors": {"email": [
        "An email address must have an @-sign."]}}


@pytest.mark.parametrize("before", ["pending", "confirmed"])
def test_same_answer_whatever_the_address_was(app: Flask, client: FlaskClient,
                                              newsletters: None, before: str) -> None:
    first = client.post("/newsletters/daily/subscribe", json={"email": "same@example.com"})
    if before == "confirmed":
        with open_session(app) as session:
            subscription = session.query(Subscription).one()
            subscription.status = SubscriptionStatus.confirmed
            session.commit()
    again = client.post("/newsletters/daily/subscribe", json={"email": "SAME@example.com"})
    fresh = client.post("/newsletters/daily/subscribe", json={"email": "new@example.com"})
    assert first.json == again.json == fresh.json
    assert first.status_code == again.status_code == fresh.status_code == 200
    assert len(all_rows(app, Subscriber)) == 2


def test_signup_records_proof_of_consent(app: Flask, client: FlaskClient,
                                         newsletters: None) -> None:
    client.post("/newsletters/weekly/subscribe",
                data={"email": "proof@example.com", "name": "P", "consent": "y",
                      "source": "https://publisher.example/story"},
                headers={"User-Agent": "TestBrowser/1.0"})
    [event] = all_rows(app, ConsentEvent)
    assert event.kind.value == "subscribed"
    assert event.source == "https://publisher.example/story"
    assert event.user_agent == "TestBrowser/1.0"
    assert event.ip == "127.0.0.1"
    assert event.consent_text == "I agree to receive The Weekly."
    [subscription] = all_rows(app, Subscription)
    assert subscription.source == "https://publisher.example/story"


def test_referer_is_the_source_when_none_is_posted(app: Flask, client: FlaskClient,
                                                   newsletters: None) -> None:
    client.post("/newsletters/daily/subscribe", data={"email": "ref@example.com"},
                headers={"Referer": "https://publisher.example/article-1"})
    [subscription] = all_rows(app, Subscription)
    assert subscription.source == "https://publisher.example/article-1"


def test_inactive_newsletter_is_not_found(app: Flask, client: FlaskClient) -> None:
    make_newsletter(app, "old", "Old", is_active=False)
    assert client.get("/newsletters/old").status_code == 404
    assert client.post("/newsletters/old/subscribe", json={"email": "a@example.com"}).json == {
        "ok": False, "error": "There is no newsletter at this address."}


def test_hosted_page_shows_the_form(client: FlaskClient, newsletters: None) -> None:
    page = client.get("/newsletters/weekly").get_data(as_text=True)
    assert "<h1" in page and "The Weekly" in page and ">Subscribe</button>" in page


def test_healthz(client: FlaskClient) -> None:
    assert client.get("/healthz").json == {"ok": True}
