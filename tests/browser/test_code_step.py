"""The 6-digit code typed where the reader signed up: embed.js, the hosted page, the iframe.

Mail goes through a real SMTP server; the code is read from the message that arrived.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, expect

from newsletter_service.mailers import SMTPMailer
from newsletter_service.models import NotMeBlock, Subscription, SubscriptionStatus
from newsletter_service.worker import deliver_once

from ..factories import all_rows, text_body
from ..smtp_sink import SMTPSink
from .axe import blocking_violations
from .conftest import Site

CODE_LINE = re.compile(r"^.*\bcode\b.*?\b(\d{6})\b", re.MULTILINE | re.IGNORECASE)
LINKS = re.compile(r"https?://\S+")


@pytest.fixture
def mail_site(site: Site, smtp_sink: SMTPSink) -> Iterator[Site]:
    """The live site with its mail going to a real SMTP server."""
    site.app.extensions["mailer"] = SMTPMailer(smtp_sink.host, smtp_sink.port, timeout=2)
    yield site


def received_code(site: Site, sink: SMTPSink, to: str) -> str:
    """Run the worker, then return the code of the latest email that reached ``to``."""
    deliver_once(site.app)
    mails = [m for m in sink.received if to in m.rcpt_tos]
    assert mails, f"no mail reached {to}"
    found = CODE_LINE.search(text_body(mails[-1].message))
    assert found, text_body(mails[-1].message)
    return found.group(1)


def statuses(site: Site) -> list[SubscriptionStatus]:
    return [s.status for s in all_rows(site.app, Subscription)]


def test_embed_js_confirms_with_the_code_in_the_same_box(mail_site: Site, smtp_sink: SMTPSink,
                                                          page: Page, axe_source: str) -> None:
    page.goto(mail_site.publisher)
    tech = page.locator("#script-tech")
    tech.get_by_label("Email address").fill("reader@example.com")
    tech.get_by_role("button", name="Subscribe").click()
    code_field = tech.get_by_label("Confirmation code")
    expect(code_field).to_be_visible()
    expect(code_field).to_have_attribute("autocomplete", "one-time-code")
    expect(code_field).to_have_attribute("inputmode", "numeric")
    assert blocking_violations(page, axe_source) == []
    code_field.fill(received_code(mail_site, smtp_sink, "reader@example.com"))
    tech.get_by_role("button", name="Confirm").click()
    expect(tech.get_by_role("status")).to_contain_text("You're subscribed to Tech Weekly.")
    expect(code_field).to_have_count(0)
    assert page.url == mail_site.publisher  # never left the article
    assert statuses(mail_site) == [SubscriptionStatus.confirmed]


def test_embed_js_enhanced_plain_form_offers_the_code_too(mail_site: Site, smtp_sink: SMTPSink,
                                                          page: Page) -> None:
    page.goto(mail_site.publisher)
    form = page.locator("#plain-evening")
    form.get_by_label("Email address").fill("night@example.com")
    form.get_by_label("Name").fill("Owl")
    form.get_by_role("button", name="Subscribe").click()
    code_field = page.get_by_label("Confirmation code")
    expect(code_field).to_be_visible()
    code_field.fill(received_code(mail_site, smtp_sink, "night@example.com"))
    code_field.press("Enter")
    expect(page.get_by_text("You're subscribed to The Evening Edition.")).to_be_visible()
    assert statuses(mail_site) == [SubscriptionStatus.confirmed]


def test_keyboard_only_and_five_wrong_codes_announced(mail_site: Site, smtp_sink: SMTPSink,
                                                      page: Page) -> None:
    page.goto(mail_site.publisher)
    tech = page.locator("#script-tech")
    tech.get_by_label("Email address").focus()
    page.keyboard.type("keys@example.com")
    page.keyboard.press("Enter")
    status = tech.get_by_role("status")
    expect(status).to_be_focused()  # the message is where the reader is
    expect(tech.get_by_label("Confirmation code")).to_be_visible()
    code = received_code(mail_site, smtp_sink, "keys@example.com")
    wrong = f"{(int(code) + 1) % 1_000_000:06d}"
    page.keyboard.press("Tab")
    code_field = tech.get_by_label("Confirmation code")
    expect(code_field).to_be_focused()
    message = tech.locator(f"#{code_field.get_attribute('aria-describedby')}")
    expect(message).to_have_attribute("aria-live", "assertive")
    for _ in range(5):
        code_field.fill("")
        page.keyboard.type(wrong)
        page.keyboard.press("Enter")
        expect(message).to_contain_text("This code is not valid")
        expect(code_field).to_have_attribute("aria-invalid", "true")
        expect(code_field).to_be_focused()
        page.evaluate("el => el.textContent = ''", message.element_handle())
    code_field.fill("")
    page.keyboard.type(code)
    page.keyboard.press("Enter")
    expect(message).to_contain_text("This code is not valid")  # dead after five wrong tries
    assert statuses(mail_site) == [SubscriptionStatus.pending]


def test_hosted_page_confirms_with_the_code(mail_site: Site, smtp_sink: SMTPSink,
                                            page: Page, axe_source: str) -> None:
    page.goto(f"{mail_site.base}/newsletters/evening")
    page.get_by_label("Email address").fill("host@example.com")
    page.get_by_label("Name").fill("Host")
    page.get_by_role("button", name="Subscribe").click()
    code_field = page.get_by_label("Confirmation code")
    expect(code_field).to_have_attribute("autocomplete", "one-time-code")
    code = received_code(mail_site, smtp_sink, "host@example.com")
    code_field.fill(f"{(int(code) + 1) % 1_000_000:06d}")
    page.get_by_role("button", name="Confirm").click()
    expect(page.get_by_role("alert")).to_contain_text("This code is not valid")
    expect(page.get_by_label("Confirmation code")).to_have_attribute("aria-invalid", "true")
    assert blocking_violations(page, axe_source) == []
    page.get_by_label("Confirmation code").fill(code)
    page.get_by_role("button", name="Confirm").click()
    expect(page.get_by_role("heading", name="Subscription confirmed")).to_be_visible()
    assert statuses(mail_site) == [SubscriptionStatus.confirmed]


def test_iframe_confirms_with_the_code_inside_its_frame(mail_site: Site, smtp_sink: SMTPSink,
                                                        page_without_js: Page) -> None:
    page = page_without_js
    page.goto(mail_site.publisher)
    books = page.frame_locator("#frame-books")
    books.get_by_label("Email address").fill("framed@example.com")
    books.get_by_role("button", name="Subscribe").click()
    expect(books.get_by_label("Confirmation code")).to_be_visible()
    books.get_by_label("Confirmation code").fill(
        received_code(mail_site, smtp_sink, "framed@example.com"))
    books.get_by_role("button", name="Confirm").click()
    expect(books.get_by_role("heading", name="Subscription confirmed")).to_be_visible()
    assert page.url == mail_site.publisher
    assert statuses(mail_site) == [SubscriptionStatus.confirmed]


def test_a_link_scanner_confirms_nobody_and_blocks_nothing(mail_site: Site, smtp_sink: SMTPSink,
                                                           page: Page, browser: Browser) -> None:
    page.goto(mail_site.publisher)
    sport = page.locator("#script-sport")
    sport.get_by_label("Email address").fill("scanned@example.com")
    sport.get_by_label("I agree to receive Sport Daily.").check()
    sport.get_by_role("button", name="Subscribe").click()
    expect(sport.get_by_label("Confirmation code")).to_be_visible()
    deliver_once(mail_site.app)
    [mail] = smtp_sink.received
    links = LINKS.findall(text_body(mail.message))
    assert any("/confirm/" in u for u in links) and any("/not-me/" in u for u in links)
    # The scanner: a fresh headless browser opens every link within seconds, runs the
    # page's scripts and presses its first button.
    scanner = browser.new_context()
    try:
        tab = scanner.new_page()
        for url in links:
            tab.goto(url)
            buttons = tab.locator("button")
            if buttons.count():
                buttons.first.click()
                tab.wait_for_load_state()
    finally:
        scanner.close()
    assert statuses(mail_site) == [SubscriptionStatus.pending]
    assert all_rows(mail_site.app, NotMeBlock) == []
