"""Subscriber imports: a CSV read row by row, written in batches of ``BATCH_SIZE``.

Each batch is one transaction: subscribers and subscriptions are inserted with
``ON CONFLICT DO NOTHING``, so an existing reader is never duplicated nor changed (an
unsubscribed reader stays unsubscribed), and erased addresses are skipped. ``confirmed``
imports readers who opted in elsewhere; otherwise they are pending and each is sent a
confirmation email through the outbox, under the signup's throttle.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import lru_cache
from operator import itemgetter
from typing import Any

from sqlalchemy.orm import Session

from . import confirmations, webhooks
from .addresses import Address, InvalidAddress, normalize_address
from .models import (
    ConsentEventKind,
    Newsletter,
    Subscription,
    SubscriptionStatus,
    new_manage_token,
    utcnow,
)
from .privacy import suppression_key
from .sources import clean_label

BATCH_SIZE = 1000  # rows of a pending import per transaction: each also queues an email
# A confirmed import's batch is larger: fewer commits (each wrote the same index pages anew).
CONFIRMED_BATCH_SIZE = 5000
READ_COLUMNS = ("email", "name", "source", "created_at")
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
    size = CONFIRMED_BATCH_SIZE if confirmed else BATCH_SIZE
    done = 0
    for row in read_rows(lines, report):
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


def read_rows(lines: Iterable[str], report: ImportReport) -> Iterator[NewReader]:
    """Yield the valid rows; add each bad one to ``report.errors`` with its line number."""
    reader = csv.reader(iter(lines))
    try:
        header = next(reader, [])
    except csv.Error as error:
        raise UnreadableFile(f"line 1: {error}") from None
    # A column named twice: the last one counts (as csv.DictReader had it).
    columns = {_header(name): at for at, name in enumerate(header)}
    if "email" not in columns:
        raise UnreadableFile("The first line must name the columns, one of them 'email'.")
    # A column not in the file reads the empty cell added after the row's own.
    width = len(header)
    pick = itemgetter(*(columns.get(name, width) for name in READ_COLUMNS))
    padding = [""] * (width + 1)
    line = reader.line_num + 1
    while True:
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as error:
            report.errors.append((line, f"not valid CSV: {error}"))
        else:
            if cells:  # a blank line is no row
                # Cells past the header's columns are ignored; missing ones are empty.
                cells = cells[:width]
                cells += padding[len(cells):]
                try:
                    _check_utf8_cells(cells)
                    yield _new_reader(*pick(cells))
                except InvalidField as error:
                    report.errors.append((line, str(error)))
        line = reader.line_num + 1


def _header(name: str) -> str:
    return name.strip().lstrip("\ufeff").lower()


def _check_utf8_cells(cells: list[str]) -> None:
    if not "".join(cells).isascii():  # rare: only then look at each cell
        for cell in cells:
            _check_utf8("row", cell)


def check_reader(values: Mapping[str | None, Any]) -> NewReader:
    """Return a row's or a request's values checked and normalized, or raise InvalidField."""
    for key, value in values.items():
        if isinstance(value, str):
            _check_utf8(str(key), value)
    return _new_reader(values.get("email"), values.get("name"), values.get("source"),
                       values.get("created_at"))


def _new_reader(email: str | None, name: str | None, source: str | None,
                created_at: str | None) -> NewReader:
    try:
        address = normalize_address(email or "")
    except InvalidAddress as error:
        raise InvalidField("email", f"{email or ''!r}: {error}") from None
    return NewReader(address=address, name=_text(name, MAX_NAME_LENGTH, "name"),
                     source=_source(source), created_at=_time(created_at))


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
    db = _Driver(session)
    rows = _fresh(db, rows, report)
    if not rows:
        return []
    now = utcnow()
    db.many(_ADD_READERS, [(r.address.email, r.address.key, new_manage_token(),
                            db.time(r.created_at or now)) for r in rows])
    stored = db.rows(_READERS_AND_STANDING.format(marks=_marks(len(rows))),
                     [newsletter.id, *(r.address.key for r in rows)])
    ids = {key: subscriber_id for key, subscriber_id, _, _ in stored}
    standing = {key: status for key, _, _, status in stored}
    absent = [r for r in rows if standing[r.address.key] is None]
    new = _insert_subscriptions(db, newsletter, absent, ids, confirmed, now)
    created = [subscription_id for subscription_id, _ in new]
    report.added += len(created)
    opted_out = sum(status == SubscriptionStatus.unsubscribed for status in standing.values())
    report.unsubscribed += opted_out
    report.existing += len(rows) - len(created) - opted_out
    if created:
        db.many(_RECORD_IMPORTED, [(subscription_id, ConsentEventKind.imported.value,
                                    db.time(now), f"import by {actor}"[:MAX_SOURCE_LENGTH])
                                   for subscription_id in created])
    webhooks.emit_for_ids(session, webhooks.CONFIRMED if confirmed else webhooks.CREATED,
                          created)
    if not confirmed and created:
        emails = {subscriber_id: email for _, subscriber_id, email, _ in stored}
        report.emails_queued += confirmations.queue_new_confirmations(
            session, newsletter, [(sid, subscriber, emails[subscriber]) for sid, subscriber in new])
    session.commit()
    return created


# The batch's statements, run by the database driver itself (written with SQLite's ``?``).
# Through SQLAlchemy's Core each value of each row went through its column type (times,
# enums): 40 % of an import's time. Here the values are what both drivers take as they are,
# and a time is converted once, by the column type's own converter for the dialect.
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
_SUBSCRIPTION_VALUES = "(?, ?, ?, ?, ?, 1, ?, ?, ?)"
_RECORD_IMPORTED = ("INSERT INTO consent_events (subscription_id, kind, at, source)"
                    " VALUES (?, ?, ?, ?)")
ROWS_PER_STATEMENT = 1000  # of a multi-row INSERT: 8 values a row, within every limit


class _Driver:
    """The DB-API cursor of the session's transaction, with SQLite's ``?`` or psycopg's ``%s``.

    Its rows are the driver's tuples: SQLAlchemy's Row objects cost more than the rows.
    """

    def __init__(self, session: Session) -> None:
        connection = session.connection()
        dialect = connection.dialect
        self.cursor = connection.connection.cursor()
        self.psycopg = dialect.paramstyle != "qmark"
        as_stored = Subscription.__table__.c.created_at.type.dialect_impl(dialect)
        self._time = as_stored.bind_processor(dialect) or _as_is
        self._times: dict[datetime, Any] = {}

    def time(self, value: datetime) -> Any:
        """Return a UTC time as the driver takes it (SQLite: text), converted once."""
        if (stored := self._times.get(value)) is None:
            stored = self._times[value] = self._time(value)
        return stored

    def many(self, sql: str, params: list[tuple[Any, ...]]) -> None:
        """Run ``sql`` once per tuple of ``params`` (the driver's executemany)."""
        self.cursor.executemany(self._placeholders(sql), params)

    def rows(self, sql: str, params: Iterable[Any]) -> Sequence[Any]:
        """Run ``sql`` once; return its rows."""
        self.cursor.execute(self._placeholders(sql), tuple(params))
        return self.cursor.fetchall()

    def _placeholders(self, sql: str) -> str:
        return sql.replace("?", "%s") if self.psycopg else sql


def _as_is(value: Any) -> Any:
    return value


def _marks(count: int) -> str:
    return ", ".join("?" * count)


def _fresh(db: _Driver, rows: list[NewReader], report: ImportReport) -> list[NewReader]:
    """Drop repeated addresses (the first row wins) and erased ones."""
    unique: dict[str, NewReader] = {}
    for row in rows:
        if row.address.key in unique:
            report.existing += 1
        else:
            unique[row.address.key] = row
    if not unique:
        return []
    hashes = {suppression_key(key): key for key in unique}
    for (key_hash,) in db.rows(_SUPPRESSED.format(marks=_marks(len(hashes))), hashes):
        del unique[hashes[key_hash]]
        report.suppressed += 1
    return list(unique.values())


def _insert_subscriptions(db: _Driver, newsletter: Newsletter, rows: list[NewReader],
                          ids: dict[str, int], confirmed: bool,
                          now: datetime) -> list[tuple[int, int]]:
    """Insert the subscriptions not there yet; return (id, subscriber_id) of each, by id."""
    status = (SubscriptionStatus.confirmed if confirmed else SubscriptionStatus.pending).value
    confirmed_at = db.time(now) if confirmed else None
    new: list[tuple[int, int]] = []
    for start in range(0, len(rows), ROWS_PER_STATEMENT):
        chunk = rows[start:start + ROWS_PER_STATEMENT]
        values = [value for r in chunk for value in (
            ids[r.address.key], newsletter.id, status, r.name, r.source, False,
            db.time(r.created_at or now), confirmed_at)]
        sql = _ADD_SUBSCRIPTIONS.format(values=", ".join([_SUBSCRIPTION_VALUES] * len(chunk)))
        new += [(subscription_id, subscriber_id) for subscription_id, subscriber_id
                in db.rows(sql, values)]
    return sorted(new)
