"""embed.js on a publisher's page: forms drawn in place, errors and success without reload."""

from __future__ import annotations

from playwright.sync_api import Page, expect

from newsletter_service.models import ConsentEvent, Subscription

from ..factories import all_rows, outbox_rows
from .conftest import Site


def open_article(page: Page, site: Site) -> None:
    page.goto(site.publisher)
    expect(page.locator("#script-tech form")).to_be_visible()
    expect(page.locator("#script-sport form")).to_be_visible()


def test_script_draws_each_form_with_unique_ids_and_tied_labels(site: Site, page: Page) -> None:
    open_article(page, site)
    ids = page.eval_on_selector_all("[id]", "nodes => nodes.map(n => n.id)")
    assert len(ids) == len(set(ids))
    sport = page.locator("#script-sport")
    expect(sport.get_by_label("Email address")).to_have_attribute("aria-required", "true")
    expect(sport.get_by_label("Name")).not_to_have_attribute("required", "")
    expect(sport.get_by_label("I agree to receive Sport Daily.")).to_have_attribute("type",
                                                                                 "checkbox")
    expect(sport.get_by_role("heading", name="Sport Daily")).to_be_visible()


def test_errors_show_next_to_their_field_and_only_in_their_form(site: Site, page: Page) -> None:
    open_article(page, site)
    tech, sport = page.locator("#script-tech"), page.locator("#script-sport")
    tech.get_by_label("Email address").fill("reader@localhost")
    tech.get_by_role("button", name="Subscribe").click()
    email = tech.get_by_label("Email address")
    expect(email).to_have_attribute("aria-invalid", "true")
    error_id = email.get_attribute("aria-describedby")
    expect(page.locator(f"#{error_id}")).to_contain_text("It should have a period.")
    expect(email).to_be_focused()
    expect(sport.locator(".nls-error")).to_have_count(0)
    sport.get_by_label("Email address").fill("fan@example.com")
    sport.get_by_role("button", name="Subscribe").click()
    expect(sport.locator(".nls-error")).to_have_text(["Tick the box to give your consent."])
    expect(tech.locator(".nls-error")).to_have_count(1)  # the other form kept its own
    assert outbox_rows(site.app) == []


def test_script_form_signs_up_in_place(site: Site, page: Page) -> None:
    open_article(page, site)
    sport = page.locator("#script-sport")
    sport.get_by_label("Email address").fill("fan@example.com")
    sport.get_by_label("Name").fill("Ada")
    sport.get_by_label("I agree to receive Sport Daily.").check()
    sport.get_by_role("button", name="Subscribe").click()
    status = sport.get_by_role("status")
    expect(status).to_contain_text("You're in")
    expect(status).to_contain_text("Check your inbox to confirm.")
    expect(status).to_have_attribute("aria-live", "polite")
    expect(sport.locator("form.nls-form")).to_be_hidden()  # the code step's form shows
    expect(page.locator("#script-tech form")).to_be_visible()
    assert page.url == site.publisher
    [message] = outbox_rows(site.app)
    assert message.recipient == "fan@example.com"
    [subscription] = all_rows(site.app, Subscription)
    assert subscription.source == site.publisher and subscription.name == "Ada"


def test_script_enhances_plain_forms_on_the_page(site: Site, page: Page) -> None:
    open_article(page, site)
    form = page.locator("#plain-morning")
    form.get_by_label("Email address").fill("early@example.com")
    form.get_by_role("button", name="Subscribe").click()
    expect(page.get_by_role("status").filter(has_text="Successfully subscribed")).to_be_visible()
    assert page.url == site.publisher  # no trip to our site
    assert [m.recipient for m in outbox_rows(site.app)] == ["early@example.com"]


def test_combined_form_needs_a_choice_then_sends_one_email(site: Site, page: Page) -> None:
    open_article(page, site)
    form = page.locator("#combined")
    form.get_by_label("Email address").fill("both@example.com")
    form.get_by_role("button", name="Subscribe").click()
    expect(form.locator("fieldset .nls-error")).to_have_text("Choose at least one newsletter.")
    expect(form.get_by_label("Tech Weekly")).to_have_attribute("aria-invalid", "true")
    form.get_by_label("The Morning Briefing").check()
    form.get_by_label("Tech Weekly").check()
    form.get_by_role("button", name="Subscribe").click()
    expect(page.get_by_role("status").filter(has_text="Successfully subscribed")).to_be_visible()
    assert len(outbox_rows(site.app)) == 1
    assert len(all_rows(site.app, Subscription)) == 2


def test_a_newsletter_that_does_not_allow_the_page_does_not_load(site: Site, page: Page) -> None:
    console: list[str] = []
    page.on("console", lambda message: console.append(message.text))
    page.goto(site.publisher.replace("/article", "/elsewhere"), wait_until="load")
    expect(page.locator("#script-elsewhere")).to_have_text(
        "The newsletter form could not be loaded.")
    assert any("frame-ancestors" in line for line in console), console  # the iframe refused
    frame = page.frame_locator("#frame-elsewhere")
    expect(frame.get_by_role("button", name="Subscribe")).to_have_count(0)


def test_script_form_sends_the_page_without_its_query_or_fragment(site: Site, page: Page) -> None:
    # A page's query string and fragment can hold a reader's tokens from the publisher's site.
    posted: list[str] = []
    page.on("request", lambda request: posted.append(request.post_data or ""))
    page.goto(site.publisher + "?reset_token=secret#access_token=secret")
    tech = page.locator("#script-tech")
    tech.get_by_label("Email address").fill("reader@example.com")
    tech.get_by_role("button", name="Subscribe").click()
    expect(tech.get_by_role("status")).to_contain_text("Successfully subscribed")
    [subscription] = all_rows(site.app, Subscription)
    [event] = all_rows(site.app, ConsentEvent)
    assert subscription.source == event.source == site.publisher
    assert any("reader@example.com" in body for body in posted)
    assert not any("secret" in body for body in posted)  # not even sent
