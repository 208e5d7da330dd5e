"""The console's figures: counts per newsletter, signups per day, the pages readers come from.

Each figure is one GROUP BY query; erased subscriptions count through their tombstones.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from statistics import median
from typing import Any

from sqlalchemy import ColumnElement, Select, String, func, literal, select, type_coerce, union_all
from sqlalchemy.orm import Session, selectinload

from .models import (
    ConfirmMethod,
    ConsentEvent,
    ConsentEventKind,
    ErasedSubscription,
    ExportLog,
    Newsletter,
    Subscriber,
    Subscription,
    utcnow,
)

CHART_DAYS = 90
MAX_SOURCES = 200


@dataclass
class NewsletterCounts:
    """A newsletter and how many readers it has in each state."""

    newsletter: Newsletter
    counts: dict[str, int] = field(default_factory=dict)

    def __getitem__(self, status: str) -> int:
        return self.counts.get(status, 0)


@dataclass(frozen=True)
class Day:
    """Signups and confirmations of one day (UTC)."""

    day: date
    signups: int
    confirmations: int


@dataclass(frozen=True)
class SourceRow:
    """A page readers signed up on, for one newsletter."""

    source: str
    newsletter_slug: str
    signups: int
    confirmed: int


def newsletter_counts(session: Session) -> list[NewsletterCounts]:
    """Return every newsletter with its pending, confirmed, unsubscribed and erased counts."""
    rows = union_all(
        select(Subscription.newsletter_id.label("nid"),
               type_coerce(Subscription.status, String).label("status")),
        select(ErasedSubscription.newsletter_id, literal("erased")),
    ).subquery()
    grouped = session.execute(
        select(rows.c.nid, rows.c.status, func.count()).group_by(rows.c.nid, rows.c.status))
    counts: dict[int, dict[str, int]] = defaultdict(dict)
    for newsletter_id, status, number in grouped:
        counts[newsletter_id][status] = number
    newsletters = session.scalars(select(Newsletter).order_by(Newsletter.id))
    return [NewsletterCounts(n, counts[n.id]) for n in newsletters]


def daily_activity(session: Session, days: int = CHART_DAYS) -> list[Day]:
    """Return signups and confirmations per day for the last ``days`` days, oldest first."""
    today = utcnow().date()
    start = datetime.combine(today - timedelta(days=days - 1), datetime.min.time(), tzinfo=UTC)
    signups = _per_day(session, Subscription.created_at, ErasedSubscription.created_at, start)
    confirmations = _per_day(session, Subscription.confirmed_at, ErasedSubscription.confirmed_at,
                             start)
    return [Day(day, signups.get(day, 0), confirmations.get(day, 0))
            for day in (today - timedelta(days=n) for n in range(days - 1, -1, -1))]


def _per_day(session: Session, column: Any, erased_column: Any, start: datetime) -> dict[date, int]:
    dialect = session.get_bind().dialect.name
    both = union_all(
        select(_day(column, dialect).label("day")).where(column >= start),
        select(_day(erased_column, dialect)).where(erased_column >= start),
    ).subquery()
    query: Select[Any] = select(both.c.day, func.count()).group_by(both.c.day)
    return {_as_date(day): number for day, number in session.execute(query)}


def _day(column: Any, dialect: str) -> ColumnElement[Any]:
    # Times are stored in UTC; SQLite keeps them as text, PostgreSQL as timestamptz.
    if dialect == "postgresql":
        return func.date(func.timezone("UTC", column))
    return func.date(column)


def _as_date(value: date | str) -> date:
    return value if isinstance(value, date) else date.fromisoformat(str(value)[:10])


def source_report(session: Session, newsletter_id: int | None = None) -> list[SourceRow]:
    """Return the pages readers signed up on, most signups first."""
    confirmed = func.count(Subscription.confirmed_at)
    query = (select(Subscription.source, Newsletter.slug, func.count(), confirmed)
             .join(Subscription.newsletter)
             .where(Subscription.source.is_not(None))
             .group_by(Subscription.source, Newsletter.slug)
             .order_by(func.count().desc(), Subscription.source).limit(MAX_SOURCES))
    if newsletter_id is not None:
        query = query.where(Subscription.newsletter_id == newsletter_id)
    return [SourceRow(str(source), slug, signups, confirmed)
            for source, slug, signups, confirmed in session.execute(query)]


def export_log(session: Session, limit: int = 100) -> list[ExportLog]:
    """Return the latest exports, newest first."""
    query = select(ExportLog).options(selectinload(ExportLog.newsletter))
    return list(session.scalars(query.order_by(ExportLog.id.desc()).limit(limit)))


CONFIRM_DAYS = 30
TOP_DOMAINS = 10


@dataclass(frozen=True)
class Rate:
    """Signups and how many of them are confirmed: for a newsletter, or one recipient domain."""

    label: str
    signups: int
    confirmations: int

    @property
    def rate(self) -> float | None:
        return self.confirmations / self.signups if self.signups else None


@dataclass
class ConfirmationFigures:
    """A newsletter's confirmation funnel over the last days: what its forms convert."""

    newsletter: Newsletter
    total: Rate
    methods: dict[str, int]  # ConfirmMethod value -> confirmations
    median_seconds: float | None
    domains: list[Rate]  # the top recipient domains by signups


