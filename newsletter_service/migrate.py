"""Schema migrations: run Alembic from the package, on the app's engine."""

from __future__ import annotations

from functools import cache
from typing import Any

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine

from . import models  # noqa: F401 - registers the tables on Base.metadata
from .db import READ_ONLY, Base
from .resources import migrations_dir


def alembic_config(engine: Engine) -> Config:
    """Return an Alembic config that runs on ``engine``'s connections."""
    config = _script_config()
    config.attributes["engine"] = engine
    return config


def _script_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(migrations_dir()))
    return config


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Create or migrate the schema up to ``revision``."""
    command.upgrade(alembic_config(engine), revision)


def downgrade(engine: Engine, revision: str) -> None:
    """Migrate the schema down to ``revision``."""
    command.downgrade(alembic_config(engine), revision)


def revision(engine: Engine, message: str) -> str:
    """Write a new migration script from the models' difference to ``engine``'s schema.

    The database must be at head; review the script before committing it (Alembic's
    autogenerate sees tables, columns, indexes and types, not data migrations).
    """
    scripts = ScriptDirectory.from_config(_script_config())
    numbers = [int(r.revision) for r in scripts.walk_revisions() if r.revision.isdigit()]
    rev_id = f"{max(numbers, default=0) + 1:04d}"  # 0009_<message>.py, next in the chain
    script = command.revision(alembic_config(engine), message=message, autogenerate=True,
                              rev_id=rev_id)
    assert script is not None and not isinstance(script, list)
    return str(script.path)


def drift(engine: Engine) -> list[Any]:
    """Return how the models differ from ``engine``'s migrated schema (empty: they agree)."""
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return list(compare_metadata(context, Base.metadata))


@cache
def script_heads() -> frozenset[str]:
    """Return the head revisions of the migration scripts (fixed for the life of the process)."""
    return frozenset(ScriptDirectory.from_config(_script_config()).get_heads())


def current_revisions(engine: Engine) -> frozenset[str]:
    """Return the revisions the database is at; empty when it was never migrated."""
    with engine.connect() as connection:
        connection.execution_options(**{READ_ONLY: True})  # SQLite: a probe takes no write lock
        return frozenset(MigrationContext.configure(connection).get_current_heads())


def is_at_head(engine: Engine) -> bool:
    """Tell whether the database's schema is at the scripts' head."""
    return current_revisions(engine) == script_heads()
