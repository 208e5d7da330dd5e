"""Benchmark 3 (issue 7): signup latency with 10,000 and with 1,000,000 readers stored.

    .venv/bin/python benchmarks/bench_growth.py [--quick] [--db sqlite|postgresql]

Two databases are filled in bulk (SQLite: executemany in batches of 10,000; PostgreSQL:
COPY) with N confirmed readers, their subscriptions and their sent confirmation emails
(a small blob each). The service and the floor app then serve each database (4 gunicorns,
2 sync workers each, core 0) and wrk (core 1) posts new signups, alternating over the four
for 3 rounds. Latency should not grow with N: every signup query is an index lookup,
which the script also checks with EXPLAIN on the large database. --quick: 1,000 and
10,000 readers.
"""

from __future__ import annotations

import sqlite3
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sqlalchemy import text  # noqa: E402
from sqlalchemy.engine import make_url  # noqa: E402

from benchmarks.bench_signup import FLOOR_APP, signup_path  # noqa: E402
from benchmarks.common import (  # noqa: E402
    SECTION,
    Result,
    Server,
    create_newsletter,
    database,
    latency,
    log,
    medians,
    run_on_each_database,
    run_wrk,
    service_env,
)
from newsletter_service.db import make_engine  # noqa: E402

BATCH = 10_000
BLOB = b"From: x\r\nTo: y\r\nSubject: confirm\r\n\r\n" + b"x" * 64
FLAT_P50 = 1.5  # p50 with the large table / p50 with the small one, at most
FLAT_P99 = 2.0  # tails are noisier


def _rows(n: int, start: datetime) -> Iterator[tuple[tuple, tuple, tuple]]:  # type: ignore[type-arg]
    for i in range(1, n + 1):
        email = f"seed{i}@example.com"
        yield ((i, email, email, start, f"seed-manage-{i}"),  # manage_token: unique, NOT NULL
               (i, i, 1, "confirmed", 1, False, start, start),
               (i, "confirm", i, i, email, BLOB, "sent", 1, start, start, start))


