"""The reader's journey and the publisher's export, as a new user meets them (issue 10).

Sign up from a publisher's page (a plain form, or JSON from another origin), get the email,
confirm with the link alone, get the welcome, leave in one click; the publisher exports by
the API and by the CLI and gets the same bytes every time. With ASCII and internationalized
addresses, on SQLite and PostgreSQL, through gunicorn, the worker and a real SMTP server.
"""

from __future__ import annotations

import csv
import io
import re
import time
import uuid
from pathlib import Path

import pytest

from .conftest import Deployment, link_in

PUBLISHER = "https://publisher.example"
ADDRESSES = [
    pytest.param("reader@example.com", id="ascii"),
    pytest.param("jos\u00e9@example.com", id="accented"),
    pytest.param("\u30c4-reader@example.com", id="katakana"),
]
EXPORT_COLUMNS = ["email", "name", "newsletter", "status", "created_at", "confirmed_at",
                  "unsubscribed_at", "source", "unsubscribe_url"]


def unsubscribe_target(list_unsubscribe: str) -> str:
    """Return the https/http URL of a List-Unsubscribe header (it may also name a mailto:)."""
    found = re.search(r"<(https?://[^>]+)>", list_unsubscribe)
    assert found, f"no web URL in List-Unsubscribe: {list_unsubscribe}"
    return found.group(1)


def first_difference(one: bytes, other: bytes) -> str:
    """Return the first line that differs between two exports, side by side."""
    for line, (left, right) in enumerate(zip(one.splitlines(), other.splitlines(), strict=False)):
        if left != right:
            return f"line {line + 1}: {left.decode()!r} != {right.decode()!r}"
    return f"{len(one.splitlines())} lines != {len(other.splitlines())} lines"


