"""Confirm with the 6-digit code of the confirmation email: POST /confirm/code."""

from __future__ import annotations

import re
import threading
from datetime import timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import update

from newsletter_service.mailers import MemoryMailer
from newsletter_service.models import (
    ConfirmationCode,
    ConfirmMethod,
    ConsentEvent,
    ConsentEventKind,
    OutboxMessage,
    Subscription,
    SubscriptionStatus,
    utcnow,
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

CODE_LINE = re.compile(r"^.*\bcode\b.*?\b(\d{6})\b.*$", re.MULTILINE | re.IGNORECASE)
WRONG = {"ok": False, "errors": {"code": ["This code is not valid. Check the latest email "
                                          "we sent, or sign up again for a new code."]}}


def code_in(message: object) -> str:
    """Return the six digits on the text part's line that names the code."""
    found = CODE_LINE.search(text_body(message))  # type: ignore[arg-type]
    assert found, text_body(message)  # type: ignore[arg-type]
    return found.group(1)


def sign_up(client: FlaskClient, email: str = "reader@example.com", slug: str = "daily") -> None:
    assert client.post(f"/newsletters/{slug}/subscribe", json={"email": email}).status_code == 200


def latest_code(app: Flask, mailer: MemoryMailer) -> str:
    deliver(app)
    return code_in(mailer.outbox[-1])


def post_code(client: FlaskClient, code: str, email: str = "reader@example.com",
              lang: str | None = None, **options: object) -> tuple[int, object]:
    body = {"email": email, "code": code, **({"lang": lang} if lang else {})}
    response = client.post("/confirm/code", json=body, **options)  # type: ignore[arg-type]
    return response.status_code, response.get_json()


def statuses(app: Flask) -> list[SubscriptionStatus]:
    return [s.status for s in all_rows(app, Subscription)]


def confirmed_events(app: Flask) -> list[ConsentEvent]:
    return [e for e in all_rows(app, ConsentEvent) if e.kind is ConsentEventKind.confirmed]


@pytest.fixture
def app_with_newsletters(db_app: Flask) -> Flask:
    make_newsletter(db_app, "daily", "The Daily")
    make_newsletter(db_app, "weekly", "The Weekly")
    return db_app


@pytest.fixture
def db_mailer(app_with_newsletters: Flask) -> MemoryMailer:
    return memory_mailer(app_with_newsletters)


def test_the_code_confirms_in_place_and_records_how(app_with_newsletters: Flask,
                                                     db_mailer: MemoryMailer) -> None:
    app = app_with_newsletters
    client = app.test_client()
    sign_up(client)
    code = latest_code(app, db_mailer)
    assert code in db_mailer.outbox[0].get_body(("html",)).get_content()  # type: ignore[union-attr]
    status, body = post_code(client, code)
    assert status == 200
    assert body == {"ok": True, "status": "confirmed", "message": "You're subscribed to The Daily."}
    assert statuses(app) == [SubscriptionStatus.confirmed]
    [event] = confirmed_events(app)
    assert event.method is ConfirmMethod.code and event.ip == "127.0.0.1"
    assert [r.kind for r in all_rows(app, OutboxMessage)] == ["confirm", "welcome"]
    assert post_code(client, code) == (422, WRONG)  # used


def test_the_link_records_its_method_too(app_with_newsletters: Flask,
                                         db_mailer: MemoryMailer) -> None:
    client = app_with_newsletters.test_client()
    sign_up(client)
    deliver(app_with_newsletters)
    client.post(link_in(db_mailer.outbox[0]))
    [event] = confirmed_events(app_with_newsletters)
    assert event.method is ConfirmMethod.link


def test_a_form_post_answers_the_confirmed_page(app: Flask, client: FlaskClient,
                                                 mailer: MemoryMailer) -> None:
    make_newsletter(app, "daily", "The Daily")
    sign_up(client, "Reader@Example.com")
    code = latest_code(app, mailer)
    response = client.post("/confirm/code", data={"email": "reader@example.COM", "code": code})
    assert response.status_code == 200
    assert "Subscription confirmed" in response.get_data(as_text=True)
    wrong = client.post("/confirm/code", data={"email": "reader@example.com", "code": code})
    assert wrong.status_code == 422
    page = wrong.get_data(as_text=True)
    assert 'autocomplete="one-time-code"' in page and 'role="alert"' in page


@pytest.mark.parametrize("email, code", [
    ("reader@example.com", "000000x"),
    ("reader@example.com", ""),
    ("nobody@example.com", "123456"),
    ("not an address", "123456"),
    ("", ""),
])
def test_anything_but_the_right_code_answers_the_same_422(app: Flask, client: FlaskClient,
                                                          email: str, code: str) -> None:
    make_newsletter(app, "daily", "The Daily")
    sign_up(client)
    assert post_code(client, code, email) == (422, WRONG)
    assert statuses(app) == [SubscriptionStatus.pending]


def test_an_expired_code_confirms_nothing(app: Flask, client: FlaskClient,
                                          mailer: MemoryMailer) -> None:
    make_newsletter(app, "daily", "The Daily")
    sign_up(client)
    code = latest_code(app, mailer)
    with open_session(app) as session:
        session.execute(update(ConfirmationCode).values(expires_at=utcnow() - timedelta(seconds=1)))
        session.commit()
    assert post_code(client, code) == (422, WRONG)


def test_five_wrong_codes_kill_the_code_until_a_new_email(app_with_newsletters: Flask,
                                                          db_mailer: MemoryMailer) -> None:
    app = app_with_newsletters
    client = app.test_client()
    sign_up(client)
    code = latest_code(app, db_mailer)
    wrong = f"{(int(code) + 1) % 1_000_000:06d}"
    for _ in range(5):
        assert post_code(client, wrong) == (422, WRONG)
    assert post_code(client, code) == (422, WRONG)  # the right one is dead too
    assert statuses(app) == [SubscriptionStatus.pending]
    sign_up(client, slug="weekly")  # a new confirmation email, with a new code
    fresh = latest_code(app, db_mailer)
    assert post_code(client, fresh)[0] == 200
    assert statuses(app) == [SubscriptionStatus.pending, SubscriptionStatus.confirmed]


def test_a_code_confirms_only_what_its_email_was_for(app_with_newsletters: Flask,
                                                     db_mailer: MemoryMailer) -> None:
    app = app_with_newsletters
    client = app.test_client()
    sign_up(client, slug="daily")
    first = latest_code(app, db_mailer)
    sign_up(client, slug="weekly")
    assert post_code(client, first)[0] == 200
    assert statuses(app) == [SubscriptionStatus.confirmed, SubscriptionStatus.pending]


def test_one_code_confirms_every_newsletter_of_a_combined_signup(
        app_with_newsletters: Flask, db_mailer: MemoryMailer) -> None:
    app = app_with_newsletters
    client = app.test_client()
    client.post("/subscribe", json={"email": "reader@example.com",
                                    "newsletters": ["daily", "weekly"]})
    status, body = post_code(client, latest_code(app, db_mailer))
    assert status == 200 and "The Daily, The Weekly" in body["message"]  # type: ignore[index]
    assert statuses(app) == [SubscriptionStatus.confirmed] * 2


def test_a_code_dies_with_an_unsubscribe(app: Flask, client: FlaskClient,
                                         mailer: MemoryMailer) -> None:
    make_newsletter(app, "daily", "The Daily")
    sign_up(client)
    code = latest_code(app, mailer)
    client.post(link_in(mailer.outbox[0]))
    assert post_code(client, code) == (422, WRONG)  # nothing pending


def test_the_code_endpoint_answers_cors_and_needs_no_csrf(app: Flask, client: FlaskClient) -> None:
    make_newsletter(app, "daily", "The Daily")
    origin = "https://publisher.example"
    preflight = client.options("/confirm/code", headers={
        "Origin": origin, "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "Content-Type"})
    assert preflight.headers["Access-Control-Allow-Origin"] == "*"
    response = client.post("/confirm/code", json={"email": "a@example.com", "code": "123456"},
                           headers={"Origin": origin})
    assert response.status_code == 422  # judged, not refused for want of a CSRF token
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    assert "Access-Control-Allow-Credentials" not in response.headers


def test_two_simultaneous_right_codes_confirm_once(app_with_newsletters: Flask,
                                                   db_mailer: MemoryMailer) -> None:
    app = app_with_newsletters
    sign_up(app.test_client())
    code = latest_code(app, db_mailer)
    barrier = threading.Barrier(2)
    answers: list[int] = []

    def post() -> None:
        client = app.test_client()
        barrier.wait()
        answers.append(post_code(client, code)[0])

    threads = [threading.Thread(target=post) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(answers) == [200, 422]
    assert len(confirmed_events(app)) == 1
    assert [r.kind for r in all_rows(app, OutboxMessage)] == ["confirm", "welcome"]


@pytest.mark.parametrize("as_json", [True, False])
def test_the_code_answers_in_the_newsletters_language_whatever_the_browser(
        app: Flask, client: FlaskClient, mailer: MemoryMailer, as_json: bool) -> None:
    """Found trying it as a reader: a Ukrainian box said "You're subscribed" in English."""
    make_newsletter(app, "tyzhden", "Тиждень", language="uk")
    sign_up(client, slug="tyzhden")
    deliver(app)
    # The Ukrainian mail names it "код", on a line of its own with the six digits.
    found = re.search(r"^.*\bкод\b.*?\b(\d{6})\b", text_body(mailer.outbox[-1]), re.MULTILINE)
    assert found
    code = found.group(1)
    english = {"Accept-Language": "en"}
    if as_json:
        status, body = post_code(client, code, headers=english)
        answer = str(body["message"])  # type: ignore[index]
    else:
        response = client.post("/confirm/code", headers=english,
                               data={"email": "reader@example.com", "code": code})
        status, answer = response.status_code, response.get_data(as_text=True)
    assert status == 200
    assert "Тиждень" in answer and "subscribed" not in answer and "confirmed" not in answer


@pytest.mark.parametrize("as_json", [True, False])
def test_a_wrong_code_is_answered_in_the_language_of_the_code_field(
        app: Flask, client: FlaskClient, as_json: bool) -> None:
    """The field's own language comes with the code: the address's newsletters stay unsaid."""
    make_newsletter(app, "tyzhden", "Тиждень", language="uk")
    english = {"Accept-Language": "en"}
    if as_json:
        answer = client.post("/newsletters/tyzhden/subscribe", headers=english,
                             json={"email": "reader@example.com"}).get_json()
        language = answer["code"]["language"]  # embed.js posts it back with the code
        status, body = post_code(client, "000000", lang=language, headers=english)
        error = str(body["errors"]["code"][0])  # type: ignore[index]
    else:
        page = client.post("/newsletters/tyzhden/subscribe", headers=english,
                           data={"email": "reader@example.com"}).get_data(as_text=True)
        language = re.search(r'name="lang" value="(\w+)"', page).group(1)  # type: ignore[union-attr]
        response = client.post("/confirm/code", headers=english, data={
            "email": "reader@example.com", "code": "000000", "lang": language})
        status, error = response.status_code, response.get_data(as_text=True)
    assert language == "uk" and status == 422
    assert "Цей код недійсний" in error and "not valid" not in error
    # Without it (or with a language we do not speak), the browser's language, as before.
    status, body = post_code(client, "000000", lang="xx", headers=english)
    assert status == 422 and "not valid" in str(body)
