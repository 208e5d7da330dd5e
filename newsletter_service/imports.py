"""Subscriber imports: a CSV read row by row (import_rows.py), written in batches.

Each batch is one transaction: subscribers and subscriptions are inserted with
``ON CONFLICT DO NOTHING``, so an existing reader is never duplicated nor changed (an
unsubscribed reader stays unsubscribed), and erased addresses are skipped. ``confirmed``
imports readers who opted in elsewhere; otherwise they are pending and each is sent a
confirmation email through the outbox, under the signup's throttle.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import NamedTuple

from sqlalchemy.orm import Session

from . import confirmations, webhooks
from .bulk import BulkCursor, marks
from .import_rows import MAX_SOURCE_LENGTH, NewReader, read_rows
from .import_rows import InvalidField as InvalidField  # the API and readers.py: imports.*
from .import_rows import UnreadableFile as UnreadableFile
from .import_rows import check_reader as check_reader
from .models import (
    ConsentEventKind,
    Newsletter,
    SubscriptionStatus,
    new_manage_token,
    utcnow,
)
from .privacy import suppression_key

BATCH_SIZE = 1000  # rows of a pending import per transaction: each also queues an email
# A confirmed import's batch is larger: fewer commits (each wrote the same index pages anew).
CONFIRMED_BATCH_SIZE = 5000


@dataclass
class ImportReport:
    """What an import did; ``errors`` are (line, message) of the rows skipped."""

    added: int = 0
    existing: int = 0
    unsubscribed: int = 0  # skipped: the reader opted out, and an import never undoes it
    suppressed: int = 0
    emails_queued: int = 0
    errors: list[tuple[int, str]] = field(default_factory=list)

    @property
    def rows(self) -> int:
        return self.added + self.existing + self.unsubscribed + self.suppressed + len(self.errors)


def import_csv(session: Session, newsletter: Newsletter, lines: Iterable[str], *,
               confirmed: bool, actor: str,
               on_rows: Callable[[int], None] | None = None) -> ImportReport:
    """Import the CSV ``lines`` into ``newsletter``; bad rows are reported, not fatal."""
    report = ImportReport()
    batch: list[NewReader] = []
    size = CONFIRMED_BATCH_SIZE if confirmed else BATCH_SIZE
    done = 0
    for row in read_rows(lines, report.errors):
        batch.append(row)
        if len(batch) == size:
            import_batch(session, newsletter, batch, confirmed=confirmed, actor=actor,
                         report=report)
            batch = []
            if on_rows is not None:
                on_rows(report.rows - done)
                done = report.rows
    import_batch(session, newsletter, batch, confirmed=confirmed, actor=actor, report=report)
    if on_rows is not None:
        on_rows(report.rows - done)
    return report


def import_batch(session: Session, newsletter: Newsletter, rows: list[NewReader], *,
                 confirmed: bool, actor: str, report: ImportReport) -> list[int]:
    """Add the rows' readers in one transaction; return the ids of the new subscriptions."""
    if not rows:  # no transaction begun for nothing (on SQLite, a write lock)
        return []
    with BulkCursor(session) as db:
        rows = _fresh(db, rows, report)
        if not rows:
            return []
        now = utcnow()
        readers = _add_readers(db, newsletter, rows, now)
        absent = [r for r in rows if readers[r.address.key].status is None]
        new = _insert_subscriptions(db, newsletter, absent, readers, confirmed, now)
        created = [subscription_id for subscription_id, _ in new]
        _record_imported(db, created, actor, now)
    report.added += len(created)
    opted_out = sum(r.status == SubscriptionStatus.unsubscribed for r in readers.values())
    report.unsubscribed += opted_out
    report.existing += len(rows) - len(created) - opted_out
    webhooks.emit_for_ids(session, webhooks.CONFIRMED if confirmed else webhooks.CREATED,
                          created)
    if not confirmed and created:
        emails = {reader.id: reader.email for reader in readers.values()}
        report.emails_queued += confirmations.queue_first_confirmations(session, [
            confirmations.FirstConfirmation(subscriber, emails[subscriber], ((sid, newsletter),))
            for sid, subscriber in new])
    session.commit()
    return created


