"""What an import stores, row by row, for a file with every kind of row an import meets."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import select

from newsletter_service import privacy, subscriptions, webhooks
from newsletter_service.consent import ConsentOrigin
from newsletter_service.models import (
    ConsentEvent,
    ConsentEventKind,
    OutboxMessage,
    Subscriber,
    Subscription,
    SubscriptionStatus,
)

from .factories import make_newsletter, open_session, subscribe

# Line 1 is the header; the comments give each line's number and what it is.
FILE = (
    "email,Name,source,created_at,extra\n"
    "new@example.com,New Reader,https://pub.test/a?utm_source=x#top,2024-01-02T03:04:05Z,x\n"  # 2
    "NEW@Example.com,Repeat,,,\n"  # 3: the same reader again: the first row wins
    "known@example.com,Known,,,\n"  # 4: pending already
    "gone@example.com,Gone,,,\n"  # 5: unsubscribed: stays so
    "erased@example.com,,,,\n"  # 6: erased: skipped
    "weekly@example.com,Weekly Reader,paper form,2024-03-01T10:00:00+02:00\n"  # 7
    "josé@example.com,  José   Ñúñez ,,2023-12-31T23:59:59,\n"  # 8: naive time is UTC
    "x@münchen.de,\"Line\nbreak\tand tab\",,,\n"  # 9-10: a quoted line break
    "not-an-address,Bad,,,\n"  # 11
    "ツ-reader@example.com,ツ,javascript:alert(1),,\n"  # 12
    "bad-time@example.com,,,yesterday,\n"  # 13
    "\n"  # 14: blank, skipped
    "short@example.com\n"  # 15: fewer cells than columns
    f"long@example.com,{'n' * 201},,,\n"  # 16: name too long
    "Mixed.Case@Example.COM,,,,,surplus\n"  # 17: more cells than columns
    " spaced@example.com ,,,,\n"  # 18
)
NOT_UTF8 = b"latin@example.com,\xe9t\xe9,,,\n"  # 19


def _prepare(app: Flask) -> None:
    make_newsletter(app)
    make_newsletter(app, slug="weekly", name="Weekly")
    subscribe(app, "known@example.com")
    gone = subscribe(app, "gone@example.com")
    subscribe(app, "erased@example.com")
    subscribe(app, "Weekly@Example.com", slug="weekly")
    with open_session(app) as session:
        subscriptions.unsubscribe_subscriptions(
            session, [session.get_one(Subscription, gone.id)], ConsentOrigin(ip=None))
        erased = session.scalars(select(Subscriber).where(
            Subscriber.email_key == "erased@example.com")).one()
        privacy.erase(session, erased)
        webhooks.add_webhook(session, "https://hooks.example.com/in")


def _stored(app: Flask) -> tuple[dict[str, Any], dict[str, Any], list[Any], list[Any]]:
    """Return the readers, daily's subscriptions, the consent events and the outbox."""
    with open_session(app) as session:
        readers = {s.email: (s.email_key, s.created_at, bool(s.manage_token))
                   for s in session.scalars(select(Subscriber))}
        daily = {s.subscriber.email: (s.status, s.name, s.source, s.created_at, s.confirmed_at,
                                      s.unsubscribed_at is not None, s.token_version,
                                      s.consent_given, s.consent_version)
                 for s in session.scalars(select(Subscription).where(
                     Subscription.newsletter.has(slug="daily")))}
        events = sorted((e.subscription.subscriber.email, e.kind, e.source, e.at)
                        for e in session.scalars(select(ConsentEvent)))
        outbox = sorted((m.kind, m.recipient) for m in session.scalars(select(OutboxMessage)))
    return readers, daily, events, outbox


@pytest.mark.parametrize("confirmed", [True, False])
def test_a_varied_file_stores_each_row_as_its_kind_says(
        db_app: Flask, tmp_path: Path, confirmed: bool) -> None:
    _prepare(db_app)
    readers_before, daily_before, events_before, outbox_before = _stored(db_app)
    source = tmp_path / "readers.csv"
    source.write_bytes(FILE.encode() + NOT_UTF8)
    result = db_app.test_cli_runner().invoke(args=[
        "subscribers", "import", "daily", str(source), *(["--confirmed"] if confirmed else [])])
    assert result.exit_code == 0, result.output
    new = ["new@example.com", "Weekly@example.com", "josé@example.com", "x@münchen.de",
           "ツ-reader@example.com", "short@example.com", "Mixed.Case@example.com",
           "spaced@example.com"]
    assert result.stdout == (
        "Added 8, already there 2, skipped as unsubscribed 1, erased before 1, bad rows 4, "
        f"confirmation emails queued {0 if confirmed else 8}.\n")
    assert result.stderr.splitlines()[-4:] == [
        "line 11: 'not-an-address': An email address must have an @-sign.",
        "line 13: created_at 'yesterday' is not an ISO 8601 time",
        "line 16: the name has more than 200 characters",
        "line 19: not UTF-8 text",
    ]
    readers, daily, events, outbox = _stored(db_app)
    [now] = {at for email, kind, _, at in events if kind is ConsentEventKind.imported}

    # Readers: the new ones added, each once; the ones there already unchanged.
    for email, stored in readers_before.items():
        assert readers[email] == stored
    added = {email: stored for email, stored in readers.items() if email not in readers_before}
    assert added == {
        "new@example.com": ("new@example.com", datetime.fromisoformat("2024-01-02T03:04:05+00:00"),
                            True),
        "josé@example.com": ("josé@example.com",
                             datetime.fromisoformat("2023-12-31T23:59:59+00:00"), True),
        "x@münchen.de": ("x@münchen.de", now, True),
        "ツ-reader@example.com": ("ツ-reader@example.com", now, True),
        "short@example.com": ("short@example.com", now, True),
        "Mixed.Case@example.com": ("mixed.case@example.com", now, True),
        "spaced@example.com": ("spaced@example.com", now, True),
    }

    # Subscriptions to daily: the existing ones unchanged, the new ones as the rows say.
    for email, stored in daily_before.items():
        assert daily[email] == stored
    status = SubscriptionStatus.confirmed if confirmed else SubscriptionStatus.pending
    confirmed_at = now if confirmed else None

    def expected(name: str | None, source: str | None, created: datetime) -> tuple[object, ...]:
        return (status, name, source, created, confirmed_at, False, 1, False, None)

    assert {email: daily[email] for email in new} == {
        "new@example.com": expected("New Reader", "https://pub.test/a",
                                    datetime.fromisoformat("2024-01-02T03:04:05+00:00")),
        "Weekly@example.com": expected("Weekly Reader", "paper form",
                                       datetime.fromisoformat("2024-03-01T08:00:00+00:00")),
        "josé@example.com": expected("José Ñúñez", None,
                                     datetime.fromisoformat("2023-12-31T23:59:59+00:00")),
        "x@münchen.de": expected("Line break and tab", None, now),
        "ツ-reader@example.com": expected("ツ", None, now),
        "short@example.com": expected(None, None, now),
        "Mixed.Case@example.com": expected(None, None, now),
        "spaced@example.com": expected(None, None, now),
    }
    assert set(daily) == set(daily_before) | set(new)

    # One "imported" consent event per new subscription; one webhook event each.
    assert events == sorted(events_before + [(email, ConsentEventKind.imported, "import by cli",
                                              now) for email in new])
    # A confirmation email goes to the ASCII form of an internationalized domain.
    emails = [("confirm", email.replace("münchen", "xn--mnchen-3ya")) for email in new]
    emails = [] if confirmed else emails
    assert outbox == sorted(outbox_before + [("webhook", email) for email in new] + emails)
