"""axe-core on our pages and the publisher's page; a phone-width screen; keyboard alone."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from ..factories import outbox_rows
from .axe import blocking_violations
from .conftest import Site


@pytest.mark.parametrize("path", ["/newsletters/sport", "/embed/travel",
                                  "/newsletters/sport/embed-code"])
def test_our_pages_pass_axe(site: Site, page: Page, axe_source: str, path: str) -> None:
    page.goto(site.base + path)
    assert blocking_violations(page, axe_source) == []


def test_our_pages_with_errors_pass_axe(site: Site, page: Page, axe_source: str) -> None:
    page.goto(f"{site.base}/newsletters/sport")
    page.get_by_label("Email address").fill("reader@localhost")
    page.get_by_role("button", name="Subscribe").click()
    expect(page.get_by_role("alert")).to_be_visible()
    assert blocking_violations(page, axe_source) == []


def test_publisher_page_passes_axe_before_and_after_errors(site: Site, page: Page,
                                                           axe_source: str) -> None:
    page.goto(site.publisher)
    sport = page.locator("#script-sport")
    expect(sport.locator("form")).to_be_visible()
    assert blocking_violations(page, axe_source) == []
    sport.get_by_role("button", name="Subscribe").click()
    expect(sport.locator(".nls-error")).not_to_have_count(0)
    assert blocking_violations(page, axe_source) == []


@pytest.mark.parametrize("path", ["/newsletters/sport", "/article"])
def test_phone_width_screen_needs_no_horizontal_scroll(site: Site, page: Page, path: str) -> None:
    page.set_viewport_size({"width": 375, "height": 740})
    page.goto(site.publisher if path == "/article" else site.base + path)
    if path == "/article":
        expect(page.locator("#script-sport form")).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth") <= 375


def test_script_form_works_with_the_keyboard_alone(site: Site, page: Page) -> None:
    page.goto(site.publisher)
    tech = page.locator("#script-tech")
    email = tech.get_by_label("Email address")
    email.focus()
    page.keyboard.type("keys@example.com")
    page.keyboard.press("Tab")
    expect(tech.get_by_role("button", name="Subscribe")).to_be_focused()
    page.keyboard.press("Enter")
    status = tech.get_by_role("status")
    expect(status).to_contain_text("Successfully subscribed")
    expect(status).to_be_focused()  # the reader's place is kept where the form was
    assert len(outbox_rows(site.app)) == 1


def test_axe_check_reports_what_it_should(page: Page, axe_source: str) -> None:
    page.set_content('<html lang="en"><title>t</title><main><input type="email"></main></html>')
    assert any(line.startswith("label ") for line in blocking_violations(page, axe_source))
