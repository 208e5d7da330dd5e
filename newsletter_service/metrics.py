"""Prometheus metrics: business counts read from the database at scrape time, request latency.

The counts (signups, confirmations, unsubscribes, the outbox) are SQL aggregates run when
Prometheus scrapes, so every gunicorn worker answers the same numbers whichever one is
asked: no shared state, no multiprocess mode needed for them. Counters come from the
consent events, which only grow; erasing a reader removes their events, and Prometheus reads
the drop as a counter reset.

The request latency histogram lives in each process. With ``PROMETHEUS_MULTIPROC_DIR`` set
(before the app starts; an empty directory, wiped at each start) prometheus_client writes it
to files there and a scrape sums every worker's; without it, a scrape shows only the worker
that answered, which is right for one worker and a sample for several.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Histogram, multiprocess
from prometheus_client.exposition import choose_encoder
from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import Connection, Engine, func, select
from sqlalchemy.exc import SQLAlchemyError

from .db import READ_ONLY
from .models import (
    ConsentEvent,
    ConsentEventKind,
    Newsletter,
    OutboxMessage,
    OutboxStatus,
    SignupRequest,
    Subscription,
    utcnow,
)

log = logging.getLogger(__name__)
PREFIX = "newsletter"
# Buckets from a cached page (a few ms) to a slow signup under load (seconds).
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
# Consent event kind -> (counter, label value of "via" or None).
EVENT_COUNTERS = {
    ConsentEventKind.subscribed: ("signups", "form"),
    ConsentEventKind.imported: ("signups", "import"),
    ConsentEventKind.confirmed: ("confirmations", None),
    ConsentEventKind.unsubscribed: ("unsubscribes", None),
}


@dataclass(frozen=True)
class Metrics:
    """One app's metrics: its registry (with the database collector) and its histogram."""

    registry: CollectorRegistry
    database: Collector
    request_latency: Histogram


def create_metrics(engine: Engine) -> Metrics:
    """Create the registry, the database collector and the request latency histogram."""
    registry = CollectorRegistry(auto_describe=True)
    database = DatabaseCollector(engine)
    registry.register(database)
    latency = Histogram(f"{PREFIX}_http_request_duration_seconds",
                        "Time to answer a request, by method, URL rule and status.",
                        ["method", "route", "status"], buckets=LATENCY_BUCKETS,
                        registry=None if _multiprocess() else registry)
    return Metrics(registry, database, latency)


def observe_request(metrics: Metrics, method: str, route: str, status: int,
                    seconds: float) -> None:
    """Record one answered request in the latency histogram."""
    metrics.request_latency.labels(method, route, str(status)).observe(seconds)


def exposition(metrics: Metrics, accept: str) -> tuple[bytes, str]:
    """Return the scrape's body and content type (Prometheus text, or OpenMetrics if asked)."""
    encoder, content_type = choose_encoder(accept)
    if not _multiprocess():
        return encoder(metrics.registry), content_type
    registry = CollectorRegistry()  # a fresh one per scrape, as prometheus_client advises
    multiprocess.MultiProcessCollector(registry)
    registry.register(metrics.database)
    return encoder(registry), content_type


def _multiprocess() -> bool:
    return bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))


