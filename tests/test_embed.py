"""Embedding without a browser: CORS, framing, embed.js, the form description, snippets,
the return_url redirect and the combined signup."""

from __future__ import annotations

import gzip
import re
from email import message_from_bytes, policy

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy.exc import OperationalError
from werkzeug.datastructures import MultiDict
from werkzeug.test import TestResponse

from newsletter_service.models import FieldMode, Subscription, SubscriptionStatus
from newsletter_service.web.security import normalize_origin

from .factories import all_rows, make_newsletter, outbox_rows

PUBLISHER = "https://publisher.example"
BASE = "http://newsletters.test"  # the BASE_URL of the test app
PREFLIGHT = {"Access-Control-Request-Method": "POST",
             "Access-Control-Request-Headers": "content-type"}


def frame_ancestors(response: TestResponse) -> str:
    """Return the frame-ancestors directive of a response's Content-Security-Policy."""
    policy = response.headers["Content-Security-Policy"]
    return next(d.strip() for d in policy.split(";") if d.strip().startswith("frame-ancestors"))


@pytest.fixture(autouse=True)
def newsletters(app: Flask) -> None:
    make_newsletter(app, "daily", "The Daily",
                    allowed_origins=f"{PUBLISHER}\nhttps://other.example:8443",
                    return_url="https://publisher.example/story?id=7#end")
    make_newsletter(app, "weekly", "The Weekly", name_field=FieldMode.required,
                    consent_text="I agree to receive The Weekly.")
    make_newsletter(app, "sport", "Sport", name_field=FieldMode.optional)


# --- CORS --------------------------------------------------------------------------------

@pytest.mark.parametrize(("slug", "origin", "allowed"), [
    ("daily", PUBLISHER, PUBLISHER),
    ("daily", "https://other.example:8443", "https://other.example:8443"),
    ("daily", "https://publisher.example.attacker.example", None),
    ("daily", "http://publisher.example", None),
    ("weekly", "https://anyone.example", "*"),  # no list: any origin
])
def test_json_signup_answers_cors_for_the_newsletters_origins(client: FlaskClient, slug: str,
                                                              origin: str,
                                                              allowed: str | None) -> None:
    response = client.post(f"/newsletters/{slug}/subscribe", json={"email": "a@example.com"},
                           headers={"Origin": origin})
    assert response.status_code in (200, 422)
    assert response.headers.get("Access-Control-Allow-Origin") == allowed
    assert "Access-Control-Allow-Credentials" not in response.headers
    assert "Origin" in response.headers.get("Vary", "")


@pytest.mark.parametrize(("origin", "passes"), [(PUBLISHER, True),
                                                ("https://elsewhere.example", False)])
def test_preflight_passes_from_an_allowed_origin_only(client: FlaskClient, origin: str,
                                                      passes: bool) -> None:
    response = client.options("/newsletters/daily/subscribe",
                              headers={"Origin": origin, **PREFLIGHT})
    assert response.status_code == 200
    if passes:
        assert response.headers["Access-Control-Allow-Origin"] == origin
        assert "POST" in response.headers["Access-Control-Allow-Methods"]
        assert response.headers["Access-Control-Allow-Headers"].lower() == "content-type"
    else:
        assert "Access-Control-Allow-Origin" not in response.headers
        assert "Access-Control-Allow-Methods" not in response.headers


def test_cors_errors_are_readable_too(client: FlaskClient) -> None:
    response = client.post("/newsletters/nope/subscribe", json={"email": "a@example.com"},
                           headers={"Origin": "https://x.example"})
    assert response.status_code == 404 and response.headers["Access-Control-Allow-Origin"] == "*"


def test_database_down_still_answers_503_and_allows_no_origin(
        client: FlaskClient, monkeypatch: pytest.MonkeyPatch) -> None:
    def down(*_args: object) -> None:
        raise OperationalError("SELECT", {}, ConnectionError("refused"))

    monkeypatch.setattr("newsletter_service.newsletters.find_newsletter", down)
    response = client.post("/newsletters/daily/subscribe", json={"email": "a@example.com"},
                           headers={"Origin": PUBLISHER})
    assert response.status_code == 503
    assert "Access-Control-Allow-Origin" not in response.headers


def test_pages_answer_no_cors(client: FlaskClient) -> None:
    response = client.get("/newsletters/daily", headers={"Origin": PUBLISHER})
    assert "Access-Control-Allow-Origin" not in response.headers


@pytest.mark.parametrize(("value", "origin"), [
    ("https://Pub.Example", "https://pub.example"),
    ("https://pub.example/", "https://pub.example"),
    ("https://pub.example:443", "https://pub.example"),
    ("http://localhost:8000", "http://localhost:8000"),
    ("https://pub.example/path", None),
    ("pub.example", None),
    ("https://*.pub.example", None),
    ("ftp://pub.example", None),
    ("https://user@pub.example", None),
])
def test_allowed_origins_are_read_strictly(value: str, origin: str | None) -> None:
    assert normalize_origin(value) == origin


