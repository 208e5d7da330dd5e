"""Policy is declared at the views: a table over app.view_functions finds any view without it."""

from __future__ import annotations

import pytest
from flask import Flask, url_for

from newsletter_service.web.limits import declared_limit

from .factories import make_newsletter

READER_SIDE = ("public", "embed")  # the blueprints anyone on the internet reaches
# JSON that only our own monitoring reads: no publisher's page needs it cross-origin.
SAME_ORIGIN_JSON = {"public.healthz"}


def reader_rules(app: Flask) -> list[tuple[str, set[str]]]:
    """Return (endpoint, methods) of every view on the reader's side."""
    return [(rule.endpoint, set(rule.methods or ())) for rule in app.url_map.iter_rules()
            if rule.endpoint.split(".")[0] in READER_SIDE]


def test_every_public_post_view_has_a_rate_limit(app: Flask) -> None:
    posts = [endpoint for endpoint, methods in reader_rules(app) if "POST" in methods]
    assert posts, "the table found no view: it would pass whatever the views declare"
    unlimited = [e for e in posts if declared_limit(app.view_functions[e]) is None]
    assert unlimited == []


def test_the_login_and_the_api_are_rate_limited(app: Flask) -> None:
    login = declared_limit(app.view_functions["admin_auth.login"])
    assert login is not None and login.methods == ["POST"]  # loading the form is no attempt
    assert declared_limit(app.blueprints["api"]) is not None


def test_every_view_publishers_pages_post_to_answers_cors(app: Flask) -> None:
    cross_site = [e for e, _ in reader_rules(app)
                  if getattr(app.view_functions[e], "csrf_exempt", False)
                  and getattr(app.view_functions[e], "referrer_policy", None) is None]
    assert cross_site, "no cross-site form found: the table would check nothing"
    assert [e for e in cross_site if not getattr(app.view_functions[e], "cors", False)] == []


def test_every_public_json_answer_is_declared_cors(app: Flask) -> None:
    make_newsletter(app)
    client = app.test_client()
    json_views = []
    for rule in app.url_map.iter_rules():
        if rule.endpoint.split(".")[0] not in READER_SIDE or "GET" not in (rule.methods or ()):
            continue
        if set(rule.arguments) - {"slug"}:
            continue  # a token in the path: a page behind an emailed link
        with app.test_request_context():
            url = url_for(rule.endpoint, **dict.fromkeys(rule.arguments, "daily"))
        with client.get(url) as response:  # closed: embed.js is an open file
            if response.mimetype == "application/json":
                json_views.append(rule.endpoint)
    assert "embed.form_description" in json_views  # the probe works
    undeclared = [e for e in json_views if e not in SAME_ORIGIN_JSON
                  and not getattr(app.view_functions[e], "cors", False)]
    assert undeclared == []


@pytest.mark.parametrize("endpoint", ["embed.frame"])
def test_the_iframe_page_is_declared_framable(app: Flask, endpoint: str) -> None:
    assert getattr(app.view_functions[endpoint], "framing", None) == "always"
