"""GET /metrics: off without a token, bearer-only with one, counts read from the database."""

from __future__ import annotations

from datetime import timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy import update

from newsletter_service.models import OutboxMessage, OutboxStatus, utcnow
from tests.factories import UNSUBSCRIBE_LINK, deliver, link_in, make_newsletter, open_session

TOKEN = "metrics-token-for-tests"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def scrape(client: FlaskClient) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Return every sample of a scrape, keyed by name and sorted labels."""
    response = client.get("/metrics", headers=AUTH)
    assert response.status_code == 200, response.get_data(as_text=True)
    assert response.mimetype == "text/plain"
    return {(sample.name, tuple(sorted(sample.labels.items()))): sample.value
            for family in text_string_to_metric_families(response.get_data(as_text=True))
            for sample in family.samples}


def sign_up(client: FlaskClient, email: str, slug: str = "daily") -> None:
    response = client.post(f"/newsletters/{slug}/subscribe", json={"email": email})
    assert response.status_code == 200


def test_metrics_are_not_found_without_a_configured_token(client: FlaskClient) -> None:
    assert client.get("/metrics").status_code == 404
    assert client.get("/metrics", headers=AUTH).status_code == 404


@pytest.mark.app_config(METRICS_TOKEN=TOKEN)
@pytest.mark.parametrize("authorization", [
    None, "", "Bearer", "Bearer wrong-token", f"Basic {TOKEN}", f"Bearer {TOKEN}x",
    f"Bearer {TOKEN[:-1]}",
])
def test_metrics_need_the_bearer_token(client: FlaskClient, authorization: str | None) -> None:
    headers = {"Authorization": authorization} if authorization is not None else {}
    response = client.get("/metrics", headers=headers)
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    assert b"newsletter_" not in response.data


@pytest.mark.app_config(METRICS_TOKEN=TOKEN)
def test_metrics_count_signups_confirmations_and_unsubscribes_by_newsletter(
        app: Flask, client: FlaskClient) -> None:
    make_newsletter(app, "daily", "The Daily")
    make_newsletter(app, "weekly", "The Weekly")
    for n in range(3):
        sign_up(client, f"reader{n}@example.com")
    sign_up(client, "reader0@example.com", "weekly")
    assert deliver(app) == 4
    mailer = app.extensions["mailer"]
    assert client.post(link_in(mailer.outbox[0])).status_code == 200
    deliver(app)
    assert client.post(link_in(mailer.outbox[-1], UNSUBSCRIBE_LINK)).status_code == 200

    samples = scrape(client)
    assert samples[("newsletter_signups_total", (("newsletter", "daily"), ("via", "form")))] == 3
    assert samples[("newsletter_signups_total", (("newsletter", "weekly"), ("via", "form")))] == 1
    assert samples[("newsletter_signups_total", (("newsletter", "daily"), ("via", "import")))] == 0
    assert samples[("newsletter_confirmations_total", (("newsletter", "daily"),))] == 1
    assert samples[("newsletter_confirmations_total", (("newsletter", "weekly"),))] == 0
    assert samples[("newsletter_unsubscribes_total", (("newsletter", "daily"),))] == 1
    assert samples[("newsletter_subscriptions",
                    (("newsletter", "daily"), ("status", "pending")))] == 2
    assert samples[("newsletter_subscriptions",
                    (("newsletter", "daily"), ("status", "unsubscribed")))] == 1
    assert samples[("newsletter_outbox_pending", ())] == 0
    assert samples[("newsletter_outbox_oldest_pending_age_seconds", ())] == 0
    assert samples[("newsletter_signup_requests_waiting", ())] == 0  # all carried out
    assert samples[("newsletter_database_up", ())] == 1


@pytest.mark.app_config(METRICS_TOKEN=TOKEN)
def test_metrics_show_outbox_depth_age_and_failures_by_kind(app: Flask,
                                                            client: FlaskClient) -> None:
    make_newsletter(app, "daily", "The Daily")
    for n in range(3):
        sign_up(client, f"reader{n}@example.com")
    with open_session(app) as session:
        session.execute(update(OutboxMessage).where(OutboxMessage.id == 1).values(
            created_at=utcnow() - timedelta(minutes=10)))
        session.execute(update(OutboxMessage).where(OutboxMessage.id == 2).values(
            status=OutboxStatus.failed, last_error="550 no such user"))
        session.execute(update(OutboxMessage).where(OutboxMessage.id == 3).values(
            attempts=1, last_error="451 try again later"))
        session.commit()

    samples = scrape(client)
    assert samples[("newsletter_outbox_pending", ())] == 2
    assert 595 < samples[("newsletter_outbox_oldest_pending_age_seconds", ())] < 700
    assert samples[("newsletter_outbox_failures", (("kind", "confirm"), ("state", "failed")))] == 1
    assert samples[("newsletter_outbox_failures",
                    (("kind", "confirm"), ("state", "retrying")))] == 1


@pytest.mark.app_config(METRICS_TOKEN=TOKEN)
def test_metrics_time_requests_by_url_rule_never_by_path(app: Flask, client: FlaskClient) -> None:
    make_newsletter(app, "daily", "The Daily")
    for _ in range(2):
        assert client.get("/newsletters/daily").status_code == 200
    assert client.get("/unsubscribe/not-a-real-token").status_code == 404
    assert client.get("/no/such/page").status_code == 404

    samples = scrape(client)
    page = (("method", "GET"), ("route", "/newsletters/<slug>"), ("status", "200"))
    assert samples[("newsletter_http_request_duration_seconds_count", page)] == 2
    every = tuple(sorted((*page, ("le", "+Inf"))))
    assert samples[("newsletter_http_request_duration_seconds_bucket", every)] == 2
    routes = {dict(labels).get("route") for (name, labels) in samples
              if name.startswith("newsletter_http_request_duration_seconds")}
    assert "/unsubscribe/<token>" in routes and "<unmatched>" in routes
    assert not any("not-a-real-token" in r or "/no/such" in r for r in routes if r)


@pytest.mark.app_config(METRICS_TOKEN=TOKEN)
def test_metrics_say_when_the_database_is_down(app: Flask, client: FlaskClient) -> None:
    app.extensions["metrics"].database.engine = _unreachable_engine()
    samples = scrape(client)
    assert samples[("newsletter_database_up", ())] == 0
    assert not any(name.startswith("newsletter_signups") for name, _ in samples)


@pytest.mark.app_config(METRICS_TOKEN=TOKEN)
def test_metrics_speak_openmetrics_when_asked(client: FlaskClient) -> None:
    response = client.get("/metrics", headers={**AUTH, "Accept": "application/openmetrics-text"})
    assert response.status_code == 200
    assert response.mimetype == "application/openmetrics-text"
    assert response.get_data(as_text=True).rstrip().endswith("# EOF")


def _unreachable_engine():  # type: ignore[no-untyped-def]
    from newsletter_service.db import make_engine

    return make_engine("postgresql://nobody@127.0.0.1:9/none", connect_args={"connect_timeout": 1})


@pytest.mark.app_config(METRICS_TOKEN=TOKEN)
def test_metrics_count_the_signups_answered_but_not_carried_out(app: Flask,
                                                                client: FlaskClient) -> None:
    make_newsletter(app, "daily", "The Daily")
    # Flask's own client leaves the answer open: its signup waits, as after a crash.
    unclosed = FlaskClient(app, app.response_class, use_cookies=False)
    unclosed.post("/newsletters/daily/subscribe", json={"email": "waiting@example.com"})
    assert scrape(client)[("newsletter_signup_requests_waiting", ())] == 1

