"""Subscriber exports: one streamed query, written as CSV or JSON as the rows arrive.

The console's buttons, the API and the CLI all call ``export``. Rows come through
``stream_results`` (a server-side cursor on PostgreSQL) and leave in chunks of ``CHUNK_ROWS``;
nothing holds the whole list. Each export is logged before its first byte.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Select, func, select, type_coerce
from sqlalchemy.orm import Session
from sqlalchemy.types import NullType

from .db import begin_read_only
from .links import manage_url, unsubscribe_url
from .models import (
    ConsentEvent,
    ConsentEventKind,
    ExportLog,
    Newsletter,
    Subscriber,
    Subscription,
    SubscriptionStatus,
    utcnow,
)
from .subscriptions import unsubscribe_token_maker

COLUMNS = ("email", "name", "newsletter", "status", "created_at", "confirmed_at",
           "unsubscribed_at", "source", "unsubscribe_url")
# The reader's preference centre, for the footer of every issue the publisher sends.
READER_COLUMNS = ("manage_url",)
# Proof of consent, after the contract's columns (GDPR art. 7(1)).
CONSENT_COLUMNS = ("signup_ip", "confirmation_ip", "consent_version")
ALL_COLUMNS = COLUMNS + READER_COLUMNS + CONSENT_COLUMNS
STATUSES = ("pending", "confirmed", "unsubscribed", "all")
FORMATS = ("csv", "json")
# A spreadsheet runs a cell starting with these as a formula (OWASP "CSV Injection").
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r", "\n")
_FORMULA_CHARS = frozenset(FORMULA_STARTS)  # each one character: ``cell[:1] in`` tests it
CHUNK_ROWS = 1000
# Cells a reader, an import or a forwarded header wrote: an IP or a source too.
_OUTSIDE_TEXT = tuple(ALL_COLUMNS.index(column) for column in (
    "email", "name", "newsletter", "source", "signup_ip", "confirmation_ip"))
_HEADER = ",".join(ALL_COLUMNS) + "\r\n"  # no cell of it needs quotes


class InvalidExport(ValueError):
    """The status or format asked for does not exist; the message says which are."""


@dataclass(frozen=True)
class ExportSpec:
    """Which subscribers of which newsletter to export, and how."""

    newsletter: Newsletter
    status: str = "confirmed"
    format: str = "csv"
    raw: bool = False  # True: cells exactly as stored, formulas and all

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise InvalidExport(f"status must be one of {', '.join(STATUSES)}")
        if self.format not in FORMATS:
            raise InvalidExport(f"format must be one of {', '.join(FORMATS)}")

    @property
    def media_type(self) -> str:
        """Return the Content-Type header's whole value, charset included."""
        return "text/csv; charset=utf-8" if self.format == "csv" else "application/json"

    @property
    def filename(self) -> str:
        return f"{self.newsletter.slug}-{self.status}-{utcnow():%Y-%m-%d}.{self.format}"


def export(session: Session, spec: ExportSpec, actor: str, *, row_count: int | None = None,
           on_rows: Callable[[int], None] | None = None) -> Iterator[str]:
    """Log the export, then return its text chunks; they are read from the database lazily."""
    session.add(ExportLog(actor=actor[:300], newsletter_id=spec.newsletter.id,
                          status=spec.status, format=spec.format, row_count=row_count,
                          created_at=utcnow()))
    session.commit()
    chunks = _chunks(session, spec)
    writer = _csv_chunks(chunks, spec.raw) if spec.format == "csv" else _json_chunks(chunks)
    return _counted(writer, on_rows)


def count(session: Session, spec: ExportSpec) -> int:
    """Return how many rows the export will have."""
    query = _filtered(select(func.count(Subscription.id)), spec)
    return int(session.scalar(query) or 0)


def _filtered(query: Select[Any], spec: ExportSpec) -> Select[Any]:
    query = query.where(Subscription.newsletter_id == spec.newsletter.id)
    if spec.status != "all":
        query = query.where(Subscription.status == SubscriptionStatus(spec.status))
    return query


def _query(spec: ExportSpec) -> Select[Any]:
    def last_ip(*kinds: ConsentEventKind) -> Any:
        return (select(ConsentEvent.ip)
                .where(ConsentEvent.subscription_id == Subscription.id,
                       ConsentEvent.kind.in_(kinds))
                .order_by(ConsentEvent.id.desc()).limit(1).scalar_subquery())

    query = select(
        Subscriber.email, Subscription.name, _as_stored(Subscription.status),
        _as_stored(Subscription.created_at), _as_stored(Subscription.confirmed_at),
        _as_stored(Subscription.unsubscribed_at), Subscription.source,
        Subscription.id, Subscriber.manage_token,
        last_ip(ConsentEventKind.subscribed, ConsentEventKind.imported),
        last_ip(ConsentEventKind.confirmed),
        Subscription.consent_version,
    ).join(Subscription.subscriber)
    return _filtered(query, spec).order_by(Subscription.id)


