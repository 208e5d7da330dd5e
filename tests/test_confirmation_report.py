"""The dashboard's confirmation figures: rate, how readers confirmed, time, recipient domains."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from flask import Flask
from sqlalchemy import select, update

from newsletter_service import reports
from newsletter_service.models import Subscription, utcnow

from .admin_support import log_in, make_admin
from .factories import deliver, link_in, make_newsletter, memory_mailer, open_session, text_body

CODE_LINE = re.compile(r"^.*\bcode\b.*?\b(\d{6})\b", re.MULTILINE | re.IGNORECASE)
BROWSER = {"User-Agent": "Mozilla/5.0 (X11; Linux x86_64) Firefox/140.0"}


def sign_up_all(app: Flask, slug: str, addresses: list[str]) -> dict[str, object]:
    """Sign each address up; return its confirmation email by address."""
    client = app.test_client()
    for address in addresses:
        client.post(f"/newsletters/{slug}/subscribe", json={"email": address})
    deliver(app)
    return {str(m["To"]): m for m in memory_mailer(app).outbox if slug.title() in str(m["Subject"])}


# Opening the link confirms a one-click newsletter once the scanners' minutes are over:
# here at once, so that the test can open it.
@pytest.mark.app_config(ONE_CLICK_CONFIRM_DELAY=0, CONFIRM_SCANNER_SECONDS=0)
def test_figures_per_newsletter_and_domain(db_app: Flask) -> None:
    app = db_app
    make_newsletter(app, "daily", "Daily")
    make_newsletter(app, "quick", "Quick", one_click_confirm=True)
    mails = sign_up_all(app, "daily", ["a@gmail.com", "b@gmail.com", "c@gmail.com",
                                       "d@outlook.com", "e@outlook.com", "f@example.org"])
    client = app.test_client()
    for address in ("a@gmail.com", "d@outlook.com"):
        code = CODE_LINE.search(text_body(mails[address])).group(1)  # type: ignore[union-attr, arg-type]
        answer = client.post("/confirm/code", json={"email": address, "code": code})
        assert answer.status_code == 200
    client.post(link_in(mails["b@gmail.com"]))  # type: ignore[arg-type]
    quick = sign_up_all(app, "quick", ["q@gmail.com"])
    client.get(link_in(quick["q@gmail.com"]), headers=BROWSER)  # type: ignore[arg-type]
    with open_session(app) as session:  # a reader who took an hour
        for subscription in session.scalars(
                select(Subscription).where(Subscription.confirmed_at.is_not(None))):
            subscription.confirmed_at = subscription.created_at + timedelta(hours=1)
        session.commit()
        daily, quick_figures = reports.confirmation_figures(session)
    assert (daily.total.signups, daily.total.confirmations) == (6, 3)
    assert daily.total.rate == 0.5
    assert daily.methods == {"code": 2, "link": 1, "one_click": 0}
    assert daily.median_seconds == 3600
    assert [(d.label, d.signups, d.confirmations) for d in daily.domains] == [
        ("gmail.com", 3, 2), ("outlook.com", 2, 1), ("example.org", 1, 0)]
    assert quick_figures.methods == {"code": 0, "link": 0, "one_click": 1}

    make_admin(app)
    admin = app.test_client()
    log_in(admin)
    page = admin.get("/admin/").get_data(as_text=True)
    assert "Confirmation rate, last 30 days" in page
    assert "50%" in page and "gmail.com" in page and "1 h" in page
    assert page.count("<svg") >= 3  # activity, and a domain chart per newsletter with signups


def test_old_signups_and_none_at_all_are_left_out(app: Flask) -> None:
    make_newsletter(app, "daily", "Daily")
    sign_up_all(app, "daily", ["old@example.com"])
    with open_session(app) as session:
        session.execute(update(Subscription).values(created_at=utcnow() - timedelta(days=31)))
        session.commit()
        [figures] = reports.confirmation_figures(session)
    assert figures.total.signups == 0 and figures.total.rate is None
    assert figures.median_seconds is None and figures.domains == []
