"""Subscriber imports: a CSV read row by row, written in batches of ``BATCH_SIZE``.

Each batch is one transaction: subscribers and subscriptions are inserted with
``ON CONFLICT DO NOTHING``, so an existing reader is never duplicated nor changed (an
unsubscribed reader stays unsubscribed), and erased addresses are skipped. ``confirmed``
imports readers who opted in elsewhere; otherwise they are pending and each is sent a
confirmation email through the outbox, under the signup's throttle.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from sqlalchemy import func, insert, select
from sqlalchemy.orm import Session

from . import confirmations, webhooks
from .addresses import Address, InvalidAddress, normalize_address
from .db import insert_for
from .models import (
    ConsentEvent,
    ConsentEventKind,
    Newsletter,
    Subscriber,
    Subscription,
    SubscriptionStatus,
    SuppressedAddress,
    utcnow,
)
from .privacy import suppression_key
from .sources import clean_label

BATCH_SIZE = 1000
MAX_NAME_LENGTH = 200
MAX_SOURCE_LENGTH = 2048


class UnreadableFile(ValueError):
    """The file is no CSV with an ``email`` column; nothing was imported."""


class InvalidField(ValueError):
    """A value is not acceptable; ``field`` names it (``email``, ``name``, ...)."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field


@dataclass(frozen=True)
class NewReader:
    """A reader to add, checked and normalized: the address and what else is known."""

    address: Address
    name: str | None = None
    source: str | None = None
    created_at: datetime | None = None


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
    done = 0
    for row in read_rows(lines, report):
        batch.append(row)
        if len(batch) == BATCH_SIZE:
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


def read_rows(lines: Iterable[str], report: ImportReport) -> Iterator[NewReader]:
    """Yield the valid rows; add each bad one to ``report.errors`` with its line number."""
    reader = csv.DictReader(iter(lines))
    try:
        header = reader.fieldnames
    except csv.Error as error:
        raise UnreadableFile(f"line 1: {error}") from None
    if not header or "email" not in [_header(name) for name in header]:
        raise UnreadableFile("The first line must name the columns, one of them 'email'.")
    reader.fieldnames = [_header(name) for name in header]
    line = reader.line_num + 1
    while True:
        try:
            values = next(reader)
        except StopIteration:
            return
        except csv.Error as error:
            report.errors.append((line, f"not valid CSV: {error}"))
        else:
            try:
                yield check_reader(values)
            except InvalidField as error:
                report.errors.append((line, str(error)))
        line = reader.line_num + 1


def _header(name: str | None) -> str:
    return (name or "").strip().lstrip("\ufeff").lower()


def check_reader(values: Mapping[str | None, Any]) -> NewReader:
    """Return a row's or a request's values checked and normalized, or raise InvalidField."""
    for key, value in values.items():
        if isinstance(value, str):
            _check_utf8(str(key), value)
    try:
        address = normalize_address(values.get("email") or "")
    except InvalidAddress as error:
        raise InvalidField("email", f"{values.get('email') or ''!r}: {error}") from None
    return NewReader(
        address=address,
        name=_text(values.get("name"), MAX_NAME_LENGTH, "name"),
        source=_source(values.get("source")),
        created_at=_time(values.get("created_at")),
    )


def _check_utf8(field: str, value: str) -> None:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:  # the file was read with errors="surrogateescape"
        raise InvalidField(field, "not UTF-8 text") from None


def _text(value: str | None, limit: int, label: str) -> str | None:
    # Names and sources land in CSV exports and pages: no line breaks or control characters.
    value = value or ""
    if not value.isprintable():  # rare: only then look at each character
        value = "".join(c if c.isprintable() else " " for c in value)
    text = " ".join(value.split())
    if len(text) > limit:
        raise InvalidField(label, f"the {label} has more than {limit} characters")
    return text or None


@lru_cache(maxsize=1024)
def _source(value: str | None) -> str | None:
    # An import's rows mostly share a few sources: each is cleaned once (a pure function).
    return clean_label(_text(value, MAX_SOURCE_LENGTH, "source"))


@lru_cache(maxsize=1024)
def _time(value: str | None) -> datetime | None:
    if not value or not value.strip():
        return None
    try:
        parsed = datetime.fromisoformat(value.strip())
    except ValueError:
        raise InvalidField("created_at", f"created_at {value!r} is not an ISO 8601 time") from None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