def _as_stored(column: Any) -> Any:
    """Read ``column`` as the driver returns it: no enum, no datetime built per row."""
    return type_coerce(column, NullType()).label(column.key)


def iso_utc(value: str | datetime | None) -> str:
    """Return a stored time as ``UTCDateTime`` reads it, in ISO 8601 with its zone ("" for none).

    SQLite hands over the text SQLAlchemy stored (naive UTC), PostgreSQL an aware datetime.
    """
    if value is None:
        return ""
    moment = datetime.fromisoformat(value) if isinstance(value, str) else value
    if moment.tzinfo is None:  # what UTCDateTime reads as UTC, and isoformat then writes
        return moment.isoformat() + "+00:00"
    return moment.astimezone(UTC).isoformat()


def _chunks(session: Session, spec: ExportSpec) -> Iterator[list[list[str]]]:
    """Yield the rows ``CHUNK_ROWS`` at a time, each its cells in ``ALL_COLUMNS`` order as text."""
    slug = spec.newsletter.slug
    token = unsubscribe_token_maker()  # one signer for the whole export
    link = unsubscribe_url("")  # the base is the same for every row
    manage = manage_url("")
    iso = iso_utc
    try:
        begin_read_only(session)  # on SQLite, signups go on while a long export reads
        # Core, not the ORM: plain rows, streamed (a server-side cursor on PostgreSQL).
        result = session.connection().execute(
            _query(spec).execution_options(stream_results=True, max_row_buffer=CHUNK_ROWS))
        for part in result.partitions(CHUNK_ROWS):
            yield [[email, name or "", slug, status, iso(created), iso(confirmed),
                    iso(unsubscribed), source or "", link + token(sub_id),
                    manage + manage_token, signup_ip or "", confirmation_ip or "",
                    "" if consent_version is None else str(consent_version)]
                   for (email, name, status, created, confirmed, unsubscribed, source, sub_id,
                        manage_token, signup_ip, confirmation_ip, consent_version) in part]
    finally:
        # A web response is streamed after the request's teardown closed its session:
        # end this read transaction here (on SQLite it holds the write lock).
        session.rollback()


def _csv_chunks(chunks: Iterator[list[list[str]]], raw: bool) -> Iterator[tuple[str, int]]:
    header = _HEADER  # with the first rows: once a chunk is out, the export's read has begun
    for rows in chunks:
        if not raw:
            _neutralize_rows(rows)
        yield header + csv_text(rows), len(rows)
        header = ""
    yield header, 0


def csv_text(rows: list[list[str]]) -> str:
    """Return ``rows`` as ``csv.writer`` writes them (RFC 4180: quotes as needed, CRLF ends).

    Most rows need no quotes: they are joined with commas, and only a row with a comma,
    quote or line break in a cell goes through ``csv.writer``.
    """
    lines = []
    for row in rows:
        line = ",".join(row)
        if line.count(",") != len(row) - 1 or '"' in line or "\r" in line or "\n" in line:
            line = _quoted(row)
        lines.append(line)
    return "\r\n".join(lines) + "\r\n" if lines else ""


def _quoted(row: list[str]) -> str:
    buffer = io.StringIO()
    csv.writer(buffer).writerow(row)
    return buffer.getvalue().removesuffix("\r\n")


def _neutralize_rows(rows: list[list[str]]) -> None:
    """Neutralize, in place, every cell that holds text from outside the service.

    The other cells are the service's own: a status, ISO times, links from the base URL,
    a number. None of them can start like a formula.
    """
    for row in rows:
        for position in _OUTSIDE_TEXT:
            if row[position][:1] in _FORMULA_CHARS:
                row[position] = "'" + row[position]


def _json_chunks(chunks: Iterator[list[list[str]]]) -> Iterator[tuple[str, int]]:
    """Yield one JSON array, an object per row, written piece by piece."""
    start, separator = "[", "\n"
    for rows in chunks:
        pieces = [start]
        for row in rows:
            pieces.append(separator + json.dumps(_object(row), ensure_ascii=False))
            separator = ",\n"
        yield "".join(pieces), len(rows)
        start = ""
    yield start + "\n]\n", 0


def _object(row: list[str]) -> dict[str, Any]:
    record: dict[str, Any] = dict(zip(ALL_COLUMNS, row, strict=True))
    for key, value in record.items():  # JSON says "no value" with null, not ""
        if value == "" and key not in ("email", "newsletter", "status"):
            record[key] = None
    if record["consent_version"] is not None:  # a number in JSON
        record["consent_version"] = int(record["consent_version"])
    return record


def _counted(chunks: Iterator[tuple[str, int]],
             on_rows: Callable[[int], None] | None) -> Iterator[str]:
    for text, rows in chunks:
        if on_rows is not None and rows:
            on_rows(rows)
        if text:
            yield text
