"""The optional per-newsletter challenge: proof of work, and a CAPTCHA provider's verdict."""

from __future__ import annotations

import base64
import hashlib
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from newsletter_service.models import Subscriber, UsedChallenge, utcnow

from .factories import all_rows, make_newsletter, open_session, outbox_rows

SIGNUP = "/newsletters/guarded/subscribe"


def solve(challenge: dict[str, Any]) -> str:
    """Do the browser's work: find the number, return the payload it posts."""
    for number in range(challenge["maxnumber"] + 1):
        digest = hashlib.sha256(f"{challenge['salt']}{number}".encode()).hexdigest()
        if digest == challenge["challenge"]:
            solution = {**{k: challenge[k] for k in ("algorithm", "challenge", "salt",
                                                     "signature")}, "number": number}
            return base64.b64encode(json.dumps(solution).encode()).decode()
    raise AssertionError("unsolvable challenge")


@pytest.fixture
def pow_newsletter(app: Flask) -> None:
    app.config["CHALLENGE_POW_MAX_NUMBER"] = 500
    make_newsletter(app, "guarded", "Guarded", challenge="pow")


@pytest.mark.usefixtures("pow_newsletter")
class TestProofOfWork:
    def test_solved_challenge_lets_the_signup_through(self, app: Flask,
                                                      client: FlaskClient) -> None:
        challenge = client.get("/challenge").json
        assert challenge["algorithm"] == "SHA-256" and challenge["maxnumber"] == 500
        response = client.post(SIGNUP, json={"email": "a@example.com", "altcha": solve(challenge)})
        assert response.status_code == 200
        assert [s.email for s in all_rows(app, Subscriber)] == ["a@example.com"]

    def test_missing_answer_is_a_field_error(self, app: Flask, client: FlaskClient) -> None:
        response = client.post(SIGNUP, json={"email": "a@example.com"})
        assert response.status_code == 422
        assert "not a robot" in response.json["errors"]["challenge"][0]
        page = client.post(SIGNUP, data={"email": "a@example.com"})
        assert page.status_code == 422 and "not a robot" in page.get_data(as_text=True)
        assert all_rows(app, Subscriber) == [] and outbox_rows(app) == []

    @pytest.mark.parametrize("tamper", ["signature", "number", "garbage", "expired"])
    def test_forged_or_stale_answers_are_refused(self, app: Flask, client: FlaskClient,
                                                 tamper: str) -> None:
        if tamper == "expired":
            app.config["CHALLENGE_TTL_SECONDS"] = -1
        challenge = client.get("/challenge").json
        payload = solve(challenge)
        solution = json.loads(base64.b64decode(payload))
        if tamper == "signature":
            solution["signature"] = "0" * 64
        elif tamper == "number":
            solution["number"] += 1
        payload = base64.b64encode(json.dumps(solution).encode()).decode()
        if tamper == "garbage":
            payload = "not base64 at all!"
        response = client.post(SIGNUP, json={"email": "a@example.com", "altcha": payload})
        assert response.status_code == 422
        assert all_rows(app, Subscriber) == []

    @pytest.mark.parametrize("payload", ["5", "[]", "null", '"text"', '{"number": 1e400}',
                                         "[" * 5000 + "]" * 5000])
    def test_odd_payloads_are_refused_not_errors(self, app: Flask, client: FlaskClient,
                                                 payload: str) -> None:
        encoded = base64.b64encode(payload.encode()).decode()
        response = client.post(SIGNUP, json={"email": "a@example.com", "altcha": encoded})
        assert response.status_code == 422

    def test_challenges_are_never_cached_and_readable_from_any_origin(
            self, client: FlaskClient) -> None:
        response = client.get("/challenge", headers={"Origin": "https://publisher.example"})
        assert response.cache_control.no_store
        assert response.headers["Access-Control-Allow-Origin"] == "*"
        assert client.get("/challenge").json["salt"] != response.json["salt"]

    def test_hosted_form_carries_the_solver(self, client: FlaskClient) -> None:
        page = client.get("/newsletters/guarded").get_data(as_text=True)
        assert 'name="altcha" data-nl-challenge="/challenge"' in page
        assert '<script src="/static/challenge.js" defer></script>' in page

    def test_embed_description_tells_embed_js_to_solve(self, client: FlaskClient) -> None:
        described = client.get("/embed/guarded/form.json").json
        assert described["challenge"] == {"kind": "pow", "field": "altcha",
                                          "url": "http://newsletters.test/challenge"}
        assert [f["name"] for f in described["fields"]] == ["email"]


