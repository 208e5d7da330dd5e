"""The bot traps in a real browser: a person who takes a moment is subscribed, a fast bot is not."""

from __future__ import annotations

import time

import pytest
from playwright.sync_api import Page, expect

from newsletter_service.models import Subscriber

from ..factories import all_rows
from .conftest import Site


@pytest.mark.parametrize("where", ["hosted", "script"])
def test_fill_time_trap_tells_people_from_bots(site: Site, page: Page, where: str) -> None:
    site.app.config["MIN_FILL_SECONDS"] = 1.5
    if where == "hosted":
        page.goto(f"{site.base}/newsletters/tech")
        form = page.locator("form.signup-form")
        success = page.get_by_role("status")
    else:
        page.goto(site.publisher)
        form = page.locator("#script-tech")
        success = form.get_by_role("status")
    form.get_by_label("Email address").fill("bot@example.com")
    form.get_by_role("button", name="Subscribe").click()  # at machine speed
    expect(success).to_contain_text("Thank you for signing up")  # a bot sees success ...
    assert all_rows(site.app, Subscriber) == []  # ... and nothing was stored

    page.goto(f"{site.base}/newsletters/tech" if where == "hosted" else site.publisher)
    time.sleep(1.6)  # a person reads the form before pressing the button
    form.get_by_label("Email address").fill("person@example.com")
    form.get_by_role("button", name="Subscribe").click()
    expect(success).to_contain_text("Thank you for signing up")
    assert [s.email for s in all_rows(site.app, Subscriber)] == ["person@example.com"]


def test_honeypot_is_out_of_reach_of_keyboard_and_screen_readers(site: Site, page: Page) -> None:
    page.goto(site.publisher)
    expect(page.locator("#script-tech form")).to_be_visible()
    for honeypot in page.locator('input[name="website"]').all():
        expect(honeypot).to_have_attribute("tabindex", "-1")
        assert honeypot.bounding_box() is None or honeypot.bounding_box()["x"] < -1000  # type: ignore[index]