# --- framing -------------------------------------------------------------------------------

def test_embed_page_may_be_framed_by_the_newsletters_origins(client: FlaskClient) -> None:
    response = client.get("/embed/daily")
    assert response.status_code == 200
    assert frame_ancestors(response) == (
        f"frame-ancestors 'self' https://other.example:8443 {PUBLISHER}")
    assert "X-Frame-Options" not in response.headers
    page = response.get_data(as_text=True)
    assert '<input type="hidden" name="embed" value="1">' in page
    assert "<script" not in page


def test_embed_page_of_a_newsletter_without_origins_may_be_framed_anywhere(
        client: FlaskClient) -> None:
    assert frame_ancestors(client.get("/embed/weekly")) == "frame-ancestors *"


@pytest.mark.parametrize("path", ["/", "/newsletters/daily", "/newsletters/daily/embed-code",
                                  "/embed.js", "/confirm/not-a-token", "/unsubscribe/x"])
def test_other_pages_refuse_to_be_framed(client: FlaskClient, path: str) -> None:
    with client.get(path) as response:
        pass
    assert frame_ancestors(response) == "frame-ancestors 'none'"
    assert response.headers["X-Frame-Options"] == "DENY"
    assert response.headers["X-Content-Type-Options"] == "nosniff"


@pytest.mark.parametrize(("data", "status"), [
    ({"email": "reader@example.com", "name": "R", "consent": "y"}, 200),
    ({"email": "reader@example.com"}, 422),
])
def test_pages_a_framed_form_leads_to_stay_framable(client: FlaskClient, data: dict[str, str],
                                                    status: int) -> None:
    response = client.post("/newsletters/weekly/subscribe", data={**data, "embed": "1"})
    assert response.status_code == status
    assert frame_ancestors(response) == "frame-ancestors *"
    page = response.get_data(as_text=True)
    assert 'class="embedded"' in page and "Put this form on your site" not in page
    unframed = client.post("/newsletters/weekly/subscribe", data=data)
    assert unframed.headers["X-Frame-Options"] == "DENY"


def test_embed_flag_sent_twice_is_refused(client: FlaskClient) -> None:
    response = client.post("/newsletters/sport/subscribe",
                           data=MultiDict([("email", "a@example.com"), ("embed", "1"),
                                           ("embed", "1")]))
    assert response.status_code == 400


# --- embed.js and the form description ----------------------------------------------------

def test_embed_js_is_served_as_a_cacheable_script(client: FlaskClient) -> None:
    with client.get("/embed.js") as response:
        script = response.get_data(as_text=True)
    assert response.status_code == 200
    assert response.mimetype == "text/javascript"
    assert response.cache_control.public and response.cache_control.max_age == 3600
    assert script.lstrip().startswith("/*!") and "(function () {" in script  # no globals
    assert 'credentials = "omit"' in script
    # "A few KB": what a reader downloads, gzipped as every proxy and CDN serves scripts.
    assert len(gzip.compress(script.encode())) < 5_000
    with client.get("/embed.css") as css:
        rules = re.sub(r"/\*.*?\*/", "", css.get_data(as_text=True), flags=re.DOTALL)
    assert css.mimetype == "text/css"
    selectors = ",".join(re.findall(r"([^{}]+)\{", rules)).split(",")
    assert selectors and all(s.strip().startswith(".nls-") for s in selectors)  # host untouched


def test_form_description_lists_fields_texts_and_where_to_post(client: FlaskClient) -> None:
    response = client.get("/embed/weekly/form.json", headers={"Origin": "https://x.example"})
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    form = response.json
    assert form["name"] == "The Weekly"
    assert form["action"] == f"{BASE}/newsletters/weekly/subscribe"
    assert [(f["name"], f["type"], f["label"], f["required"]) for f in form["fields"]] == [
        ("email", "email", "Email address", True),
        ("name", "text", "Name", True),
        ("consent", "checkbox", "I agree to receive The Weekly.", True),
    ]
    assert form["success"] == {"title": "Successfully subscribed", "message": (
        "Thank you for signing up for this newsletter. We've sent you a confirmation email.")}


def test_form_description_of_an_optional_name(client: FlaskClient) -> None:
    fields = client.get("/embed/sport/form.json").json["fields"]
    assert [(f["name"], f["required"]) for f in fields] == [("email", True), ("name", False)]
    assert client.get("/embed/nope/form.json").status_code == 404


