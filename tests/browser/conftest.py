"""Browser fixtures: Chromium, the app served live, a publisher's page on a second origin."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from flask import Flask
from werkzeug.serving import make_server

from newsletter_service.models import FieldMode
from tests.conftest import skip_or_fail
from tests.factories import make_newsletter

from .publisher import publisher_app

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page

CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run",
                 "--disable-quic"]


@dataclass(frozen=True)
class Site:
    """The app at ``base`` and the publisher's page at ``publisher`` (another origin)."""

    app: Flask
    base: str
    publisher: str

    @property
    def publisher_origin(self) -> str:
        return self.publisher.rsplit("/", 1)[0]


def _chromium_path() -> str:
    return os.environ.get("NEWSLETTER_TEST_CHROMIUM", "/usr/bin/chromium")


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    """Headless Chromium (the system's: Playwright's own download is not available)."""
    path = _chromium_path()
    if not Path(path).is_file():
        skip_or_fail("chromium", f"no Chromium at {path} (set NEWSLETTER_TEST_CHROMIUM)")
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        skip_or_fail("chromium", "the playwright package is not installed")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=path, headless=True,
                                             args=CHROMIUM_ARGS)
        yield browser
        browser.close()


def done_before_answering(wsgi_app: Callable[..., Any]) -> Callable[..., Any]:
    """Wrap an app so that what it leaves for after an answer runs before the answer is sent.

    A server sends the answer, then closes it, which carries the signup out (signup_queue.py)
    a few milliseconds after the page changed. These tests look at the database once the
    page has changed; the timing itself is tested over gunicorn (tests/test_signup_queue.py,
    tests/journey/, benchmarks/bench_answer_time.py).
    """
    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        answer: list[Any] = []
        body = wsgi_app(environ, lambda *args: answer.extend(args) or (lambda _data: None))
        try:
            content = b"".join(body)
        finally:
            if hasattr(body, "close"):
                body.close()
        start_response(*answer)
        return [content]

    return app


@contextmanager
def serve(wsgi_app: Callable[..., Any]) -> Iterator[str]:
    """Serve a WSGI app on a free port in a thread; give its root URL."""
    server = make_server("127.0.0.1", 0, wsgi_app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join(timeout=5)
        server.server_close()


@pytest.fixture
def site(app: Flask) -> Iterator[Site]:
    """The app served live, its newsletters, and a publisher's page embedding them."""
    with serve(done_before_answering(app)) as base, serve(publisher_app(base)) as publisher_root:
        app.config["BASE_URL"] = base
        # Playwright types faster than any person: the fill-time trap is tested on its own.
        app.config["MIN_FILL_SECONDS"] = 0
        publisher = f"{publisher_root}/article"
        _make_newsletters(app, publisher_root, publisher)
        yield Site(app=app, base=base, publisher=publisher)


def _make_newsletters(app: Flask, origin: str, article: str) -> None:
    allowed = f"{origin}\nhttps://other-publisher.example"
    make_newsletter(app, "morning", "The Morning Briefing", allowed_origins=allowed,
                    return_url=article, description="Five stories, every weekday at 6.")
    make_newsletter(app, "evening", "The Evening Edition", name_field=FieldMode.required)
    make_newsletter(app, "tech", "Tech Weekly", allowed_origins=allowed,
                    description="Gadgets and the people who make them.")
    make_newsletter(app, "sport", "Sport Daily", name_field=FieldMode.optional,
                    consent_text="I agree to receive Sport Daily.",
                    success_title="You're in", success_message="Check your inbox to confirm.")
    make_newsletter(app, "books", "Books Monthly", allowed_origins=allowed)
    make_newsletter(app, "travel", "Travel Notes", consent_text="I agree to receive Travel Notes.")
    make_newsletter(app, "elsewhere", "Only Elsewhere",
                    allowed_origins="https://other-publisher.example")


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    """A fresh browser page with JavaScript."""
    context = browser.new_context()
    yield context.new_page()
    context.close()


@pytest.fixture
def page_without_js(browser: Browser) -> Iterator[Page]:
    """A fresh browser page with JavaScript switched off: plain forms and iframes only."""
    context = browser.new_context(java_script_enabled=False)
    yield context.new_page()
    context.close()


@pytest.fixture(scope="session")
def axe_source() -> str:
    """The axe-core script bundled by the axe-playwright-python package."""
    try:
        return (resources.files("axe_playwright_python") / "axe.min.js").read_text("utf-8")
    except ModuleNotFoundError:
        skip_or_fail("chromium", "axe-playwright-python is not installed (pip install -e '.[dev]')")
        raise
