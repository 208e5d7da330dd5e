"""Abuse protection: per-IP rate limits (memory and Redis), the per-address cap, bot traps."""

from __future__ import annotations

import time
import uuid
from pathlib import Path

import pytest
import redis
from flask import Flask
from flask.testing import FlaskClient

from newsletter_service import create_app
from newsletter_service.models import Subscriber

from .conftest import base_config, skip_or_fail
from .factories import all_rows, make_newsletter, outbox_rows

SIGNUP = "/newsletters/daily/subscribe"
LIMITED = {"RATELIMIT_ENABLED": True, "RATELIMIT_SIGNUP": "3 per minute"}


@pytest.fixture(autouse=True)
def newsletter(app: Flask) -> None:
    make_newsletter(app)


def post(client: FlaskClient, email: str, ip: str = "203.0.113.1", **kwargs: object):  # type: ignore[no-untyped-def]
    return client.post(SIGNUP, environ_base={"REMOTE_ADDR": ip}, **kwargs)  # type: ignore[arg-type]


@pytest.mark.app_config(**LIMITED)
def test_signups_beyond_the_limit_get_429_with_retry_after(client: FlaskClient) -> None:
    statuses = [post(client, "x", json={"email": f"r{i}@example.com"}).status_code
                for i in range(4)]
    assert statuses == [200, 200, 200, 429]
    limited = post(client, "x", json={"email": "r9@example.com"})
    assert limited.json["ok"] is False and "Too many requests" in limited.json["error"]
    assert int(limited.headers["Retry-After"]) > 0
    page = post(client, "x", data={"email": "r10@example.com"})
    assert page.status_code == 429 and "text/html" in page.content_type
    assert int(page.headers["Retry-After"]) > 0


@pytest.mark.app_config(**LIMITED)
def test_each_ip_has_its_own_count(client: FlaskClient) -> None:
    for i in range(3):
        post(client, "x", json={"email": f"a{i}@example.com"}, ip="203.0.113.1")
    assert post(client, "x", json={"email": "b@example.com"}, ip="203.0.113.2"
                ).status_code == 200


@pytest.mark.app_config(**LIMITED)
def test_forged_x_forwarded_for_is_ignored_without_trusted_proxies(client: FlaskClient) -> None:
    statuses = [post(client, "x", json={"email": f"f{i}@example.com"},
                     headers={"X-Forwarded-For": f"198.51.100.{i}"}).status_code
                for i in range(4)]
    assert statuses[-1] == 429


@pytest.mark.app_config(**LIMITED, TRUSTED_PROXIES=1)
def test_x_forwarded_for_counts_behind_a_trusted_proxy(app: Flask, client: FlaskClient) -> None:
    statuses = [post(client, "x", json={"email": f"p{i}@example.com"},
                     headers={"X-Forwarded-For": f"198.51.100.{i}"}).status_code
                for i in range(4)]
    assert statuses == [200] * 4
    from newsletter_service.models import ConsentEvent

    assert {e.ip for e in all_rows(app, ConsentEvent)} == {f"198.51.100.{i}" for i in range(4)}


@pytest.mark.app_config(RATELIMIT_ENABLED=True, RATELIMIT_LINKS="2 per minute")
def test_confirm_and_unsubscribe_links_are_limited(client: FlaskClient) -> None:
    statuses = [client.get("/confirm/whatever").status_code for _ in range(3)]
    assert statuses == [404, 404, 429]


@pytest.mark.app_config(CONFIRM_MAX_PER_DAY=2, CONFIRM_RESEND_COOLDOWN=0)
def test_one_address_gets_few_emails_whatever_the_number_of_ips(app: Flask,
                                                                client: FlaskClient) -> None:
    answers = {post(client, "x", json={"email": "victim@example.com"},
                    ip=f"192.0.2.{i}").get_data() for i in range(20)}
    assert len(answers) == 1  # every request got the same answer
    assert len(outbox_rows(app)) == 2


