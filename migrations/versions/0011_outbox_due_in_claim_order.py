"""the outbox's due index in the claims' order: (status, next_attempt_at, id) (issue 17)

The worker claimed due rows by id. Neither database could read them in that order from
(status, next_attempt_at): SQLite read every due row and sorted them, PostgreSQL walked the
primary key past every sent row the outbox keeps (125 ms a claim with 45,000 sent). The
claims now take due rows by (next_attempt_at, id), which this index gives as it is stored.

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-28 15:00:00
"""

from __future__ import annotations

from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.drop_index("ix_outbox_due", table_name="outbox")
    op.create_index("ix_outbox_due", "outbox", ["status", "next_attempt_at", "id"])


def downgrade() -> None:
    op.drop_index("ix_outbox_due", table_name="outbox")
    op.create_index("ix_outbox_due", "outbox", ["status", "next_attempt_at"])
