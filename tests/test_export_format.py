"""The export's bytes: the same as the straightforward export it replaced, on varied rows.

``_reference_export`` is the export as it was written before it was made fast (typed rows
from SQLAlchemy, ``isoformat``, ``csv.writer``, ``json.dumps`` per row). The export must
write exactly its bytes, in every format and for every status, on SQLite and PostgreSQL.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from flask import Flask
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from sqlalchemy import Column, Integer, MetaData, Select, Table, insert, select, text, type_coerce
from sqlalchemy.dialects import sqlite
from sqlalchemy.dialects.postgresql import psycopg
from sqlalchemy.orm import Session
from sqlalchemy.types import NullType

from newsletter_service import exports
from newsletter_service.links import manage_url, unsubscribe_url
from newsletter_service.models import (
    ConsentEvent,
    ConsentEventKind,
    Subscriber,
    Subscription,
    SubscriptionStatus,
    UTCDateTime,
)
from newsletter_service.newsletters import find_newsletter
from newsletter_service.subscriptions import unsubscribe_token_maker

from .factories import make_newsletter, open_session

NAMES = [None, "", "Ada", 'Doe, "JD" Zoë', "=HYPERLINK(\"http://x\")", "+1", "-2+3", "@SUM(A1)",
         "\ttab", "\rreturn", "two\nlines", "'quoted'", " spaced ", "日本語 🙂", "semi;colon",
         "back\\slash", "\u2028sep"]
SOURCES = [None, "", "https://pub.example/a", "-src", "=cmd|calc", "Spring fair, 2024", "ü"]
EMAILS = ["reader{}@example.com", "zoë{}@exämple.com", "=1+{}@example.com", "+{}@example.com",
          "-{}@example.com", "@{}@example.com", "quote\"{}\"@example.com"]
IPS = [None, "192.0.2.1", "2001:db8::1", "=cmd|calc", "-1"]


def _reference_query(spec: exports.ExportSpec) -> Select[Any]:
    def last_ip(*kinds: ConsentEventKind) -> Any:
        return (select(ConsentEvent.ip)
                .where(ConsentEvent.subscription_id == Subscription.id,
                       ConsentEvent.kind.in_(kinds))
                .order_by(ConsentEvent.id.desc()).limit(1).scalar_subquery())

    query = select(
        Subscriber.email, Subscription.name, Subscription.status, Subscription.created_at,
        Subscription.confirmed_at, Subscription.unsubscribed_at, Subscription.source,
        Subscription.id, Subscriber.manage_token,
        last_ip(ConsentEventKind.subscribed, ConsentEventKind.imported),
        last_ip(ConsentEventKind.confirmed),
        Subscription.consent_version,
    ).join(Subscription.subscriber).where(Subscription.newsletter_id == spec.newsletter.id)
    if spec.status != "all":
        query = query.where(Subscription.status == SubscriptionStatus(spec.status))
    return query.order_by(Subscription.id)


def _reference_rows(session: Session, spec: exports.ExportSpec) -> Iterator[list[Any]]:
    token = unsubscribe_token_maker()
    link, manage = unsubscribe_url(""), manage_url("")
    for (email, name, status, created, confirmed, unsubscribed, source, sub_id,
         manage_token, signup_ip, confirmation_ip, consent_version) in session.execute(
            _reference_query(spec)):
        yield [email, name or "", spec.newsletter.slug, status.value, created.isoformat(),
               confirmed.isoformat() if confirmed else "",
               unsubscribed.isoformat() if unsubscribed else "", source or "",
               link + token(sub_id), manage + manage_token, signup_ip or "",
               confirmation_ip or "", "" if consent_version is None else consent_version]


def _reference_export(session: Session, spec: exports.ExportSpec) -> str:
    """Return the export as the straightforward code wrote it."""
    rows = list(_reference_rows(session, spec))
    session.rollback()
    outside = [exports.ALL_COLUMNS.index(c) for c in ("email", "name", "newsletter", "source",
                                                      "signup_ip", "confirmation_ip")]
    if spec.format == "json":
        objects = []
        for row in rows:
            record = dict(zip(exports.ALL_COLUMNS, row, strict=True))
            for key, value in record.items():
                if value == "" and key not in ("email", "newsletter", "status"):
                    record[key] = None
            objects.append(json.dumps(record, ensure_ascii=False))
        return "[" + "".join(("\n" if i == 0 else ",\n") + o
                             for i, o in enumerate(objects)) + "\n]\n"
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(exports.ALL_COLUMNS)
    for row in rows:
        if not spec.raw:
            for position in outside:
                if row[position].startswith(exports.FORMULA_STARTS):
                    row[position] = "'" + row[position]
        writer.writerow(row)
    return buffer.getvalue()


def _moment(index: int) -> datetime:
    """Return varied aware times: with and without microseconds, other zones, far years."""
    base = datetime(2024, 2, 29, 23, 59, 59, 999_999 if index % 3 else 0, tzinfo=UTC)
    zone = timezone(timedelta(hours=index % 5 - 2, minutes=30 * (index % 2)))
    moment = (base + timedelta(days=index * 37, seconds=index * 7919,
                               microseconds=index * 104_729 % 1_000_000 if index % 4 else 0))
    extremes = {5: datetime(1, 1, 1, 0, 0, 0, 1, tzinfo=UTC),
                6: datetime(9999, 12, 31, 23, 59, 59, 999_999, tzinfo=UTC),
                7: datetime(999, 3, 4, 5, 6, 7, 10, tzinfo=UTC)}
    return extremes.get(index, moment.astimezone(zone))


def _fill_varied(app: Flask, count: int = 60) -> None:
    """Add readers to 'daily' (and a few to 'other', which no export of 'daily' shows)."""
    make_newsletter(app, "daily")
    make_newsletter(app, "other", "The Other")
    statuses = list(SubscriptionStatus)
    with open_session(app) as session:
        daily, other = find_newsletter(session, "daily"), find_newsletter(session, "other")
        for i in range(count):
            newsletter = other if i % 11 == 10 else daily
            status = statuses[i % 3]
            reader = Subscriber(email=EMAILS[i % len(EMAILS)].format(i),
                                email_key=f"key{i}", created_at=_moment(i))
            confirmed = _moment(i + 1) if status != SubscriptionStatus.pending else None
            subscription = Subscription(
                subscriber=reader, newsletter=newsletter, status=status,
                name=NAMES[i % len(NAMES)], source=SOURCES[i % len(SOURCES)],
                consent_version=None if i % 4 == 0 else i % 4, created_at=_moment(i),
                confirmed_at=confirmed,
                unsubscribed_at=_moment(i + 2) if status == SubscriptionStatus.unsubscribed
                else None)
            kinds = [[], [ConsentEventKind.subscribed],
                     [ConsentEventKind.imported, ConsentEventKind.confirmed],
                     [ConsentEventKind.subscribed, ConsentEventKind.confirmation_resent,
                      ConsentEventKind.subscribed, ConsentEventKind.confirmed,
                      ConsentEventKind.confirmed, ConsentEventKind.unsubscribed]][i % 4]
            subscription.events = [ConsentEvent(kind=kind, at=_moment(i), ip=IPS[(i + k) % 3])
                                   for k, kind in enumerate(kinds)]
            session.add(subscription)
        session.commit()
    with app.extensions["db_engine"].begin() as connection:  # as rows stored before clean_ip
        for i, ip in enumerate(IPS):
            connection.execute(text("UPDATE consent_events SET ip = :ip WHERE id % 5 = :i"),
                               {"ip": ip, "i": i})


def _export_text(app: Flask, **spec: Any) -> tuple[str, str]:
    """Return (the export's text, the reference export's text)."""
    with app.test_request_context(), app.extensions["db_sessionmaker"]() as session:
        export_spec = exports.ExportSpec(find_newsletter(session, "daily"), **spec)
        written = "".join(exports.export(session, export_spec, "test"))
        return written, _reference_export(session, export_spec)


@pytest.mark.parametrize(("format_", "raw"), [("csv", False), ("csv", True), ("json", False)])
@pytest.mark.parametrize("status", exports.STATUSES)
def test_export_writes_the_reference_exports_bytes(
        db_app: Flask, status: str, format_: str, raw: bool) -> None:
    _fill_varied(db_app)
    written, reference = _export_text(db_app, status=status, format=format_, raw=raw)
    assert written == reference
    assert reference.count("example.com") >= 10 or status != "all"


def test_times_sqlite_holds_in_other_shapes_are_written_as_sqlalchemy_reads_them(
        app: Flask) -> None:
    """Rows written by other tools: no microseconds, a 'T', an offset, fewer digits."""
    _fill_varied(app, count=12)
    stored = ["2024-05-01 12:00:00", "2024-05-01T12:00:00.5", "2024-05-01 12:00:00+02:00",
              "2024-05-01 12:00:00.000000", "2024-05-01 12:00", "2024-05-01",
              "2024-05-01T23:30:00.123456-05:30", "2024-05-01 12:00:00.123"]
    with app.extensions["db_engine"].begin() as connection:
        for i, value in enumerate(stored):
            connection.execute(text("UPDATE subscriptions SET created_at = :v, confirmed_at ="
                                    " :v, unsubscribed_at = :v WHERE id % 8 = :i"),
                               {"v": value, "i": i})
    for format_ in exports.FORMATS:
        written, reference = _export_text(app, status="all", format=format_)
        assert written == reference and "+00:00" in written


def test_rows_past_a_chunk_boundary_are_the_reference_rows(app: Flask) -> None:
    _fill_varied(app, count=exports.CHUNK_ROWS + 37)
    for format_ in exports.FORMATS:
        written, reference = _export_text(app, status="all", format=format_)
        assert written == reference


# --- the fast parts, each against what it replaces --------------------------------------

aware_times = st.datetimes(min_value=datetime(2, 1, 1), max_value=datetime(9998, 12, 31),
                           timezones=st.timezones())
cell_text = (st.text(st.sampled_from(list(',"\r\n \t\'=-+@;ab Zé🙂\u2028\x85')), max_size=12)
             | st.text(max_size=12))


def _read_by_sqlalchemy(value: Any, dialect: Any) -> str:
    """Return what the export wrote before: the column's typed value, ``isoformat``."""
    read = UTCDateTime().dialect_impl(dialect).result_processor(dialect, None)
    moment = read(value) if read else value
    return "" if moment is None else str(moment.isoformat())


