"""The signup floor: a bare Flask app doing the least a signup must do in the database.

One endpoint parses the same JSON as the service and, in one transaction, inserts the
same subscriber, subscription and outbox rows with SQLAlchemy Core (``INSERT ... ON
CONFLICT DO NOTHING``), the outbox row carrying a fixed pre-rendered email. No address
validation, no form, no token, no template, no consent event: what the service does on
top of this is what the benchmark prices.

Served as ``gunicorn 'benchmarks.floor_app:create_app()'`` with NEWSLETTER_DATABASE_URL.
It uses the service's ``make_engine`` so that both sides talk to the database alike
(SQLite: WAL, busy timeout, BEGIN IMMEDIATE; PostgreSQL: psycopg 3, pool_pre_ping).
"""

from __future__ import annotations

import os
import secrets
from datetime import UTC, datetime
from typing import Any

from flask import Flask, abort, jsonify, request
from sqlalchemy import MetaData, Table, select, text
from sqlalchemy.dialects import postgresql, sqlite

from newsletter_service.db import make_engine

BLOB = (b"From: The Benchmark Daily <newsletter@localhost.localdomain>\r\n"
        b"To: reader@example.com\r\nSubject: Confirm your subscription\r\n"
        b"MIME-Version: 1.0\r\nContent-Type: text/plain; charset=\"utf-8\"\r\n\r\n"
        + b"Please confirm: " + b"x" * 2000 + b"\r\n")


def create_app() -> Flask:
    """Return the floor app on the database NEWSLETTER_DATABASE_URL names."""
    app = Flask(__name__)
    engine = make_engine(os.environ["NEWSLETTER_DATABASE_URL"])
    tables = MetaData()
    tables.reflect(engine, only=["newsletters", "subscribers", "subscriptions", "outbox"])
    insert = postgresql.insert if engine.dialect.name == "postgresql" else sqlite.insert
    newsletters, subscribers, subscriptions, outbox = (
        tables.tables[n] for n in ("newsletters", "subscribers", "subscriptions", "outbox"))

    @app.post("/newsletters/<slug>/subscribe")
    def subscribe(slug: str) -> Any:
        payload = request.get_json(silent=True)
        email = payload.get("email") if isinstance(payload, dict) else None
        if not isinstance(email, str) or "@" not in email:
            abort(422)
        now = datetime.now(UTC)
        with engine.begin() as db:
            newsletter_id = db.scalar(select(newsletters.c.id).where(newsletters.c.slug == slug))
            if newsletter_id is None:
                abort(404)
            subscriber_id = _upsert_id(db, insert, subscribers,
                                       {"email": email, "email_key": email.lower(),
                                        "created_at": now,
                                        # reflected: no Python default; NOT NULL, unique
                                        "manage_token": secrets.token_urlsafe(24)},
                                       ["email_key"])
            subscription_id = _upsert_id(db, insert, subscriptions,
                                         {"subscriber_id": subscriber_id,
                                          "newsletter_id": newsletter_id, "status": "pending",
                                          "token_version": 1, "consent_given": False,
                                          "created_at": now},
                                         ["subscriber_id", "newsletter_id"])
            db.execute(outbox.insert().values(
                kind="confirm", subscriber_id=subscriber_id, subscription_id=subscription_id,
                recipient=email, message=BLOB, status="pending", attempts=0,
                next_attempt_at=now, created_at=now))
        return jsonify(ok=True, status="pending")

    @app.get("/healthz")
    def healthz() -> Any:
        with engine.connect() as db:
            db.execute(text("SELECT 1"))
        return jsonify(ok=True)

    app.extensions["floor_engine"] = engine
    return app


def _upsert_id(db: Any, insert: Any, table: Table, values: dict[str, Any],
               keys: list[str]) -> int:
    """Insert unless the unique ``keys`` exist; return the row's id either way."""
    new_id = db.scalar(insert(table).values(**values).on_conflict_do_nothing(index_elements=keys)
                       .returning(table.c.id))
    if new_id is not None:
        return int(new_id)
    where = [table.c[k] == values[k] for k in keys]
    return int(db.scalar(select(table.c.id).where(*where)))