def test_two_app_servers_share_counts_through_redis(tmp_path: Path, app: Flask) -> None:
    try:
        redis.Redis(host="127.0.0.1", port=6379, socket_connect_timeout=2).ping()
    except redis.exceptions.RedisError as error:
        skip_or_fail("redis", f"Redis at 127.0.0.1:6379 does not answer: {error}")
    config = {**base_config(app.config["DATABASE_URL"], tmp_path), **LIMITED,
              "RATELIMIT_STORAGE_URI": "redis://127.0.0.1:6379/15",
              "RATELIMIT_KEY_PREFIX": f"test-{uuid.uuid4().hex}"}
    first, second = create_app(config), create_app(config)
    statuses = [post(server.test_client(), "x", json={"email": f"s{i}@example.com"}).status_code
                for i, server in enumerate([first, second, first, second])]
    assert statuses == [200, 200, 200, 429]
    for server in (first, second):
        server.extensions["db_engine"].dispose()


def normal_answer(client: FlaskClient) -> bytes:
    return post(client, "x", json={"email": "real.reader@example.com"}).get_data()


@pytest.mark.parametrize("trap", ["honeypot", "too fast", "forged stamp"])
def test_bot_gets_the_normal_answer_and_nothing_is_stored(app: Flask, client: FlaskClient,
                                                          trap: str) -> None:
    with app.test_request_context():
        from newsletter_service.web.public.bots import fill_stamp

        stamp = fill_stamp()
    fields = {"email": "bot@example.com", "nl_ts": stamp}
    if trap == "honeypot":
        fields["website"] = "http://spam.example"
        app.config["MIN_FILL_SECONDS"] = 0
    elif trap == "forged stamp":
        fields["nl_ts"] = "form.AAAAAA.forgedsignature"
        app.config["MIN_FILL_SECONDS"] = 0
    bot = post(client, "x", json=fields)
    assert bot.status_code == 200
    assert bot.get_data() == normal_answer(client)
    assert [s.email for s in all_rows(app, Subscriber)] == ["real.reader@example.com"]
    assert len(outbox_rows(app)) == 1


@pytest.mark.app_config(MIN_FILL_SECONDS=0.2)
def test_a_person_who_takes_their_time_is_subscribed(app: Flask, client: FlaskClient) -> None:
    page = client.get("/newsletters/daily").get_data(as_text=True)
    import re

    stamp = re.search(r'name="nl_ts"[^>]*value="([^"]+)"|value="([^"]+)"[^>]*name="nl_ts"', page)
    assert stamp, "the hosted form carries a fill-time stamp"
    honeypot = re.search(r'<input[^>]*name="website"[^>]*>', page)
    assert honeypot and 'tabindex="-1"' in honeypot.group(0)
    time.sleep(0.3)
    response = post(client, "x", data={"email": "slow@example.com", "website": "",
                                       "nl_ts": stamp.group(1) or stamp.group(2)})
    assert response.status_code == 200
    assert [s.email for s in all_rows(app, Subscriber)] == ["slow@example.com"]


def test_a_request_without_trap_fields_is_not_dropped(app: Flask, client: FlaskClient) -> None:
    post(client, "x", data={"email": "script@example.com"})
    assert [s.email for s in all_rows(app, Subscriber)] == ["script@example.com"]


@pytest.mark.app_config(RATELIMIT_ENABLED=True, RATELIMIT_LOGIN="3 per minute")
def test_login_attempts_from_one_ip_are_limited(app: Flask, client: FlaskClient) -> None:
    from .admin_support import csrf_token, make_admin

    make_admin(app)
    token = csrf_token(client)  # one page load, as a guesser's script would do
    statuses = [client.post("/admin/login", data={"email": f"guess{i}@example.com",
                                                  "password": "wrong password",
                                                  "csrf_token": token}).status_code
                for i in range(4)]
    assert statuses[:3] == [200, 200, 200] and statuses[3] == 429


@pytest.mark.app_config(RATELIMIT_ENABLED=True, RATELIMIT_API="2 per minute")
def test_api_requests_from_one_ip_are_limited(app: Flask, client: FlaskClient) -> None:
    from .admin_support import bearer, make_token

    headers = bearer(make_token(app))
    statuses = [client.get("/api/v1/newsletters", headers=headers).status_code for _ in range(3)]
    assert statuses == [200, 200, 429]
    assert client.get("/api/v1/newsletters", headers=headers).json["ok"] is False