class DatabaseCollector(Collector):
    """Yield the business metrics from SQL aggregates, at each scrape."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def describe(self) -> Iterable[Metric]:
        return []  # the families are known only by collecting; nothing to check up front

    def collect(self) -> Iterator[Metric]:
        up = GaugeMetricFamily(f"{PREFIX}_database_up",
                               "1 when the database answered this scrape's queries.")
        try:
            with self.engine.connect() as connection:
                connection.execution_options(**{READ_ONLY: True})  # SQLite: no write lock
                families = [*_event_counters(connection), *_subscription_gauges(connection),
                            *_outbox_metrics(connection), _signups_waiting(connection)]
        except SQLAlchemyError as error:
            log.warning("metrics: the database did not answer: %s", type(error).__name__)
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        yield from families


def _slugs(connection: Connection) -> list[str]:
    return list(connection.scalars(select(Newsletter.slug).order_by(Newsletter.slug)))


def _event_counters(connection: Connection) -> list[Metric]:
    """Signups, confirmations and unsubscribes by newsletter (zero where none yet)."""
    signups = CounterMetricFamily(f"{PREFIX}_signups", "Signups by newsletter: from forms "
                                  "and the API (via=form) or imports (via=import).",
                                  labels=["newsletter", "via"])
    confirmations = CounterMetricFamily(f"{PREFIX}_confirmations",
                                        "Confirmed subscriptions by newsletter.",
                                        labels=["newsletter"])
    unsubscribes = CounterMetricFamily(f"{PREFIX}_unsubscribes", "Unsubscribes by newsletter.",
                                       labels=["newsletter"])
    counts = {(slug, kind): 0 for slug in _slugs(connection) for kind in EVENT_COUNTERS}
    rows = connection.execute(
        select(Newsletter.slug, ConsentEvent.kind, func.count())
        .join(Subscription, Subscription.id == ConsentEvent.subscription_id)
        .join(Newsletter, Newsletter.id == Subscription.newsletter_id)
        .where(ConsentEvent.kind.in_(list(EVENT_COUNTERS)))
        .group_by(Newsletter.slug, ConsentEvent.kind)
    )
    counts.update({(slug, kind): count for slug, kind, count in rows})
    families = {"signups": signups, "confirmations": confirmations, "unsubscribes": unsubscribes}
    for (slug, kind), count in sorted(counts.items()):
        name, via = EVENT_COUNTERS[kind]
        families[name].add_metric([slug, via] if via else [slug], count)
    return list(families.values())


def _subscription_gauges(connection: Connection) -> list[Metric]:
    """Subscriptions by newsletter and status, as they stand."""
    gauge = GaugeMetricFamily(f"{PREFIX}_subscriptions", "Subscriptions by newsletter and status.",
                              labels=["newsletter", "status"])
    rows = connection.execute(
        select(Newsletter.slug, Subscription.status, func.count())
        .join(Newsletter, Newsletter.id == Subscription.newsletter_id)
        .group_by(Newsletter.slug, Subscription.status)
    )
    for slug, status, count in sorted(rows):
        gauge.add_metric([slug, str(status)], count)
    return [gauge]


def _signups_waiting(connection: Connection) -> Metric:
    """Signups answered but not carried out yet (signup_queue.py): near 0 when all is well."""
    gauge = GaugeMetricFamily(
        f"{PREFIX}_signup_requests_waiting",
        "Signups answered but not carried out yet; the web process does them at once, the "
        "worker what it left. Those failed 5 times wait for an operator (see the log).")
    gauge.add_metric([], connection.scalar(select(func.count()).select_from(SignupRequest)) or 0)
    return gauge


def _outbox_metrics(connection: Connection) -> list[Metric]:
    """Outbox depth, the age of its oldest pending message, and failures by email kind."""
    depth = GaugeMetricFamily(f"{PREFIX}_outbox_pending", "Messages waiting in the outbox.")
    age = GaugeMetricFamily(f"{PREFIX}_outbox_oldest_pending_age_seconds",
                            "Age of the oldest message waiting in the outbox (0: none).")
    failures = GaugeMetricFamily(
        f"{PREFIX}_outbox_failures",
        "Messages whose sending failed, by kind: retrying (a temporary failure, to be tried "
        "again) or failed (given up: permanent, or out of attempts).",
        labels=["kind", "state"])
    pending = OutboxMessage.status == OutboxStatus.pending
    count, oldest = connection.execute(
        select(func.count(), func.min(OutboxMessage.created_at)).where(pending)).one()
    depth.add_metric([], count)
    age.add_metric([], max(0.0, (utcnow() - oldest).total_seconds()) if oldest else 0.0)
    failing = (OutboxMessage.status == OutboxStatus.failed) | (
        pending & OutboxMessage.last_error.is_not(None))
    rows = connection.execute(
        select(OutboxMessage.kind, OutboxMessage.status, func.count())
        .where(failing).group_by(OutboxMessage.kind, OutboxMessage.status))
    for kind, status, n in sorted(rows):
        failures.add_metric([kind, "failed" if status == OutboxStatus.failed else "retrying"], n)
    return [depth, age, failures]
