"""The models and the migrations describe one schema: a model change needs its migration."""

from __future__ import annotations

from flask import Flask

from newsletter_service import migrate


def test_models_match_the_migrated_schema(db_app: Flask) -> None:
    engine = db_app.extensions["db_engine"]
    assert migrate.is_at_head(engine)
    # Not empty? Write the migration: newsletter-service db revision -m "what changed".
    assert migrate.drift(engine) == []
