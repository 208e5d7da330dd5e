"""Plain HTML forms on a publisher's page, with JavaScript off: they post to our site."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from newsletter_service.models import Subscription

from ..factories import all_rows, outbox_rows
from .conftest import Site


def test_plain_form_returns_to_the_publisher_when_return_url_is_set(site: Site,
                                                                    page_without_js: Page) -> None:
    page = page_without_js
    page.goto(site.publisher)
    form = page.locator("#plain-morning")
    form.get_by_label("Email address").fill("early@example.com")
    form.get_by_role("button", name="Subscribe").click()
    expect(page).to_have_url(f"{site.publisher}?subscribed=morning")
    assert [m.recipient for m in outbox_rows(site.app)] == ["early@example.com"]


def test_plain_form_lands_on_our_success_page(site: Site, page_without_js: Page) -> None:
    page = page_without_js
    page.goto(site.publisher)
    form = page.locator("#plain-evening")
    form.get_by_label("Email address").fill("night@example.com")
    form.get_by_label("Name").fill("Owl")
    form.get_by_role("button", name="Subscribe").click()
    expect(page.get_by_role("heading", name="Successfully subscribed")).to_be_visible()
    assert page.url == f"{site.base}/newsletters/evening/subscribe"
    assert len(outbox_rows(site.app)) == 1
    [subscription] = all_rows(site.app, Subscription)
    # The Referer, which browsers cut to the origin across sites (embed.js sends the full URL).
    assert subscription.source == f"{site.publisher_origin}/"


def test_plain_form_error_shows_the_form_again_with_the_message(site: Site,
                                                                page_without_js: Page) -> None:
    page = page_without_js
    page.goto(site.publisher)
    site_form = page.locator("#plain-evening")
    site_form.get_by_label("Email address").fill("night@example.com")
    site_form.get_by_role("button", name="Subscribe").click()
    name = page.get_by_label("Name")
    expect(name).to_have_attribute("aria-invalid", "true")
    expect(page.locator(f"#{name.get_attribute('aria-describedby')}")).to_have_text(
        "Enter your name.")
    expect(page.get_by_label("Email address")).to_have_value("night@example.com")
    name.fill("Owl")
    page.get_by_role("button", name="Subscribe").click()
    expect(page.get_by_role("heading", name="Successfully subscribed")).to_be_visible()
    assert len(outbox_rows(site.app)) == 1


def test_combined_plain_form_sends_one_email_for_both(site: Site, page_without_js: Page) -> None:
    page = page_without_js
    page.goto(site.publisher)
    form = page.locator("#combined")
    form.get_by_label("The Morning Briefing").check()
    form.get_by_label("Tech Weekly").check()
    form.get_by_label("Email address").fill("both@example.com")
    form.get_by_role("button", name="Subscribe").click()
    expect(page.get_by_text("You chose: The Morning Briefing, Tech Weekly.")).to_be_visible()
    assert len(outbox_rows(site.app)) == 1
    assert len(all_rows(site.app, Subscription)) == 2
