"""Our strict Content-Security-Policy breaks nothing of ours in a real browser."""

from __future__ import annotations

import pytest
from playwright.sync_api import ConsoleMessage, Page, expect

from .conftest import Site


def csp_violations(page: Page) -> list[str]:
    messages: list[str] = []

    def keep(message: ConsoleMessage) -> None:
        if "Content Security Policy" in message.text or "Content-Security-Policy" in message.text:
            messages.append(message.text)

    page.on("console", keep)
    return messages


@pytest.mark.parametrize("path", ["/", "/newsletters/sport", "/embed/tech",
                                  "/newsletters/tech/embed-code", "/confirm/not-a-token"])
def test_our_pages_load_without_csp_violations(site: Site, page: Page, path: str) -> None:
    violations = csp_violations(page)
    page.goto(f"{site.base}{path}")
    page.wait_for_load_state("networkidle")
    expect(page.locator("main, body").first).to_be_visible()
    assert page.evaluate("getComputedStyle(document.body).margin") == "0px"  # style.css applied
    assert violations == []


def test_iframes_on_the_publisher_page_load_under_frame_ancestors(site: Site, page: Page) -> None:
    violations = csp_violations(page)
    page.goto(site.publisher)
    frame = page.frame_locator("#frame-books")
    expect(frame.get_by_role("button", name="Subscribe")).to_be_visible()
    assert [v for v in violations if "frame-ancestors" in v] == []