def seed_sqlite(url: str, n: int) -> None:
    """Insert ``n`` readers with executemany, 10,000 rows a batch, in one transaction."""
    path = make_url(url).database
    assert path
    start = (datetime.now(UTC) - timedelta(days=30)).strftime("%Y-%m-%d %H:%M:%S.%f")
    connection = sqlite3.connect(path, isolation_level=None)
    connection.execute("PRAGMA synchronous=OFF")
    connection.execute("BEGIN")
    statements = [
        "INSERT INTO subscribers (id, email, email_key, created_at, manage_token)"
        " VALUES (?, ?, ?, ?, ?)",
        "INSERT INTO subscriptions (id, subscriber_id, newsletter_id, status, token_version,"
        " consent_given, created_at, confirmed_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        "INSERT INTO outbox (id, kind, subscriber_id, subscription_id, recipient, message,"
        " status, attempts, next_attempt_at, created_at, sent_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    ]
    batch: list[tuple[tuple, tuple, tuple]] = []  # type: ignore[type-arg]
    for rows in _rows(n, start):  # type: ignore[arg-type]
        batch.append(rows)
        if len(batch) == BATCH:
            _flush_sqlite(connection, statements, batch)
    _flush_sqlite(connection, statements, batch)
    connection.execute("COMMIT")
    connection.close()


def _flush_sqlite(connection: sqlite3.Connection, statements: list[str],
                  batch: list) -> None:  # type: ignore[type-arg]
    for index, statement in enumerate(statements):
        connection.executemany(statement, (rows[index] for rows in batch))
    batch.clear()


def seed_postgres(url: str, n: int) -> None:
    """Insert ``n`` readers with COPY, then set the id sequences and ANALYZE."""
    import psycopg

    start = (datetime.now(UTC) - timedelta(days=30)).isoformat()
    conninfo = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    blob = "\\\\x" + BLOB.hex()
    copies = {
        "subscribers (id, email, email_key, created_at, manage_token)":
            lambda i, e: f"{i}\t{e}\t{e}\t{start}\tseed-manage-{i}\n",
        "subscriptions (id, subscriber_id, newsletter_id, status, token_version, consent_given,"
        " created_at, confirmed_at)":
            lambda i, e: f"{i}\t{i}\t1\tconfirmed\t1\tf\t{start}\t{start}\n",
        "outbox (id, kind, subscriber_id, subscription_id, recipient, message, status, attempts,"
        " next_attempt_at, created_at, sent_at)":
            lambda i, e: (f"{i}\tconfirm\t{i}\t{i}\t{e}\t{blob}\tsent\t1\t"
                          f"{start}\t{start}\t{start}\n"),
    }
    with psycopg.connect(conninfo) as connection, connection.cursor() as cursor:
        for target, line in copies.items():
            with cursor.copy(f"COPY {target} FROM STDIN") as copy:
                for first in range(1, n + 1, BATCH):
                    copy.write("".join(line(i, f"seed{i}@example.com")
                                       for i in range(first, min(first + BATCH, n + 1))))
        for table in ("subscribers", "subscriptions", "outbox"):
            cursor.execute(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                           f"(SELECT max(id) FROM {table}))")
        connection.commit()
        connection.autocommit = True
        cursor.execute("ANALYZE")


# The lookups a signup makes, as the ORM writes them (EXPLAIN must show no table scan).
SIGNUP_LOOKUPS = [
    "SELECT id FROM subscribers WHERE email_key = 'seed77@example.com'",
    "SELECT * FROM subscriptions WHERE subscriber_id = 77 AND newsletter_id = 1",
    "SELECT count(*) FROM outbox WHERE subscriber_id = 77 AND kind = 'confirm' "
    "AND created_at > '2000-01-01'",
    "SELECT created_at FROM outbox WHERE subscriber_id = 77 AND kind = 'confirm' "
    "AND subscription_id IN (77) ORDER BY created_at DESC LIMIT 1",
]


def check_plans(url: str) -> list[str]:
    """Return the signup lookups whose plan scans a whole table."""
    engine = make_engine(url)
    scans = []
    with engine.connect() as db:
        for query in SIGNUP_LOOKUPS:
            if engine.dialect.name == "sqlite":
                plan = " / ".join(r[-1] for r in db.execute(text(f"EXPLAIN QUERY PLAN {query}")))
                full = any(p.startswith("SCAN") and "USING" not in p for p in plan.split(" / "))
            else:
                plan = " / ".join(r[0].strip() for r in db.execute(text(f"EXPLAIN {query}")))
                full = "Seq Scan" in plan
            log(f"  plan: {query[:60]}... -> {plan}")
            if full:
                scans.append(query)
    engine.dispose()
    return scans


def seed(kind: str, url: str, n: int) -> None:
    engine = make_engine(url)
    create_newsletter(engine)
    engine.dispose()
    started = time.perf_counter()
    (seed_sqlite if kind == "sqlite" else seed_postgres)(url, n)
    log(f"  stored {n:,} readers, subscriptions and sent emails in "
        f"{time.perf_counter() - started:.1f} s")


def measure(kind: str, quick: bool, rounds: int = 3) -> list[Result]:
    """Run the growth benchmark on two fresh databases of ``kind``."""
    sizes = (1_000, 10_000) if quick else (10_000, 1_000_000)
    seconds = 2 if quick else 5
    section = SECTION[kind]
    log(f"{section}: growth, {sizes[0]:,} and {sizes[1]:,} readers, wrk -c8 -d{seconds}s")
    with ExitStack() as stack:
        targets: dict[tuple[str, int], str] = {}
        for n in sizes:
            url = stack.enter_context(database(kind))
            seed(kind, url, n)
            if n == sizes[1] and (scans := check_plans(url)):
                log(f"  WARNING: table scans in {scans}")
            for side, server in (("service", Server("wsgi:app", service_env(url), worker=True)),
                                 ("floor", Server(FLOOR_APP, {"NEWSLETTER_DATABASE_URL": url}))):
                stack.enter_context(server)
                targets[side, n] = signup_path(server)
        for target in targets.values():
            run_wrk(target, 1)
        samples: dict[tuple[str, int], list[dict[str, float]]] = {key: [] for key in targets}
        keys = list(targets)
        for index in range(rounds):
            for key in keys[index % len(keys):] + keys[:index % len(keys)]:  # rotate the order
                samples[key].append(run_wrk(targets[key], seconds))
                log(f"  growth round {index + 1} {key[0]}@{key[1]:,}: "
                    f"p50={samples[key][-1]['p50_ms']:.1f} ms p99={samples[key][-1]['p99_ms']:.1f}"
                    f" ms {samples[key][-1]['req_s']:.0f} req/s")
    m = {key: medians(values) for key, values in samples.items()}
    small, large = sizes
    rows = []
    for n in sizes:
        for pct in ("p50", "p99"):
            rows.append(latency(section, f"signup {pct} with {n:,} readers stored",
                                m["service", n][f"{pct}_ms"], m["floor", n][f"{pct}_ms"]))
    for pct, flat in (("p50", FLAT_P50), ("p99", FLAT_P99)):
        at_small, at_large = m["service", small][f"{pct}_ms"], m["service", large][f"{pct}_ms"]
        rows.append(Result(section, f"service {pct}: {large:,} vs {small:,} readers (flat?)",
                           at_large, at_small, "ms", at_large / at_small, flat, False,
                           f"here 'service' is the service with {large:,} readers and 'floor' "
                           f"the service with {small:,}; ratio = large/small"))
    return rows


def main(argv: list[str] | None = None) -> list[Result]:
    """Run on SQLite and PostgreSQL; print and return the rows."""
    return run_on_each_database(measure, argv)


if __name__ == "__main__":
    main()
