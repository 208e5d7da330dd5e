"""an index in export order: a newsletter's subscriptions by id (issue 17)

An export with every status read the (newsletter_id, status) index and sorted all its rows
by id before the first one could leave (on SQLite a temporary B-tree: 3 s and the whole
result held before the first byte at 1,000,000 rows). With (newsletter_id, id) the rows come
in export order, streamed from the first.

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-28 14:00:00
"""

from __future__ import annotations

from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_subscriptions_newsletter_id", "subscriptions", ["newsletter_id", "id"])


def downgrade() -> None:
    op.drop_index("ix_subscriptions_newsletter_id", table_name="subscriptions")
