"""A newsletter's language: set by the CLI, the console and seen by the API; spoken by its
form, its answers (HTML and JSON), its pages and its emails."""

from __future__ import annotations

import re
from email import policy
from email.message import EmailMessage
from email.parser import BytesParser
from typing import cast

import pytest
from flask import Flask
from flask.testing import FlaskClient, FlaskCliRunner

from newsletter_service import newsletters
from newsletter_service.models import Newsletter

from .admin_support import bearer, form_post, log_in, make_admin, make_token
from .factories import all_rows, link_in, make_newsletter, outbox_rows, text_body

UK_SUCCESS = "Дякуємо! Ми надіслали вам листа — підтвердьте в ньому підписку."


@pytest.fixture
def uk(app: Flask) -> Newsletter:
    """A Ukrainian newsletter that asks for a name and consent."""
    return make_newsletter(app, "tyzhden", "Тиждень", language="uk",
                           consent_text="Погоджуюся отримувати «Тиждень».", name_field="required")


def html_lang(page: str) -> str:
    found = re.search(r'<html lang="([a-z]+)"', page)
    assert found, page[:200]
    return found.group(1)


def test_the_cli_adds_a_newsletter_in_a_language(app: Flask, runner: FlaskCliRunner) -> None:
    result = runner.invoke(args=["newsletters", "add", "tyzhden", "--name", "Тиждень",
                                 "--language", "uk"])
    assert result.exit_code == 0, result.output
    runner.invoke(args=["newsletters", "add", "daily", "--name", "The Daily"])
    assert [n.language for n in all_rows(app, Newsletter)] == ["uk", "en"]
    assert "tyzhden\tТиждень\tactive\tuk" in runner.invoke(args=["newsletters", "list"]).output
    refused = runner.invoke(args=["newsletters", "add", "x", "--name", "X", "--language", "fr"])
    assert refused.exit_code == 2 and "'fr' is not one of 'en', 'uk'" in refused.output


@pytest.mark.parametrize("language", ["fr", "", "UK", "uk-UA"])
def test_only_a_shipped_language_is_accepted(app: Flask, language: str) -> None:
    with pytest.raises(newsletters.InvalidNewsletter) as refused:
        make_newsletter(app, language=language)
    assert refused.value.field == "language"
    assert all_rows(app, Newsletter) == []


def test_the_console_sets_the_language(app: Flask, client: FlaskClient) -> None:
    make_admin(app)
    log_in(client)
    assert 'name="language"' in client.get("/admin/newsletters/new").get_data(as_text=True)
    data = {"slug": "tyzhden", "name": "Тиждень", "name_field": "hidden", "language": "uk",
            "success_title": "Готово", "success_message": "Дякуємо"}
    assert form_post(client, "/admin/newsletters/new", data).status_code == 302
    data["language"] = "fr"
    refused = form_post(client, "/admin/newsletters/tyzhden", data).get_data(as_text=True)
    assert "Not a valid choice" in refused  # the console speaks English to every browser
    assert [n.language for n in all_rows(app, Newsletter)] == ["uk"]


def test_the_api_lists_each_newsletters_language(app: Flask, client: FlaskClient,
                                                 uk: Newsletter) -> None:
    make_newsletter(app)
    listed = client.get("/api/v1/newsletters", headers=bearer(make_token(app))).get_json()
    assert {n["slug"]: n["language"] for n in listed} == {"tyzhden": "uk", "daily": "en"}


def test_the_hosted_page_and_iframe_speak_the_newsletters_language(
        client: FlaskClient, uk: Newsletter) -> None:
    for url in ("/newsletters/tyzhden", "/embed/tyzhden"):
        page = client.get(url, headers={"Accept-Language": "en"}).get_data(as_text=True)
        assert html_lang(page) == "uk"
        assert "Електронна пошта" in page and "Ім’я" in page and "Підписатися" in page
        assert "Email address" not in page and ">Subscribe<" not in page


def test_an_english_newsletter_stays_english_for_a_ukrainian_browser(
        app: Flask, client: FlaskClient) -> None:
    make_newsletter(app)
    page = client.get("/newsletters/daily", headers={"Accept-Language": "uk"})
    assert html_lang(page.get_data(as_text=True)) == "en"
    assert "Email address" in page.get_data(as_text=True)


