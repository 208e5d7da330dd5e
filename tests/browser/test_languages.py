"""A Ukrainian newsletter on a publisher's page: form, errors, success and email in Ukrainian.

The publisher's page is on another origin; mail goes through a real SMTP server and is read
as it arrived there.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from typing import Any, cast

import pytest
from flask import Flask
from playwright.sync_api import Page, expect

from newsletter_service.mailers import SMTPMailer
from newsletter_service.worker import deliver_once

from ..factories import make_newsletter, text_body
from ..smtp_sink import SMTPSink
from .conftest import Site, done_before_answering, serve

PAGE = """<!doctype html>
<html lang="uk">
<head><meta charset="utf-8"><title>Київський вісник</title>
<style>body { font-family: Georgia, serif; max-width: 40rem; margin: 1rem auto; }
iframe { display: block; width: 100%; border: 0; }</style>
<script src="{base}/embed.js" async></script></head>
<body><main><h1>Тихий тиждень у місті</h1>
<div id="script-tyzhden" data-newsletter="tyzhden"></div>
<iframe id="frame-tyzhden" src="{base}/embed/tyzhden" title="Підписка" height="320"></iframe>
<div id="script-morning" data-newsletter="morning"></div>
</main></body></html>
"""


def ukrainian_page(base: str) -> Callable[..., Iterable[bytes]]:
    """Return a WSGI app serving a Ukrainian publisher's page at any path."""

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        body = PAGE.replace("{base}", base).encode()
        start_response("200 OK", [("Content-Type", "text/html; charset=utf-8"),
                                  ("Content-Length", str(len(body)))])
        return [body]

    return app


@pytest.fixture
def uk_site(app: Flask, smtp_sink: SMTPSink) -> Iterator[Site]:
    """The app served live, a Ukrainian and an English newsletter, a page embedding both."""
    app.extensions["mailer"] = SMTPMailer(smtp_sink.host, smtp_sink.port, timeout=2)
    with serve(done_before_answering(app)) as base, \
            serve(ukrainian_page(base)) as publisher_root:
        app.config["BASE_URL"] = base
        app.config["MIN_FILL_SECONDS"] = 0  # Playwright types faster than any person
        make_newsletter(app, "tyzhden", "Тиждень", language="uk",
                        allowed_origins=publisher_root, description="Головне за тиждень.")
        make_newsletter(app, "morning", "The Morning Briefing", allowed_origins=publisher_root)
        yield Site(app=app, base=base, publisher=f"{publisher_root}/stattia")


def test_the_script_form_speaks_its_newsletters_language(uk_site: Site, page: Page,
                                                         smtp_sink: SMTPSink) -> None:
    page.goto(uk_site.publisher)
    form = page.locator("#script-tyzhden")
    expect(form).to_have_attribute("lang", "uk")
    expect(form.locator(".nls-note")).to_have_text("* — обов’язкове поле")
    form.get_by_label("Електронна пошта").fill("reader@localhost")
    form.get_by_role("button", name="Підписатися").click()
    expect(form.locator(".nls-error")).to_have_text(
        ["Частина адреси після знака @ неправильна: у ній має бути крапка."])
    form.get_by_label("Електронна пошта").fill("reader@example.com")
    form.get_by_role("button", name="Підписатися").click()
    status = form.get_by_role("status")
    expect(status).to_contain_text("Ви підписалися")
    expect(status).to_contain_text("Ми надіслали вам листа")
    # A wrong code is answered in the box's language as well, not the browser's (English).
    assert page.evaluate("navigator.language").startswith("en")
    form.get_by_label("Код підтвердження").fill("000000")
    form.get_by_role("button", name="Підтвердити").click()
    expect(form.locator(".nls-code .nls-error")).to_have_text(
        "Цей код недійсний. Перевірте останній лист від нас або підпишіться знову, щоб "
        "отримати новий код.")
    # The English newsletter on the same Ukrainian page stays English.
    expect(page.locator("#script-morning")).to_have_attribute("lang", "en")
    expect(page.locator("#script-morning").get_by_role("button")).to_have_text("Subscribe")
    assert deliver_once(uk_site.app).sent == 1
    # As a mail client reads it: the bytes that arrived (an ASCII address: RFC 2047 headers,
    # an 8bit UTF-8 body), not parse_received's text, which garbles 8bit bodies.
    [received] = smtp_sink.received
    mail = cast(EmailMessage, BytesParser(policy=policy.default).parsebytes(received.raw))
    assert mail["Subject"] == "Підтвердьте підписку на Тиждень"
    body = text_body(mail)
    assert "Підтвердьте, будь ласка, що хочете отримувати Тиждень." in body
    assert "Please" not in body and "ignore this email" not in body


def test_the_iframe_form_speaks_its_newsletters_language(uk_site: Site, page: Page) -> None:
    page.goto(uk_site.publisher)
    frame = page.frame_locator("#frame-tyzhden")
    expect(frame.locator("html")).to_have_attribute("lang", "uk")
    frame.get_by_label("Електронна пошта").fill("not-an-address")
    frame.get_by_role("button", name="Підписатися").click()
    expect(frame.get_by_text("В адресі електронної пошти має бути знак @.")).to_be_visible()
    frame.get_by_label("Електронна пошта").fill("reader@example.com")
    frame.get_by_role("button", name="Підписатися").click()
    expect(frame.get_by_role("heading", name="Ви підписалися")).to_be_visible()
