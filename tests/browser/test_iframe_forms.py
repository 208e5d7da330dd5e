"""Forms in iframes on a publisher's page: errors and success stay inside their frame."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from ..factories import outbox_rows
from .conftest import Site


def test_iframe_form_signs_up_inside_its_frame(site: Site, page_without_js: Page) -> None:
    page = page_without_js
    page.goto(site.publisher)
    books = page.frame_locator("#frame-books")
    books.get_by_label("Email address").fill("reader@example.com")
    books.get_by_role("button", name="Subscribe").click()
    expect(books.get_by_role("status")).to_contain_text("Successfully subscribed")
    assert page.url == site.publisher
    assert [m.recipient for m in outbox_rows(site.app)] == ["reader@example.com"]


def test_iframe_errors_stay_in_their_frame(site: Site, page_without_js: Page) -> None:
    page = page_without_js
    page.goto(site.publisher)
    travel, books = page.frame_locator("#frame-travel"), page.frame_locator("#frame-books")
    travel.get_by_label("Email address").fill("wanderer@example.com")
    travel.get_by_role("button", name="Subscribe").click()
    consent = travel.get_by_label("I agree to receive Travel Notes.")
    expect(consent).to_have_attribute("aria-invalid", "true")
    expect(travel.get_by_text("Tick the box to give your consent.")).to_be_visible()
    expect(travel.get_by_label("Email address")).to_have_value("wanderer@example.com")
    expect(books.get_by_role("button", name="Subscribe")).to_be_visible()
    expect(books.locator(".field-error")).to_have_count(0)
    consent.check()
    travel.get_by_role("button", name="Subscribe").click()  # the page of errors is framable too
    expect(travel.get_by_role("status")).to_contain_text("Successfully subscribed")
    assert len(outbox_rows(site.app)) == 1
