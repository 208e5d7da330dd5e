"""The console: dashboard and chart, newsletters, readers, GDPR actions, sources."""

from __future__ import annotations

import io
import json
import re

import pytest
from flask import Flask
from flask.testing import FlaskClient

from newsletter_service.models import (
    ConsentEvent,
    ConsentEventKind,
    ErasedSubscription,
    Newsletter,
    Subscriber,
    Subscription,
    SubscriptionStatus,
    SuppressedAddress,
)

from .admin_support import form_post, log_in, make_admin
from .factories import all_rows, executed_sql, make_newsletter, outbox_rows, subscribe


@pytest.fixture
def admin(app: Flask, client: FlaskClient) -> FlaskClient:
    """A client logged in to the console."""
    make_admin(app)
    log_in(client)
    return client


@pytest.fixture
def db_admin(db_app: Flask) -> FlaskClient:
    """A client logged in to the console, on each database."""
    make_admin(db_app)
    client = db_app.test_client()
    log_in(client)
    return client


def test_dashboard_counts_every_newsletter_in_one_query(db_app: Flask,
                                                        db_admin: FlaskClient) -> None:
    for slug in ("daily", "weekly", "monthly"):
        make_newsletter(db_app, slug=slug, name=slug.title())
    subscribe(db_app, "a@example.com")
    subscribe(db_app, "b@example.com")
    subscribe(db_app, "c@example.com", slug="weekly")
    with executed_sql(db_app) as executed:
        page = db_admin.get("/admin/").get_data(as_text=True)
    statements = [s for s, _ in executed if s.lstrip().upper().startswith("SELECT")]
    grouped = [s for s in statements if "GROUP BY" in s.upper()]
    assert len(grouped) == 3  # counts, signups per day, confirmations per day
    assert len(statements) <= 6  # the admin, the counts, the newsletters, the chart: no N+1
    row = re.search(r"Daily</a>.*?</tr>", page, re.S)
    assert row and re.findall(r'class="num">(\d+)<', row.group(0)) == ["2", "0", "0", "0"]


def test_chart_is_inline_svg_with_title_legend_and_axes(db_app: Flask,
                                                        db_admin: FlaskClient) -> None:
    make_newsletter(db_app)
    subscribe(db_app, "a@example.com")
    page = db_admin.get("/admin/").get_data(as_text=True)
    svg = page[page.index("<svg"):page.index("</svg>")]
    assert 'role="img"' in svg and "aria-labelledby" in svg
    assert "<title id=\"chart-title\">Signups and confirmations per day" in svg
    assert "1 signups and 0 confirmations" in svg
    for label in ("Signups", "Confirmations", "Day (UTC)", "Readers"):
        assert f">{label}</text>" in svg
    assert svg.count("<rect") == 2  # the day with a signup, and the legend's swatch
    assert "<script" not in page and "cdn" not in page.lower()


def test_create_and_edit_a_newsletter(app: Flask, admin: FlaskClient) -> None:
    response = form_post(admin, "/admin/newsletters/new", {
        "slug": "tech", "name": "Tech", "name_field": "optional", "success_title": "Done",
        "success_message": "Thanks", "allowed_origins": "https://News.example.com/\n\n"
        "http://localhost:8000", "send_welcome": "y"})
    assert response.status_code == 302
    [newsletter] = all_rows(app, Newsletter)
    assert newsletter.allowed_origins == "https://news.example.com\nhttp://localhost:8000"
    assert newsletter.consent_version == 1 and newsletter.send_welcome
    form = {"slug": "tech", "name": "Tech Weekly", "name_field": "required",
            "success_title": "Done", "success_message": "Thanks",
            "consent_text": "Send me Tech Weekly.", "reply_to": "Desk@Example.com"}
    assert form_post(admin, "/admin/newsletters/tech", form).status_code == 302
    form["consent_text"] = "Send me Tech Weekly, and nothing else."
    form_post(admin, "/admin/newsletters/tech", form)
    form_post(admin, "/admin/newsletters/tech", form)  # the same text again: no new version
    [newsletter] = all_rows(app, Newsletter)
    assert newsletter.name == "Tech Weekly" and newsletter.consent_version == 3
    assert newsletter.reply_to == "Desk@example.com" and not newsletter.send_welcome


@pytest.mark.parametrize("field, value, message", [
    ("allowed_origins", "https://example.com/path", "is not an origin"),
    ("allowed_origins", "ftp://example.com", "must start with http"),
    ("return_url", "javascript:alert(1)", "must start with http"),
    ("reply_to", "nobody", "Reply-to"),
    ("slug", "Bad Slug", "not a valid slug"),
])
def test_bad_newsletter_settings_are_refused(app: Flask, admin: FlaskClient, field: str,
                                             value: str, message: str) -> None:
    data = {"slug": "tech", "name": "Tech", "name_field": "hidden", "success_title": "T",
            "success_message": "M", field: value}
    response = form_post(admin, "/admin/newsletters/new", data)
    assert response.status_code == 422 and message in response.get_data(as_text=True)
    assert all_rows(app, Newsletter) == []


