"""The reader's journey: confirmation email, confirm page, welcome, unsubscribe."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner
from sqlalchemy import update

from newsletter_service.mailers import MemoryMailer
from newsletter_service.models import (
    ConsentEvent,
    ConsentEventKind,
    OutboxMessage,
    Subscription,
    SubscriptionStatus,
    utcnow,
)
from newsletter_service.tokens import Purpose, make_token

from .factories import (
    UNSUBSCRIBE_LINK,
    all_rows,
    deliver,
    link_in,
    make_newsletter,
    open_session,
    outbox_rows,
    text_body,
)


@pytest.fixture(autouse=True)
def newsletters(app: Flask) -> None:
    make_newsletter(app, "daily", "The Daily")
    make_newsletter(app, "weekly", "The Weekly", send_welcome=False)


def sign_up(client: FlaskClient, email: str = "reader@example.com", slug: str = "daily") -> None:
    response = client.post(f"/newsletters/{slug}/subscribe", json={"email": email})
    assert response.status_code == 200


def status_of(app: Flask) -> list[SubscriptionStatus]:
    return [s.status for s in all_rows(app, Subscription)]


def test_signup_queues_a_confirmation_email_and_sends_nothing_itself(
        app: Flask, client: FlaskClient, mailer: MemoryMailer) -> None:
    sign_up(client)
    assert mailer.outbox == []  # the request never talks to the mail server
    [row] = outbox_rows(app)
    assert row.kind == "confirm" and row.recipient == "reader@example.com"
    assert deliver(app) == 1
    [message] = mailer.outbox
    assert message["To"] == "reader@example.com"
    assert message["From"] == "The Daily <news@example.com>"
    assert "The Daily" in message["Subject"]
    assert message["Message-ID"] and message["Date"]
    assert message.get_body(preferencelist=("html",)) is not None
    assert "The Daily" in text_body(message)


def test_confirmation_email_repeats_nothing_the_reader_typed(
        app: Flask, client: FlaskClient, mailer: MemoryMailer) -> None:
    from newsletter_service.models import FieldMode

    make_newsletter(app, "named", "Named", name_field=FieldMode.optional)
    client.post("/newsletters/named/subscribe",
                json={"email": "n@example.com", "name": "WIN $$$ http://spam.example"})
    deliver(app)
    raw = mailer.outbox[0].as_string()
    assert "spam.example" not in raw and "WIN" not in raw


# Opened seconds after sending, the page offers the code instead (scanners.py): this is
# the page a reader sees later.
@pytest.mark.app_config(CONFIRM_SCANNER_SECONDS=0)
def test_open_link_shows_button_and_changes_nothing(app: Flask, client: FlaskClient,
                                                    mailer: MemoryMailer) -> None:
    sign_up(client)
    deliver(app)
    link = link_in(mailer.outbox[0])
    for method in (client.get, client.head, client.get):
        assert method(link).status_code == 200
    page = client.get(link).get_data(as_text=True)
    assert "The Daily" in page and "Confirm subscription</button>" in page
    assert "<script" not in page  # nothing auto-submits the button
    assert status_of(app) == [SubscriptionStatus.pending]


def test_pressing_the_button_confirms_and_sends_the_welcome(app: Flask, client: FlaskClient,
                                                           mailer: MemoryMailer) -> None:
    sign_up(client)
    deliver(app)
    link = link_in(mailer.outbox[0])
    response = client.post(link)
    assert response.status_code == 200
    assert "Subscription confirmed" in response.get_data(as_text=True)
    [subscription] = all_rows(app, Subscription)
    assert subscription.status is SubscriptionStatus.confirmed
    assert subscription.confirmed_at is not None
    assert deliver(app) == 1
    welcome = mailer.outbox[1]
    assert welcome["Subject"] == "Welcome to The Daily"
    assert welcome["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    # A long URL may be folded onto its own line (RFC 5322): the value is what counts.
    assert welcome["List-Unsubscribe"].strip().startswith("<http://newsletters.test/unsubscribe/")


def test_confirming_twice_is_harmless_and_welcomes_once(app: Flask, client: FlaskClient,
                                                       mailer: MemoryMailer) -> None:
    sign_up(client)
    deliver(app)
    link = link_in(mailer.outbox[0])
    client.post(link)
    second = client.post(link)
    assert second.status_code == 200
    assert "already confirmed" in second.get_data(as_text=True)
    assert "Already confirmed" in client.get(link).get_data(as_text=True)
    assert [r.kind for r in outbox_rows(app)] == ["confirm", "welcome"]
    kinds = [e.kind for e in all_rows(app, ConsentEvent)]
    assert kinds == [ConsentEventKind.subscribed, ConsentEventKind.confirmed]


def test_welcome_can_be_switched_off(app: Flask, client: FlaskClient,
                                     mailer: MemoryMailer) -> None:
    sign_up(client, slug="weekly")
    deliver(app)
    client.post(link_in(mailer.outbox[0]))
    assert [r.kind for r in outbox_rows(app)] == ["confirm"]


def test_resubmitting_a_confirmed_address_sends_nothing(app: Flask, client: FlaskClient,
                                                        mailer: MemoryMailer) -> None:
    sign_up(client)
    deliver(app)
    client.post(link_in(mailer.outbox[0]))
    sign_up(client, "READER@example.com")
    assert [r.kind for r in outbox_rows(app)] == ["confirm", "welcome"]
    assert status_of(app) == [SubscriptionStatus.confirmed]


@pytest.mark.app_config(CONFIRM_RESEND_COOLDOWN=300, CONFIRM_MAX_PER_DAY=3)
def test_pending_resubmissions_resend_at_most_once_per_cooldown(app: Flask,
                                                                client: FlaskClient) -> None:
    for _ in range(5):
        sign_up(client)
    assert len(outbox_rows(app)) == 1
    _age_outbox(app, minutes=6)
    sign_up(client)
    assert len(outbox_rows(app)) == 2
    kinds = [e.kind for e in all_rows(app, ConsentEvent)]
    assert kinds == [ConsentEventKind.subscribed, ConsentEventKind.confirmation_resent]


@pytest.mark.app_config(CONFIRM_RESEND_COOLDOWN=0, CONFIRM_MAX_PER_DAY=3)
def test_confirmations_to_one_address_are_capped_per_day_across_newsletters(
        app: Flask, client: FlaskClient) -> None:
    for slug in ("daily", "weekly", "daily", "weekly", "daily"):
        sign_up(client, slug=slug)
    assert len(outbox_rows(app)) == 3


def _age_outbox(app: Flask, minutes: int) -> None:
    with open_session(app) as session:
        session.execute(update(OutboxMessage).values(
            created_at=utcnow() - timedelta(minutes=minutes)))
        session.commit()


@pytest.mark.app_config(CONFIRM_MAX_AGE=60)
def test_expired_link_offers_a_new_one(app: Flask, client: FlaskClient,
                                       mailer: MemoryMailer) -> None:
    sign_up(client)
    [subscription] = all_rows(app, Subscription)
    with app.app_context():
        old = make_token("test-secret-key", Purpose.confirm,
                         [(subscription.id, subscription.token_version)])
    app.config["CONFIRM_MAX_AGE"] = -1  # every token is now too old
    for method in (client.get, client.post):
        response = method(f"/confirm/{old}")
        assert response.status_code == 410
        assert "Send me a new link" in response.get_data(as_text=True)
    assert status_of(app) == [SubscriptionStatus.pending]
    _age_outbox(app, minutes=10)
    response = client.post(f"/confirm/{old}/resend")
    assert response.status_code == 200 and "Check your inbox" in response.get_data(as_text=True)
    assert len(outbox_rows(app)) == 2
    assert all_rows(app, ConsentEvent)[-1].kind is ConsentEventKind.confirmation_resent
    app.config["CONFIRM_MAX_AGE"] = 60
    deliver(app)
    assert client.post(link_in(mailer.outbox[-1])).status_code == 200
    assert status_of(app) == [SubscriptionStatus.confirmed]


@pytest.mark.parametrize("token", [
    "garbage",
    "W1sxLDFdXQ.aaaaaa.bbbbbbbbbbbbbbbbbbbbbbbbbbb",
    "",
])
def test_tampered_or_malformed_token_gets_a_friendly_404(client: FlaskClient, token: str) -> None:
    for path in (f"/confirm/{token}", f"/unsubscribe/{token}"):
        for method in (client.get, client.post):
            response = method(path)
            assert response.status_code == 404
            assert "This link is not valid" in response.get_data(as_text=True) or token == ""


def test_token_signed_with_another_key_is_refused(app: Flask, client: FlaskClient) -> None:
    sign_up(client)
    [subscription] = all_rows(app, Subscription)
    forged = make_token("another-key", Purpose.confirm, [(subscription.id, 1)])
    assert client.post(f"/confirm/{forged}").status_code == 404
    assert status_of(app) == [SubscriptionStatus.pending]


def test_confirm_and_unsubscribe_tokens_are_not_interchangeable(
        app: Flask, client: FlaskClient, mailer: MemoryMailer) -> None:
    sign_up(client)
    deliver(app)
    confirm_token = link_in(mailer.outbox[0]).rsplit("/", 1)[1]
    assert client.post(f"/unsubscribe/{confirm_token}").status_code == 404
    client.post(f"/confirm/{confirm_token}")
    deliver(app)
    unsubscribe_token = link_in(mailer.outbox[1], UNSUBSCRIBE_LINK).rsplit("/", 1)[1]
    assert client.post(f"/confirm/{unsubscribe_token}").status_code == 404
    assert status_of(app) == [SubscriptionStatus.confirmed]


def test_token_of_one_newsletter_does_not_confirm_another(app: Flask, client: FlaskClient,
                                                          mailer: MemoryMailer) -> None:
    sign_up(client, "a@example.com", "daily")
    sign_up(client, "a@example.com", "weekly")
    deliver(app)
    daily_link = link_in(mailer.outbox[0])
    client.post(daily_link)
    statuses = {s.newsletter_id: s.status for s in all_rows(app, Subscription)}
    assert sorted(statuses.values()) == [SubscriptionStatus.confirmed, SubscriptionStatus.pending]


def test_tokens_carry_no_address(app: Flask, client: FlaskClient, mailer: MemoryMailer) -> None:
    import base64

    sign_up(client, "secret.reader@example.com")
    deliver(app)
    token = link_in(mailer.outbox[0]).rsplit("/", 1)[1]
    payload = token.split(".")[0]
    decoded = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
    assert b"secret" not in decoded and b"example" not in decoded


def confirmed_reader(app: Flask, client: FlaskClient, mailer: MemoryMailer) -> str:
    sign_up(client)
    deliver(app)
    client.post(link_in(mailer.outbox[0]))
    deliver(app)
    return link_in(mailer.outbox[1], UNSUBSCRIBE_LINK)


def test_unsubscribe_page_then_button(app: Flask, client: FlaskClient,
                                      mailer: MemoryMailer) -> None:
    link = confirmed_reader(app, client, mailer)
    page = client.get(link)
    assert page.status_code == 200 and "Unsubscribe</button>" in page.get_data(as_text=True)
    assert client.head(link).status_code == 200
    assert status_of(app) == [SubscriptionStatus.confirmed]
    response = client.post(link)
    assert response.status_code == 200
    assert "You are unsubscribed" in response.get_data(as_text=True)
    [subscription] = all_rows(app, Subscription)
    assert subscription.status is SubscriptionStatus.unsubscribed
    assert subscription.unsubscribed_at is not None


@pytest.mark.parametrize("body", ["urlencoded", "multipart"])
def test_rfc8058_one_click_post_without_cookie_or_csrf(app: Flask, client: FlaskClient,
                                                       mailer: MemoryMailer, body: str) -> None:
    link = confirmed_reader(app, client, mailer)
    fresh = app.test_client(use_cookies=False)
    data = {"List-Unsubscribe": "One-Click"}
    if body == "multipart":
        response = fresh.post(link, data=data, content_type="multipart/form-data")
    else:
        response = fresh.post(link, data=data)
    assert response.status_code == 200  # RFC 8058: no redirect
    assert status_of(app) == [SubscriptionStatus.unsubscribed]
    again = fresh.post(link, data=data)
    assert again.status_code == 200
    kinds = [e.kind for e in all_rows(app, ConsentEvent)]
    assert kinds.count(ConsentEventKind.unsubscribed) == 1


def test_old_confirm_link_cannot_resubscribe_after_unsubscribe(
        app: Flask, client: FlaskClient, mailer: MemoryMailer) -> None:
    sign_up(client)
    deliver(app)
    confirm_link = link_in(mailer.outbox[0])
    client.post(confirm_link)
    deliver(app)
    client.post(link_in(mailer.outbox[1], UNSUBSCRIBE_LINK))
    assert client.post(confirm_link).status_code == 404
    assert status_of(app) == [SubscriptionStatus.unsubscribed]


def test_signing_up_again_after_unsubscribing_needs_a_new_confirmation(
        app: Flask, client: FlaskClient, mailer: MemoryMailer) -> None:
    link = confirmed_reader(app, client, mailer)
    client.post(link)
    _age_outbox(app, minutes=10)
    sign_up(client)
    # Anyone can type an address into a form: the opt-out stands until the new opt-in is
    # confirmed from the mailbox.
    assert status_of(app) == [SubscriptionStatus.unsubscribed]
    deliver(app)
    client.post(link_in(mailer.outbox[-1]))
    assert status_of(app) == [SubscriptionStatus.confirmed]


def _age_subscriptions(app: Flask, days: int) -> None:
    with open_session(app) as session:
        session.execute(update(Subscription).values(
            created_at=utcnow() - timedelta(days=days)))
        session.commit()


def test_an_anonymous_signup_keeps_an_opt_out_through_purge_and_import(
        app: Flask, client: FlaskClient, mailer: MemoryMailer, runner: FlaskCliRunner,
        tmp_path: Path) -> None:
    link = confirmed_reader(app, client, mailer)
    client.post(link)
    _age_outbox(app, minutes=10)
    sign_up(client)  # someone else types the reader's address
    assert status_of(app) == [SubscriptionStatus.unsubscribed]
    _age_subscriptions(app, days=2)
    result = runner.invoke(args=["purge-unconfirmed", "--days", "1"])
    assert result.exit_code == 0, result.output
    assert status_of(app) == [SubscriptionStatus.unsubscribed]  # the opt-out's record stays
    csv_file = tmp_path / "readers.csv"
    csv_file.write_text("email\nreader@example.com\n")
    result = runner.invoke(args=["subscribers", "import", "daily", str(csv_file), "--confirmed"])
    assert result.exit_code == 0, result.output
    assert "skipped as unsubscribed 1" in result.output
    assert status_of(app) == [SubscriptionStatus.unsubscribed]
    unsubscribed = [e for e in all_rows(app, ConsentEvent)
                    if e.kind is ConsentEventKind.unsubscribed]
    assert len(unsubscribed) == 1


@pytest.mark.app_config(ONE_CLICK_CONFIRM_DELAY=300)
def test_one_click_confirmation_waits_out_the_link_scanners(app: Flask, client: FlaskClient,
                                                            mailer: MemoryMailer) -> None:
    make_newsletter(app, "quick", "Quick", one_click_confirm=True)
    sign_up(client, slug="quick")
    deliver(app)
    link = link_in(mailer.outbox[0])
    client.get(link)  # a scanner, seconds after delivery
    assert status_of(app) == [SubscriptionStatus.pending]
    app.config["ONE_CLICK_CONFIRM_DELAY"] = 0  # as if minutes had passed
    app.config["CONFIRM_SCANNER_SECONDS"] = 0
    assert client.head(link).status_code == 200
    assert status_of(app) == [SubscriptionStatus.pending]  # HEAD never confirms
    response = client.get(link)
    assert "Subscription confirmed" in response.get_data(as_text=True)
    assert status_of(app) == [SubscriptionStatus.confirmed]


@pytest.mark.parametrize("agent", ["Mozilla/5.0 (X11; Linux x86_64) Firefox/140.0",
                                   "Mozilla/5.0 (X11; Linux x86_64) HeadlessChrome/140.0"])
def test_a_link_opened_as_a_scanner_would_offers_the_code_not_the_button(
        app: Flask, client: FlaskClient, mailer: MemoryMailer, agent: str) -> None:
    sign_up(client)
    deliver(app)
    page = client.get(link_in(mailer.outbox[0]), headers={"User-Agent": agent})
    text = page.get_data(as_text=True)
    assert "Confirm subscription</button>" not in text
    assert 'autocomplete="one-time-code"' in text
    assert status_of(app) == [SubscriptionStatus.pending]


@pytest.mark.parametrize("path", ["", "/resend"])
def test_emailed_links_need_no_cookie_session_or_csrf_token(
        app: Flask, client: FlaskClient, mailer: MemoryMailer, path: str) -> None:
    """The signed token is the credential: a mail client's web view that blocks cookies,
    a publisher's own page or a script posts the link alone, and nothing sets a cookie."""
    sign_up(client)
    deliver(app)
    link = link_in(mailer.outbox[0])
    bare = app.test_client(use_cookies=False)
    page = bare.get(link)
    assert page.status_code == 200 and "Set-Cookie" not in page.headers
    assert "csrf_token" not in page.get_data(as_text=True)
    response = bare.post(link + path)
    assert response.status_code == 200, response.get_data(as_text=True)
    assert "Set-Cookie" not in response.headers
    expected = SubscriptionStatus.confirmed if path == "" else SubscriptionStatus.pending
    assert status_of(app) == [expected]


def test_events_record_ip_agent_and_source(app: Flask, client: FlaskClient,
                                           mailer: MemoryMailer) -> None:
    client.post("/newsletters/daily/subscribe", json={"email": "p@example.com",
                "source": "https://pub.example/story"}, headers={"User-Agent": "UA/1"})
    deliver(app)
    client.post(link_in(mailer.outbox[0]), headers={"User-Agent": "UA/2"},
                environ_base={"REMOTE_ADDR": "198.51.100.7"})
    subscribed, confirmed = all_rows(app, ConsentEvent)
    assert (subscribed.user_agent, subscribed.source) == ("UA/1", "https://pub.example/story")
    assert (confirmed.user_agent, confirmed.ip) == ("UA/2", "198.51.100.7")