# The batch's statements, run through bulk.BulkCursor (written with SQLite's ``?``).
_SUPPRESSED = "SELECT key_hash FROM suppressed_addresses WHERE key_hash IN ({marks})"
_ADD_READERS = ("INSERT INTO subscribers (email, email_key, manage_token, created_at)"
                " VALUES (?, ?, ?, ?) ON CONFLICT (email_key) DO NOTHING")
_READERS_AND_STANDING = (
    "SELECT s.email_key, s.id, s.email, sub.status FROM subscribers s"
    " LEFT JOIN subscriptions sub ON sub.subscriber_id = s.id AND sub.newsletter_id = ?"
    " WHERE s.email_key IN ({marks})")
_ADD_SUBSCRIPTIONS = (
    "INSERT INTO subscriptions (subscriber_id, newsletter_id, status, name, source,"
    " token_version, consent_given, created_at, confirmed_at) VALUES {values}"
    " ON CONFLICT (subscriber_id, newsletter_id) DO NOTHING RETURNING id, subscriber_id")
_RECORD_IMPORTED = ("INSERT INTO consent_events (subscription_id, kind, at, source)"
                    " VALUES (?, ?, ?, ?)")


def _fresh(db: BulkCursor, rows: list[NewReader], report: ImportReport) -> list[NewReader]:
    """Drop repeated addresses (the first row wins) and erased ones."""
    unique: dict[str, NewReader] = {}
    for row in rows:
        if row.address.key in unique:
            report.existing += 1
        else:
            unique[row.address.key] = row
    hashes = {suppression_key(key): key for key in unique}
    for (key_hash,) in db.rows(_SUPPRESSED.format(marks=marks(len(hashes))), hashes):
        del unique[hashes[key_hash]]
        report.suppressed += 1
    return list(unique.values())


class _Reader(NamedTuple):
    """A stored reader and the status of its subscription to the newsletter (None: none)."""

    id: int
    email: str
    status: str | None


def _add_readers(db: BulkCursor, newsletter: Newsletter, rows: list[NewReader],
                 now: datetime) -> dict[str, _Reader]:
    """Insert the readers not there yet; return each row's reader, by key."""
    db.many(_ADD_READERS, [(r.address.email, r.address.key, new_manage_token(),
                            db.time(r.created_at or now)) for r in rows])
    return {key: _Reader(subscriber_id, email, status) for key, subscriber_id, email, status
            in db.rows(_READERS_AND_STANDING.format(marks=marks(len(rows))),
                       [newsletter.id, *(r.address.key for r in rows)])}


def _insert_subscriptions(db: BulkCursor, newsletter: Newsletter, rows: list[NewReader],
                          readers: dict[str, _Reader], confirmed: bool,
                          now: datetime) -> list[tuple[int, int]]:
    """Insert the subscriptions not there yet; return (id, subscriber_id) of each, by id."""
    status = (SubscriptionStatus.confirmed if confirmed else SubscriptionStatus.pending).value
    confirmed_at = db.time(now) if confirmed else None
    newsletter_id = newsletter.id
    return sorted((subscription_id, subscriber_id) for subscription_id, subscriber_id in db.insert(
        _ADD_SUBSCRIPTIONS,
        [(readers[r.address.key].id, newsletter_id, status, r.name, r.source, 1, False,
          db.time(r.created_at or now), confirmed_at) for r in rows]))


def _record_imported(db: BulkCursor, created: list[int], actor: str, now: datetime) -> None:
    if not created:
        return
    kind, at = ConsentEventKind.imported.value, db.time(now)
    source = f"import by {actor}"[:MAX_SOURCE_LENGTH]
    db.many(_RECORD_IMPORTED, [(subscription_id, kind, at, source) for subscription_id in created])