def test_deactivate_and_reactivate(app: Flask, admin: FlaskClient) -> None:
    make_newsletter(app)
    form_post(admin, "/admin/newsletters/daily/active", {"active": "0"})
    assert all_rows(app, Newsletter)[0].is_active is False
    assert app.test_client().get("/newsletters/daily").status_code == 404
    form_post(admin, "/admin/newsletters/daily/active", {"active": "1"})
    assert all_rows(app, Newsletter)[0].is_active is True


def test_subscribers_are_searched_filtered_and_paged(db_app: Flask,
                                                     db_admin: FlaskClient) -> None:
    make_newsletter(db_app)
    make_newsletter(db_app, slug="weekly", name="Weekly")
    form_post(db_admin, "/admin/newsletters/daily/import", {"confirmed": "y", "file": (
        io.BytesIO(("email\n" + "".join(f"r{i:03}@example.com\n" for i in range(120))).encode()),
        "r.csv")})
    subscribe(db_app, "odd_one%@example.com", slug="weekly")
    first = db_admin.get("/admin/subscribers/?status=confirmed").get_data(as_text=True)
    assert first.count("@example.com</a>") == 50 and "r119@example.com" in first
    after = re.search(r'after=(\d+)" rel="next"', first)
    assert after
    second = db_admin.get(f"/admin/subscribers/?status=confirmed&after={after.group(1)}")
    assert "r069@example.com" in second.get_data(as_text=True)
    assert "r119@example.com" not in second.get_data(as_text=True)
    found = db_admin.get("/admin/subscribers/?q=_one%25").get_data(as_text=True)
    assert found.count("@example.com</a>") == 1 and "odd_one%@example.com" in found
    weekly = [n for n in all_rows(db_app, Newsletter) if n.slug == "weekly"][0]
    page = db_admin.get(f"/admin/subscribers/?newsletter={weekly.id}").get_data(as_text=True)
    assert page.count("@example.com</a>") == 1


def test_subscriber_page_shows_the_consent_history(app: Flask, admin: FlaskClient) -> None:
    make_newsletter(app, consent_text="Yes please.")
    subscription = subscribe(app, "reader@example.com", consent=True)
    page = admin.get(f"/admin/subscribers/{subscription.subscriber_id}").get_data(as_text=True)
    assert "reader@example.com" in page and "subscribed" in page and "192.0.2.1" in page
    assert "Yes please. (v1)" in page


def test_resend_goes_through_the_signup_throttle(app: Flask, admin: FlaskClient) -> None:
    make_newsletter(app)
    subscription = subscribe(app, "reader@example.com")
    url = f"/admin/subscribers/{subscription.subscriber_id}/resend"
    page = form_post(admin, url, follow_redirects=True).get_data(as_text=True)
    assert "one was sent lately" in page and len(outbox_rows(app)) == 1


@pytest.mark.app_config(CONFIRM_RESEND_COOLDOWN=0)
def test_resend_queues_a_confirmation(app: Flask, admin: FlaskClient) -> None:
    make_newsletter(app)
    subscription = subscribe(app, "reader@example.com")
    url = f"/admin/subscribers/{subscription.subscriber_id}/resend"
    page = form_post(admin, url, follow_redirects=True).get_data(as_text=True)
    assert "Confirmation email queued." in page and len(outbox_rows(app)) == 2
    resent = all_rows(app, ConsentEvent)[-1]
    assert resent.kind is ConsentEventKind.confirmation_resent
    assert resent.source and resent.source.endswith("editor@example.com")


def test_unsubscribe_from_the_console_is_recorded(app: Flask, admin: FlaskClient) -> None:
    newsletter = make_newsletter(app)
    subscription = subscribe(app, "reader@example.com")
    form_post(admin, f"/admin/subscribers/{subscription.subscriber_id}/unsubscribe/{newsletter.id}")
    [subscription] = all_rows(app, Subscription)
    assert subscription.status is SubscriptionStatus.unsubscribed
    assert all_rows(app, ConsentEvent)[-1].source == "admin console: admin editor@example.com"