@pytest.mark.parametrize("body, field, message", [
    ({"email": "", "name": "Оля", "consent": True}, "email",
     "Введіть адресу електронної пошти."),
    ({"email": "not-an-address", "name": "Оля", "consent": True}, "email",
     "В адресі електронної пошти має бути знак @."),
    ({"email": "olia@localhost", "name": "Оля", "consent": True}, "email",
     "Частина адреси після знака @ неправильна: у ній має бути крапка."),
    ({"email": "a" * 250 + "@example.com", "name": "Оля", "consent": True}, "email",
     "Адреса електронної пошти може мати щонайбільше 254 символи."),
    ({"email": "olia@example.com", "name": "", "consent": True}, "name",
     "Введіть своє ім’я."),
    ({"email": "olia@example.com", "name": "Оля", "consent": False}, "consent",
     "Позначте поле, щоб надати згоду."),
])
def test_field_errors_are_in_the_newsletters_language(client: FlaskClient, uk: Newsletter,
                                                      body: dict[str, object], field: str,
                                                      message: str) -> None:
    response = client.post("/newsletters/tyzhden/subscribe", json=body)
    assert response.status_code == 422
    assert message in response.get_json()["errors"][field]


def test_the_html_answers_are_in_the_newsletters_language(client: FlaskClient,
                                                          uk: Newsletter) -> None:
    bad = client.post("/newsletters/tyzhden/subscribe", data={"email": "x", "name": "Оля"})
    page = bad.get_data(as_text=True)
    assert bad.status_code == 422 and html_lang(page) == "uk"
    assert "В адресі електронної пошти має бути знак @." in page
    assert "Позначте поле, щоб надати згоду." in page
    good = client.post("/newsletters/tyzhden/subscribe",
                       data={"email": "olia@example.com", "name": "Оля", "consent": "y"})
    assert good.status_code == 200 and UK_SUCCESS in good.get_data(as_text=True)


def test_the_json_success_and_form_description_are_translated(client: FlaskClient,
                                                              uk: Newsletter) -> None:
    answer = client.post("/newsletters/tyzhden/subscribe",
                         json={"email": "olia@example.com", "name": "Оля", "consent": True})
    assert answer.get_json()["message"] == f"Ви підписалися. {UK_SUCCESS}"
    form = client.get("/embed/tyzhden/form.json").get_json()
    assert form["language"] == "uk"
    assert form["submit_label"] == "Підписатися"
    assert form["required_note"] == "— обов’язкове поле"
    assert [f["label"] for f in form["fields"]] == ["Електронна пошта", "Ім’я",
                                                    "Погоджуюся отримувати «Тиждень»."]
    assert form["success"] == {"title": "Ви підписалися", "message": UK_SUCCESS}


def test_a_publishers_own_success_text_is_shown_as_written(app: Flask,
                                                           client: FlaskClient) -> None:
    make_newsletter(app, "tyzhden", "Тиждень", language="uk", success_title="Є!",
                    success_message="Чекайте на листа.")
    form = client.get("/embed/tyzhden/form.json").get_json()
    assert form["success"] == {"title": "Є!", "message": "Чекайте на листа."}


def test_the_emails_links_and_pages_speak_the_newsletters_language(
        app: Flask, client: FlaskClient, uk: Newsletter) -> None:
    client.post("/newsletters/tyzhden/subscribe",
                data={"email": "olia@example.com", "name": "Оля", "consent": "y"},
                headers={"Accept-Language": "en"})
    [queued] = outbox_rows(app)
    mail = cast(EmailMessage, BytesParser(policy=policy.default).parsebytes(queued.message))
    assert mail["Subject"] == "Підтвердьте підписку на Тиждень"
    confirm = link_in(mail)
    assert "Підтвердьте, будь ласка" in text_body(mail)
    page = client.get(confirm, headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert html_lang(page) == "uk" and "Підтвердьте підписку" in page
    confirmed = client.post(confirm).get_data(as_text=True)
    assert html_lang(confirmed) == "uk" and "Підписку підтверджено" in confirmed


def test_the_index_draws_each_form_in_its_own_language(app: Flask, client: FlaskClient,
                                                       uk: Newsletter) -> None:
    make_newsletter(app)
    page = client.get("/", headers={"Accept-Language": "en"}).get_data(as_text=True)
    assert re.search(r'lang="uk"[^>]*>.*?Електронна пошта.*?Підписатися', page, re.DOTALL)
    assert re.search(r'lang="en"[^>]*>.*?Email address.*?Subscribe', page, re.DOTALL)


def test_an_unknown_newsletter_answers_in_the_browsers_language(client: FlaskClient) -> None:
    answer = client.post("/newsletters/nope/subscribe", json={"email": "a@example.com"},
                         headers={"Accept-Language": "uk-UA,uk;q=0.9,en;q=0.5"})
    assert answer.status_code == 404
    assert answer.get_json()["error"] == "За цією адресою розсилки немає."
