"""The proof-of-work challenge solved by a real browser, on our page and through embed.js."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from newsletter_service.models import Subscriber

from ..factories import all_rows, make_newsletter
from .conftest import Site


def guard(site: Site) -> None:
    site.app.config["CHALLENGE_POW_MAX_NUMBER"] = 3000
    make_newsletter(site.app, "guarded", "Guarded Letter", challenge="pow")


def test_hosted_form_solves_the_challenge_and_signs_up(site: Site, page: Page) -> None:
    guard(site)
    page.goto(f"{site.base}/newsletters/guarded")
    page.get_by_label("Email address").fill("solver@example.com")
    page.get_by_role("button", name="Subscribe").click()
    expect(page.get_by_role("status")).to_contain_text("Thank you for signing up")
    assert [s.email for s in all_rows(site.app, Subscriber)] == ["solver@example.com"]


def test_script_form_solves_the_challenge_and_signs_up(site: Site, page: Page) -> None:
    guard(site)
    page.goto(site.publisher)
    page.evaluate("""() => {
        const host = document.createElement("div");
        host.id = "script-guarded";
        host.setAttribute("data-newsletter", "guarded");
        document.querySelector("main, body").appendChild(host);
        const script = document.createElement("script");
        script.src = document.querySelector('script[src$="/embed.js"]').src + "?again";
        document.body.appendChild(script);
    }""")
    form = page.locator("#script-guarded")
    form.get_by_label("Email address").fill("reader@example.com")
    form.get_by_role("button", name="Subscribe").click()
    expect(form.get_by_role("status")).to_contain_text("Thank you for signing up")
    assert [s.email for s in all_rows(site.app, Subscriber)] == ["reader@example.com"]


def test_without_the_solver_the_form_says_what_is_missing(site: Site,
                                                          page_without_js: Page) -> None:
    guard(site)
    page_without_js.goto(f"{site.base}/newsletters/guarded")
    page_without_js.get_by_label("Email address").fill("nojs@example.com")
    page_without_js.get_by_role("button", name="Subscribe").click()
    expect(page_without_js.get_by_role("alert").last).to_contain_text("not a robot")
    assert all_rows(site.app, Subscriber) == []
