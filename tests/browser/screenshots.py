"""Rewrite the README's screenshots in docs/: run by `make screenshots`, never by the suite.

The file is not named ``test_*.py``, so pytest collects it only when named on the command
line; it borrows the browser tests' fixtures (a live site, a publisher's page, Chromium).
"""

from __future__ import annotations

from pathlib import Path

from playwright.sync_api import Page, expect

from newsletter_service.models import Subscriber

from ..factories import all_rows, make_newsletter, subscribe
from ..smtp_sink import SMTPSink
from .conftest import Site
from .test_code_step import mail_site, received_code  # noqa: F401 - mail_site is a fixture
from .test_languages import uk_site  # noqa: F401 - a fixture

DOCS = Path(__file__).resolve().parents[2] / "docs"


def whole_page(page: Page, path: Path) -> None:
    """Screenshot the whole page by growing the viewport (full_page drops iframe content)."""
    page.set_viewport_size({"width": 1000, "height": 600})
    height = page.evaluate("document.documentElement.scrollHeight")
    page.set_viewport_size({"width": 1000, "height": height})
    page.wait_for_timeout(200)
    page.screenshot(path=str(path))


def test_write_publisher_page(site: Site, page: Page) -> None:
    """Write docs/publisher-page.png and docs/signup-success.png."""
    page.set_viewport_size({"width": 1000, "height": 800})
    page.goto(site.publisher)
    sport, books = page.locator("#script-sport"), page.frame_locator("#frame-books")
    expect(sport.locator("form")).to_be_visible()
    expect(books.get_by_role("button", name="Subscribe")).to_be_visible()
    whole_page(page, DOCS / "publisher-page.png")
    sport.get_by_label("Email address").fill("fan@example.com")
    sport.get_by_label("I agree to receive Sport Daily.").check()
    sport.get_by_role("button", name="Subscribe").click()
    books.get_by_label("Email address").fill("reader@example.com")
    books.get_by_role("button", name="Subscribe").click()
    tech = page.locator("#script-tech")
    tech.get_by_label("Email address").fill("reader@localhost")
    tech.get_by_role("button", name="Subscribe").click()
    expect(sport.get_by_role("status")).to_contain_text("You're in")
    expect(books.get_by_role("status")).to_contain_text("Successfully subscribed")
    expect(tech.locator(".nls-error")).to_be_visible()
    whole_page(page, DOCS / "signup-success.png")


def test_write_code_step(mail_site: Site, smtp_sink: SMTPSink, page: Page) -> None:  # noqa: F811
    """Write docs/code-step.png."""
    page.set_viewport_size({"width": 900, "height": 700})
    page.goto(mail_site.publisher)
    tech = page.locator("#script-tech")
    tech.get_by_label("Email address").fill("reader@example.com")
    tech.get_by_role("button", name="Subscribe").click()
    expect(tech.get_by_label("Confirmation code")).to_be_visible()
    tech.get_by_label("Confirmation code").fill(
        received_code(mail_site, smtp_sink, "reader@example.com")[:4])
    tech.scroll_into_view_if_needed()
    tech.screenshot(path=str(DOCS / "code-step.png"))


def test_write_languages(uk_site: Site, page: Page) -> None:  # noqa: F811
    """Write docs/ukrainian-form.png and docs/preference-centre.png."""
    page.set_viewport_size({"width": 800, "height": 700})
    page.goto(uk_site.publisher)
    form = page.locator("#script-tyzhden")
    form.get_by_label("Електронна пошта").fill("reader@localhost")
    form.get_by_role("button", name="Підписатися").click()
    expect(form.locator(".nls-error")).to_be_visible()
    form.screenshot(path=str(DOCS / "ukrainian-form.png"))
    make_newsletter(uk_site.app, "books", "Books Monthly", description="One book a month.")
    subscribe(uk_site.app, "reader@example.com", "morning")
    [reader] = all_rows(uk_site.app, Subscriber)
    page.goto(f"{uk_site.base}/preferences/{reader.manage_token}")
    page.get_by_label("The Morning Briefing").check()
    page.get_by_label("Books Monthly").check()
    page.get_by_role("button").click()
    expect(page.get_by_role("status")).to_be_visible()
    page.screenshot(path=str(DOCS / "preference-centre.png"), full_page=True)
