"""Alembic environment: the engine comes from the app (see newsletter_service.migrate)."""

from __future__ import annotations

from alembic import context

from newsletter_service import models  # noqa: F401  (registers the tables)
from newsletter_service.db import Base

config = context.config
engine = config.attributes["engine"]

with engine.connect() as connection:
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=connection.dialect.name == "sqlite",  # SQLite needs table rebuilds
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()
    connection.commit()