@pytest.mark.parametrize("address", ADDRESSES)
def test_a_reader_signs_up_by_form_confirms_by_the_link_alone_and_leaves_in_one_click(
        service: Deployment, address: str) -> None:
    # 1. A plain HTML form on the publisher's page posts to us.
    answer = service.request("POST", "/newsletters/daily/subscribe", form={"email": address},
                             headers={"Origin": PUBLISHER})
    assert answer.status == 200, service.explain("form signup", answer)
    assert "Successfully subscribed" in answer.text

    # 2. The confirmation email arrives; its text part carries the link.
    confirmation = service.wait_for_mail(address, "Confirm your subscription to The Daily")
    confirm_url = link_in(confirmation, service.url, "/confirm/")

    # 3. A bare POST confirms: no Cookie header, no CSRF token (a mail client's web view,
    #    or the page opened in one browser and posted from another): the token is the credential.
    answer = service.request("POST", confirm_url)
    assert answer.status == 200, service.explain("confirm by a bare POST", answer)
    assert "Subscription confirmed" in answer.text
    assert answer.cookies == [], "confirming set a cookie"

    # 4. Opening the link shows the page, and sets no cookie either.
    page = service.request("GET", confirm_url)
    assert page.status == 200, service.explain("confirm page", page)
    assert page.cookies == [], "the confirm page set a cookie"

    # 5. Confirming again is harmless.
    again = service.request("POST", confirm_url)
    assert again.status == 200, service.explain("confirm again", again)
    assert "Subscription confirmed" in again.text

    # 6. The welcome email offers RFC 8058 one-click unsubscribe.
    welcome = service.wait_for_mail(address, "Welcome to The Daily")
    assert welcome["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    assert welcome["List-Unsubscribe"], "the welcome has no List-Unsubscribe"
    unsubscribe_url = unsubscribe_target(welcome["List-Unsubscribe"])
    assert unsubscribe_url.startswith(f"{service.url}/unsubscribe/")

    # 7. The mailbox provider posts the one-click unsubscribe, without any cookie; twice is fine.
    for attempt in ("one-click unsubscribe", "one-click unsubscribe again"):
        answer = service.request("POST", unsubscribe_url,
                                 form={"List-Unsubscribe": "One-Click"})
        assert answer.status == 200, service.explain(attempt, answer)
        assert answer.cookies == [], f"{attempt} set a cookie"


@pytest.mark.parametrize("address", ADDRESSES)
def test_a_signup_by_json_from_another_origin_is_allowed_by_cors_and_sends_the_email(
        service: Deployment, address: str) -> None:
    # A browser asks first (JSON is not a "simple" request), then posts.
    preflight = service.request("OPTIONS", "/newsletters/weekly/subscribe", headers={
        "Origin": PUBLISHER, "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "content-type"})
    assert preflight.status in (200, 204), service.explain("preflight", preflight)
    assert preflight.headers["Access-Control-Allow-Origin"] in (PUBLISHER, "*")
    assert "POST" in (preflight.headers["Access-Control-Allow-Methods"] or "")

    answer = service.request("POST", "/newsletters/weekly/subscribe", json_body={"email": address},
                             headers={"Origin": PUBLISHER, "Accept": "application/json"})
    assert answer.status == 200, service.explain("JSON signup", answer)
    assert answer.json()["ok"] is True and answer.json()["status"] == "pending"
    assert answer.headers["Access-Control-Allow-Origin"] in (PUBLISHER, "*")
    assert answer.headers["Access-Control-Allow-Credentials"] != "true"

    confirmation = service.wait_for_mail(address, "Confirm your subscription to The Weekly")
    assert link_in(confirmation, service.url, "/confirm/")


def test_exports_by_the_api_and_the_cli_are_the_same_bytes_every_time(
        service: Deployment, tmp_path: Path) -> None:
    addresses = [str(param.values[0]) for param in ADDRESSES]
    readers = tmp_path / "readers.csv"
    readers.write_text("email,name\n" + "".join(f"{a},Reader {n}\n"
                                                for n, a in enumerate(addresses)),
                       encoding="utf-8")
    imported = service.cli("subscribers", "import", "digest", str(readers), "--confirmed")
    assert b"bad rows 0" in imported, imported.decode(errors="replace")
    token = service.cli("tokens", "create", f"journey-{uuid.uuid4().hex[:8]}").decode()
    bearer = {"Authorization": f"Bearer {token.strip().splitlines()[-1]}"}

    def by_api(slug: str) -> bytes:
        answer = service.request("GET", f"/api/v1/newsletters/{slug}/subscribers"
                                 "?status=all&format=csv", headers=bearer)
        assert answer.status == 200, service.explain(f"API export of {slug}", answer)
        return answer.body

    # "daily" holds what the journey above left, if it ran first; "digest" the import.
    slugs = ("digest", "daily")
    first = {slug: by_api(slug) for slug in slugs}
    by_cli = {slug: service.cli("subscribers", "export", slug, "--status", "all")
              for slug in slugs}
    time.sleep(1.1)  # a timestamp in a link would show now
    second = {slug: by_api(slug) for slug in slugs}
    differences = [f"{slug}: {what} differ: {first_difference(first[slug], other[slug])}"
                   for slug in slugs
                   for what, other in (("two API exports a second apart", second),
                                       ("the API and the CLI export", by_cli))
                   if other[slug] != first[slug]]
    assert not differences, "\n".join(differences)

    digest = first["digest"].decode("utf-8")
    assert digest.splitlines()[0].split(",")[:9] == EXPORT_COLUMNS
    rows = list(csv.DictReader(io.StringIO(digest)))
    assert sorted(row["email"] for row in rows) == sorted(addresses)
    assert {row["status"] for row in rows} == {"confirmed"}
    for row in rows:
        assert row["unsubscribe_url"].startswith(f"{service.url}/unsubscribe/"), row

    # The export's link is a working one-click target, as a sending system would use it.
    answer = service.request("POST", rows[0]["unsubscribe_url"],
                             form={"List-Unsubscribe": "One-Click"})
    assert answer.status == 200, service.explain("one-click on an exported link", answer)
