"""The console in a real browser: log in (CSRF on), export a list, log out."""

from __future__ import annotations

import csv
import io

from playwright.sync_api import Page, expect

from ..admin_support import PASSWORD, make_admin
from ..factories import subscribe
from .conftest import Site


def _log_in(page: Page, site: Site, password: str = PASSWORD) -> None:
    page.goto(f"{site.base}/admin/")
    page.get_by_label("Email").fill("editor@example.com")
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()


def test_login_export_and_logout(site: Site, page: Page) -> None:
    make_admin(site.app)
    subscribe(site.app, "reader@example.com", slug="morning")
    _log_in(page, site)
    expect(page.get_by_role("heading", name="Dashboard")).to_be_visible()
    expect(page.get_by_role("img", name="Signups and confirmations per day")).to_be_visible()
    row = page.get_by_role("row").filter(has_text="The Morning Briefing")
    row.get_by_label("Status").select_option("all")
    with page.expect_download() as download_info:
        row.get_by_role("button", name="Export").click()
    download = download_info.value
    assert download.suggested_filename.startswith("morning-all-")
    with open(download.path(), encoding="utf-8", newline="") as file:
        [reader] = list(csv.DictReader(io.StringIO(file.read())))
    assert reader["email"] == "reader@example.com" and reader["status"] == "pending"
    page.get_by_role("button", name="Log out").click()
    expect(page.get_by_role("heading", name="Log in to the console")).to_be_visible()
    page.goto(f"{site.base}/admin/")
    expect(page).to_have_url(f"{site.base}/admin/login?next=/admin/")


def test_wrong_password_says_nothing_about_which_part(site: Site, page: Page) -> None:
    make_admin(site.app)
    _log_in(page, site, password="not the password")
    expect(page.get_by_role("alert")).to_have_text("Email or password is wrong.")