@given(aware_times)
def test_times_as_sqlite_stores_them_are_written_as_sqlalchemy_reads_them(
        moment: datetime) -> None:
    dialect = sqlite.dialect()
    write = UTCDateTime().dialect_impl(dialect).bind_processor(dialect)
    assert write is not None
    stored = write(moment)
    assert isinstance(stored, str)
    assert exports.iso_utc(stored) == _read_by_sqlalchemy(stored, dialect)


@given(aware_times)
def test_times_as_psycopg_returns_them_are_written_as_sqlalchemy_reads_them(
        moment: datetime) -> None:
    assert exports.iso_utc(moment) == _read_by_sqlalchemy(moment, psycopg.dialect())


@given(st.one_of(st.text(max_size=40),
                 st.from_regex(r"\A[0-9]{1,5}-[0-9]{1,2}-[0-9]{1,2}([ T][0-9:.,+Z-]{0,22})?\Z")))
def test_any_text_in_a_sqlite_time_column_is_written_or_refused_as_sqlalchemy_does(
        stored: str) -> None:
    try:
        expected = _read_by_sqlalchemy(stored, sqlite.dialect())
    except ValueError:
        with pytest.raises(ValueError):
            exports.iso_utc(stored)
    else:
        assert exports.iso_utc(stored) == expected