def test_erase_deletes_the_reader_and_keeps_the_dashboard_counts(
        db_app: Flask, db_admin: FlaskClient) -> None:
    make_newsletter(db_app)
    subscription = subscribe(db_app, "reader@example.com")
    before = db_admin.get("/admin/").get_data(as_text=True)
    response = form_post(db_admin, f"/admin/subscribers/{subscription.subscriber_id}/erase")
    assert response.status_code == 302
    assert all_rows(db_app, Subscriber) == [] and all_rows(db_app, ConsentEvent) == []
    assert len(all_rows(db_app, ErasedSubscription)) == 1
    assert len(all_rows(db_app, SuppressedAddress)) == 1
    assert "reader@example.com" not in outbox_rows(db_app)[0].recipient
    after = db_admin.get("/admin/").get_data(as_text=True)
    assert "1 signups" in before and "1 signups" in after  # the chart has not changed
    assert db_admin.get(f"/admin/subscribers/{subscription.subscriber_id}").status_code == 404


def test_everything_about_a_reader_downloads_as_json(app: Flask, admin: FlaskClient) -> None:
    make_newsletter(app)
    subscription = subscribe(app, "reader@example.com", name=None)
    response = admin.get(f"/admin/subscribers/{subscription.subscriber_id}/data.json")
    assert response.headers["Content-Disposition"].startswith("attachment")
    data = json.loads(response.get_data())
    assert data["email"] == "reader@example.com"
    assert data["subscriptions"][0]["events"][0]["ip"] == "192.0.2.1"
    assert data["emails"][0]["kind"] == "confirm"


def test_sources_show_signups_and_confirmations_per_page(app: Flask, admin: FlaskClient) -> None:
    make_newsletter(app)
    subscribe(app, "a@example.com")
    subscribe(app, "b@example.com")
    page = admin.get("/admin/sources").get_data(as_text=True)
    assert "https://pub.test/a" in page
    assert re.search(r'https://pub.test/a</td><td>daily</td><td class="num">2</td>', page)


def test_the_upload_checks_its_csrf_token(app: Flask, client: FlaskClient) -> None:
    make_newsletter(app)
    make_admin(app)
    log_in(client)
    forged = client.post("/admin/newsletters/daily/import", data={  # no token: forged
        "file": (io.BytesIO(b"email\na@example.com\n"), "r.csv"), "confirmed": "y"})
    assert "Added" not in forged.get_data(as_text=True)
    assert all_rows(app, Subscription) == []


@pytest.mark.parametrize("field, value", [
    ("name", "Tech\r\nBcc: victim@example.com"),
    ("confirmation_subject", "Confirm\nBcc: victim@example.com"),
    ("success_title", "Done\x00"),
    ("return_url", "https://pub.example/\r\nSet-Cookie: x=1"),
    ("slug", "tech\n"),
    ("description", "A line\x00with a NUL"),  # NUL: PostgreSQL refused the row with a 500
])
def test_control_characters_in_settings_are_refused_next_to_their_field(
        db_app: Flask, db_admin: FlaskClient, field: str, value: str) -> None:
    make_newsletter(db_app, "tech", "Tech")
    data = {"slug": "tech", "name": "Tech", "name_field": "hidden", "success_title": "T",
            "success_message": "M", field: value}
    response = form_post(db_admin, "/admin/newsletters/tech", data)
    page = response.get_data(as_text=True)
    assert response.status_code == 422
    error = re.search(rf'<p class="field-error" id="{field}-error">([^<]*)</p>', page)
    assert error and "control characters" in error.group(1), page
    [newsletter] = all_rows(db_app, Newsletter)
    assert getattr(newsletter, field) != value
    signup = db_app.test_client().post("/newsletters/tech/subscribe",
                                       json={"email": "reader@example.com"})
    assert signup.status_code == 200  # a CR/LF name or subject made every signup a 500


def test_line_breaks_stay_allowed_in_the_multi_line_texts(app: Flask, admin: FlaskClient) -> None:
    data = {"slug": "tech", "name": "Tech", "name_field": "hidden", "success_title": "T",
            "success_message": "Thanks.\r\nSee you soon.", "description": "One\r\n\tTwo"}
    assert form_post(admin, "/admin/newsletters/new", data).status_code == 302
    [newsletter] = all_rows(app, Newsletter)
    assert newsletter.success_message == "Thanks.\r\nSee you soon."


def test_the_console_manages_an_inactive_newsletter_and_404s_an_unknown_one(
        app: Flask, admin: FlaskClient) -> None:
    make_newsletter(app, "paused", "Paused Weekly", is_active=False)
    assert admin.get("/admin/newsletters/paused").status_code == 200  # readers get 404 there
    assert admin.get("/newsletters/paused").status_code == 404
    assert admin.get("/admin/newsletters/paused/export").status_code == 200
    assert admin.get("/admin/newsletters/nope").status_code == 404
    assert admin.get("/admin/newsletters/nope/export").status_code == 404