# A small maximum, so that the test solves its challenges in milliseconds.
@pytest.mark.app_config(CHALLENGE_POW_MAX_NUMBER=500)
def test_a_solution_is_accepted_once(db_app: Flask) -> None:
    make_newsletter(db_app, "guarded", "Guarded", challenge="pow")
    client = db_app.test_client()
    solved = solve(client.get("/challenge").json)
    first = client.post(SIGNUP, json={"email": "a@example.com", "altcha": solved})
    assert first.status_code == 200, first.json
    for email in ("b@example.com", "c@example.com"):
        replay = client.post(SIGNUP, json={"email": email, "altcha": solved})
        assert replay.status_code == 422 and "not a robot" in replay.json["errors"]["challenge"][0]
    fresh = solve(client.get("/challenge").json)
    assert client.post(SIGNUP, json={"email": "b@example.com", "altcha": fresh}).status_code == 200
    assert sorted(s.email for s in all_rows(db_app, Subscriber)) == ["a@example.com",
                                                                     "b@example.com"]


@pytest.mark.app_config(CHALLENGE_POW_MAX_NUMBER=500)  # quick to solve, as above
def test_used_solutions_are_forgotten_once_expired(app: Flask, client: FlaskClient) -> None:
    make_newsletter(app, "guarded", "Guarded", challenge="pow")
    with open_session(app) as session:
        session.add(UsedChallenge(signature="old", expires_at=utcnow() - timedelta(seconds=1)))
        session.commit()
    solved = solve(client.get("/challenge").json)
    assert client.post(SIGNUP, json={"email": "a@example.com", "altcha": solved}).status_code \
        == 200
    with open_session(app) as session:
        assert [u.signature for u in session.scalars(select(UsedChallenge))] == [
            json.loads(base64.b64decode(solved))["signature"]]


def test_the_default_challenge_is_about_a_second_of_a_phone_s_work(app: Flask) -> None:
    # See config.py: a phone checks some 25k-60k numbers a second, half the range on average.
    assert 80_000 <= app.config["CHALLENGE_POW_MAX_NUMBER"] <= 200_000


class FakeSiteverify(BaseHTTPRequestHandler):
    """A CAPTCHA provider's siteverify: 'good' passes, anything else fails."""

    received: list[dict[str, list[str]]] = []

    def do_POST(self) -> None:  # noqa: N802 - the stdlib's name
        fields = parse_qs(self.rfile.read(int(self.headers["Content-Length"])).decode())
        self.received.append(fields)
        body = json.dumps({"success": fields.get("response") == ["good"]}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def provider() -> Iterator[ThreadingHTTPServer]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), FakeSiteverify)
    FakeSiteverify.received = []
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


@dataclass
class Captcha:
    """A CAPTCHA newsletter wired to the local siteverify server."""

    server: ThreadingHTTPServer
    field: str  # what the provider's widget posts
    widget: str  # the widget's class on our page
    origin: str  # what our CSP must let in


@pytest.fixture(params=["turnstile", "hcaptcha"])
def captcha(request: pytest.FixtureRequest, app: Flask,
            provider: ThreadingHTTPServer) -> Captcha:
    kind = request.param
    prefix = kind.upper()
    app.config.update({f"{prefix}_SITE_KEY": "site-key-1", f"{prefix}_SECRET_KEY": "secret-1",
                       f"{prefix}_VERIFY_URL": f"http://127.0.0.1:{provider.server_port}/v"})
    make_newsletter(app, "guarded", "Guarded", challenge=kind)
    if kind == "turnstile":
        return Captcha(provider, "cf-turnstile-response", "cf-turnstile",
                       "https://challenges.cloudflare.com")
    return Captcha(provider, "h-captcha-response", "h-captcha", "https://hcaptcha.com")


def test_provider_verdict_decides_server_side(app: Flask, client: FlaskClient,
                                              captcha: Captcha) -> None:
    refused = client.post(SIGNUP, json={"email": "a@example.com", captcha.field: "bad"},
                          environ_base={"REMOTE_ADDR": "198.51.100.9"})
    assert refused.status_code == 422
    passed = client.post(SIGNUP, json={"email": "a@example.com", captcha.field: "good"})
    assert passed.status_code == 200
    assert [s.email for s in all_rows(app, Subscriber)] == ["a@example.com"]
    first = FakeSiteverify.received[0]
    assert first["secret"] == ["secret-1"] and first["remoteip"] == ["198.51.100.9"]


def test_provider_unreachable_fails_closed(app: Flask, client: FlaskClient,
                                           captcha: Captcha) -> None:
    captcha.server.shutdown()
    captcha.server.server_close()
    response = client.post(SIGNUP, json={"email": "a@example.com", captcha.field: "good"})
    assert response.status_code == 422
    assert all_rows(app, Subscriber) == []


def test_widget_page_lets_only_the_provider_in(client: FlaskClient, captcha: Captcha) -> None:
    guarded = client.get("/newsletters/guarded")
    page = guarded.get_data(as_text=True)
    assert f'class="{captcha.widget}" data-sitekey="site-key-1"' in page
    policy = guarded.headers["Content-Security-Policy"]
    assert f"script-src 'self' {captcha.origin}" in policy
    assert f"frame-src {captcha.origin}" in policy
    assert captcha.origin not in client.get("/healthz").headers["Content-Security-Policy"]
