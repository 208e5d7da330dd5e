"""newsletter challenge: an optional proof of work or CAPTCHA per newsletter

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-27 13:05:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("newsletters") as batch_op:
        batch_op.add_column(
            sa.Column("challenge", sa.String(length=20), nullable=False, server_default="none")
        )


def downgrade() -> None:
    with op.batch_alter_table("newsletters") as batch_op:
        batch_op.drop_column("challenge")