def import_batch(session: Session, newsletter: Newsletter, rows: list[NewReader], *,
                 confirmed: bool, actor: str, report: ImportReport) -> list[int]:
    """Add the rows' readers in one transaction; return the ids of the new subscriptions."""
    rows = _fresh(session, rows, report)
    if not rows:
        return []
    now = utcnow()
    # Core statements on the tables, executemany: the ORM's unit of work buys nothing here.
    upsert = insert_for(session)
    session.execute(
        upsert(Subscriber.__table__).on_conflict_do_nothing(index_elements=["email_key"]),
        [{"email": r.address.email, "email_key": r.address.key, "created_at": r.created_at or now}
         for r in rows],
    )
    stored = session.execute(select(Subscriber.email_key, Subscriber.id, Subscriber.email).where(
        Subscriber.email_key.in_([r.address.key for r in rows]))).all()
    ids = {key: subscriber_id for key, subscriber_id, _ in stored}
    new = _insert_subscriptions(session, newsletter, rows, ids, confirmed, now)
    created = [subscription_id for subscription_id, _ in new]
    report.added += len(created)
    opted_out = _count_unsubscribed(session, newsletter, [ids[r.address.key] for r in rows])
    report.unsubscribed += opted_out
    report.existing += len(rows) - len(created) - opted_out
    _record_imported(session, created, actor, now)
    webhooks.emit_for_ids(session, webhooks.CONFIRMED if confirmed else webhooks.CREATED,
                          created)
    if not confirmed and created:
        emails = {subscriber_id: email for _, subscriber_id, email in stored}
        report.emails_queued += confirmations.queue_new_confirmations(
            session, newsletter, [(sid, subscriber, emails[subscriber]) for sid, subscriber in new])
    session.commit()
    return created


def _count_unsubscribed(session: Session, newsletter: Newsletter, subscriber_ids: list[int]) -> int:
    """Count the rows whose reader had unsubscribed from ``newsletter``: they stay so."""
    return session.scalar(select(func.count()).select_from(Subscription).where(
        Subscription.newsletter_id == newsletter.id,
        Subscription.subscriber_id.in_(subscriber_ids),
        Subscription.status == SubscriptionStatus.unsubscribed)) or 0


def _fresh(session: Session, rows: list[NewReader], report: ImportReport) -> list[NewReader]:
    """Drop repeated addresses (the first row wins) and erased ones."""
    unique: dict[str, NewReader] = {}
    for row in rows:
        if row.address.key in unique:
            report.existing += 1
        else:
            unique[row.address.key] = row
    hashes = {suppression_key(key): key for key in unique}
    erased = session.scalars(select(SuppressedAddress.key_hash)
                             .where(SuppressedAddress.key_hash.in_(list(hashes))))
    for key_hash in erased:
        del unique[hashes[key_hash]]
        report.suppressed += 1
    return list(unique.values())


def _insert_subscriptions(session: Session, newsletter: Newsletter, rows: list[NewReader],
                          ids: dict[str, int], confirmed: bool,
                          now: datetime) -> list[tuple[int, int]]:
    """Insert the subscriptions not there yet; return (id, subscriber_id) of each, by id."""
    status = SubscriptionStatus.confirmed if confirmed else SubscriptionStatus.pending
    upsert = insert_for(session)
    table = Subscription.__table__
    statement = (upsert(table)
                 .on_conflict_do_nothing(index_elements=["subscriber_id", "newsletter_id"])
                 .returning(table.c.id, table.c.subscriber_id))
    values = [{"subscriber_id": ids[r.address.key], "newsletter_id": newsletter.id,
               "status": status, "name": r.name, "source": r.source, "token_version": 1,
               "consent_given": False, "created_at": r.created_at or now,
               "confirmed_at": now if confirmed else None} for r in rows]
    return sorted((row[0], row[1]) for row in session.execute(statement, values))


def _record_imported(session: Session, created: list[int], actor: str, now: datetime) -> None:
    if created:
        session.execute(insert(ConsentEvent.__table__), [
            {"subscription_id": subscription_id, "kind": ConsentEventKind.imported, "at": now,
             "source": f"import by {actor}"[:MAX_SOURCE_LENGTH]} for subscription_id in created
        ])

