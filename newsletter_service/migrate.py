"""Schema migrations: run Alembic from the package, on the app's engine."""

from __future__ import annotations

from functools import cache

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine

from .db import READ_ONLY
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