def test_embed_code_page_shows_the_three_snippets(client: FlaskClient) -> None:
    assert 'href="/newsletters/daily/embed-code"' in client.get("/newsletters/daily").text
    page = client.get("/newsletters/daily/embed-code").text
    assert (f"&lt;form method=&#34;post&#34; action=&#34;{BASE}/newsletters/daily/subscribe"
            "&#34;&gt;") in page
    assert (f"&lt;script src=&#34;{BASE}/embed.js&#34; async&gt;&lt;/script&gt;\n"
            "&lt;div data-newsletter=&#34;daily&#34;&gt;&lt;/div&gt;") in page
    assert f"&lt;iframe src=&#34;{BASE}/embed/daily&#34; title=&#34;Sign up for The Daily" in page
    assert page.count("<pre class=\"snippet\"><code>") == 3


# --- return_url ---------------------------------------------------------------------------

def test_plain_form_returns_to_the_publishers_page(client: FlaskClient) -> None:
    response = client.post("/newsletters/daily/subscribe", data={"email": "a@example.com"})
    assert response.status_code == 303
    assert response.headers["Location"] == (
        "https://publisher.example/story?id=7&subscribed=daily#end")


@pytest.mark.parametrize("request_kwargs", [
    {"json": {"email": "a@example.com"}},
    {"data": {"email": "a@example.com", "embed": "1"}},
])
def test_scripts_and_frames_are_not_redirected(client: FlaskClient,
                                               request_kwargs: dict[str, object]) -> None:
    response = client.post("/newsletters/daily/subscribe", **request_kwargs)
    assert response.status_code == 200


def test_an_invalid_signup_is_not_redirected(client: FlaskClient) -> None:
    assert client.post("/newsletters/daily/subscribe", data={"email": "x"}).status_code == 422


# --- the combined form ---------------------------------------------------------------------

def confirm_path(app: Flask) -> str:
    [row] = outbox_rows(app)
    body = message_from_bytes(row.message, policy=policy.default)
    text = body.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    found = re.search(rf"{re.escape(BASE)}(/confirm/\S+)", text)
    assert found is not None
    return found.group(1)


@pytest.mark.parametrize("as_json", [False, True])
def test_combined_signup_sends_one_email_and_confirms_each(app: Flask, client: FlaskClient,
                                                           as_json: bool) -> None:
    fields = {"email": "both@example.com", "newsletters": ["daily", "sport"]}
    response = (client.post("/subscribe", json=fields) if as_json
                else client.post("/subscribe", data=fields))
    assert response.status_code == 200
    assert len(all_rows(app, Subscription)) == 2
    client.post(confirm_path(app))
    assert {s.status for s in all_rows(app, Subscription)} == {SubscriptionStatus.confirmed}


def test_combined_signup_asks_what_any_newsletter_requires(client: FlaskClient) -> None:
    response = client.post("/subscribe", json={"email": "a@example.com",
                                               "newsletters": ["daily", "weekly"]})
    assert response.status_code == 422
    assert set(response.json["errors"]) == {"name", "consent"}
    page = client.post("/subscribe", data={"email": "a@example.com",
                                           "newsletters": ["daily", "weekly"]})
    assert page.status_code == 422 and "Enter your name." in page.text
    assert 'value="daily" id="nl-combined-daily" checked' in page.text


def test_combined_signup_without_a_choice(app: Flask, client: FlaskClient) -> None:
    response = client.post("/subscribe", json={"email": "a@example.com", "newsletters": []})
    assert response.status_code == 422
    assert response.json["errors"] == {"newsletters": ["Choose at least one newsletter."]}
    page = client.post("/subscribe", data={"email": "a@example.com"})
    assert page.status_code == 422 and "Choose at least one newsletter." in page.text
    assert outbox_rows(app) == []


@pytest.mark.parametrize("as_json", [False, True])
def test_combined_signup_with_an_unknown_newsletter(app: Flask, client: FlaskClient,
                                                    as_json: bool) -> None:
    fields = {"email": "a@example.com", "newsletters": ["daily", "nope"]}
    response = (client.post("/subscribe", json=fields) if as_json
                else client.post("/subscribe", data=fields))
    assert response.status_code == 404
    if as_json:
        assert response.json == {"ok": False, "error": "There is no newsletter at this address."}
    assert all_rows(app, Subscription) == []


def test_combined_signup_answers_cors_for_origins_all_its_newsletters_allow(
        client: FlaskClient) -> None:
    preflight = client.options("/subscribe", headers={"Origin": "https://x.example", **PREFLIGHT})
    assert preflight.headers["Access-Control-Allow-Origin"] == "*"
    both = {"email": "a@example.com", "newsletters": ["daily", "sport"]}
    allowed = client.post("/subscribe", json=both, headers={"Origin": PUBLISHER})
    assert allowed.headers["Access-Control-Allow-Origin"] == PUBLISHER
    refused = client.post("/subscribe", json=both, headers={"Origin": "https://x.example"})
    assert "Access-Control-Allow-Origin" not in refused.headers


def test_combined_json_list_must_hold_strings(client: FlaskClient) -> None:
    response = client.post("/subscribe", json={"email": "a@example.com", "newsletters": [1]})
    assert response.status_code == 400