@settings(max_examples=25, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(aware_times, min_size=1, max_size=20))
def test_times_read_from_the_database_are_written_as_sqlalchemy_reads_them(
        db_app: Flask, moments: list[datetime]) -> None:
    """The whole trip: stored through the column type, read back raw and typed."""
    table = Table("export_time_probe", MetaData(), Column("id", Integer, primary_key=True),
                  Column("at", UTCDateTime), prefixes=["TEMPORARY"])
    with db_app.extensions["db_engine"].connect() as connection:
        if connection.dialect.name == "postgresql":  # psycopg then returns other zones
            connection.execute(text("SET TIME ZONE 'America/St_Johns'"))
        table.create(connection)
        connection.execute(insert(table), [{"at": moment} for moment in moments])
        query = select(type_coerce(table.c.at, NullType()), table.c.at).order_by(table.c.id)
        for raw, typed in connection.execute(query):
            assert exports.iso_utc(raw) == typed.isoformat()
        connection.rollback()


@settings(max_examples=300)
@given(st.lists(st.lists(cell_text, min_size=13, max_size=13), max_size=5))
@example([[c, "x", ""] for c in (",", '"', "\r", "\n", "a,b", 'a"b', "", " ", "é")])
def test_csv_text_is_what_csv_writer_writes(rows: list[list[str]]) -> None:
    buffer = io.StringIO()
    csv.writer(buffer).writerows(rows)
    assert exports.csv_text(rows) == buffer.getvalue()