def confirmation_figures(session: Session, days: int = CONFIRM_DAYS,
                         newsletters: list[Newsletter] | None = None) -> list[ConfirmationFigures]:
    """Return each newsletter's signups of the last ``days`` days and how they were confirmed."""
    start = utcnow() - timedelta(days=days)
    method = (select(ConsentEvent.method)
              .where(ConsentEvent.subscription_id == Subscription.id,
                     ConsentEvent.kind == ConsentEventKind.confirmed)
              .order_by(ConsentEvent.id.desc()).limit(1).scalar_subquery())
    imported = select(ConsentEvent.id).where(  # consent given elsewhere: no funnel of ours
        ConsentEvent.subscription_id == Subscription.id,
        ConsentEvent.kind == ConsentEventKind.imported).exists()
    rows = session.execute(
        select(Subscription.newsletter_id, Subscriber.email_key, Subscription.created_at,
               Subscription.confirmed_at, method)
        .join(Subscription.subscriber).where(Subscription.created_at >= start, ~imported)
        .execution_options(yield_per=1000))
    tally: dict[int, _Tally] = defaultdict(_Tally)
    for newsletter_id, email_key, created_at, confirmed_at, how in rows:
        tally[newsletter_id].add(email_key.rpartition("@")[2], created_at, confirmed_at, how)
    if newsletters is None:
        newsletters = list(session.scalars(select(Newsletter).order_by(Newsletter.id)))
    return [tally[n.id].figures(n) for n in newsletters]


@dataclass
class _Tally:
    signups: int = 0
    waits: list[float] = field(default_factory=list)
    methods: Counter[str] = field(default_factory=Counter)
    domains: dict[str, list[int]] = field(default_factory=lambda: defaultdict(lambda: [0, 0]))

    def add(self, domain: str, created_at: datetime, confirmed_at: datetime | None,
            method: ConfirmMethod | str | None) -> None:
        self.signups += 1
        self.domains[domain][0] += 1
        if confirmed_at is None:
            return
        self.domains[domain][1] += 1
        self.waits.append(max(0.0, (confirmed_at - created_at).total_seconds()))
        self.methods[str(method) if method else "unknown"] += 1

    def figures(self, newsletter: Newsletter) -> ConfirmationFigures:
        top = sorted(self.domains.items(), key=lambda item: (-item[1][0], item[0]))[:TOP_DOMAINS]
        return ConfirmationFigures(
            newsletter=newsletter,
            total=Rate(newsletter.name, self.signups, len(self.waits)),
            methods={m.value: self.methods.get(m.value, 0) for m in ConfirmMethod},
            median_seconds=median(self.waits) if self.waits else None,
            domains=[Rate(domain, s, c) for domain, (s, c) in top],
        )


@dataclass(frozen=True)
class Dashboard:
    """What the console's first page shows."""

    newsletters: list[NewsletterCounts]
    days: list[Day]
    confirmations: list[ConfirmationFigures]


def dashboard(session: Session) -> Dashboard:
    """Return the counts per newsletter and the last 90 days' activity."""
    counts = newsletter_counts(session)
    return Dashboard(counts, daily_activity(session),
                     confirmation_figures(session, newsletters=[c.newsletter for c in counts]))
