"""console sessions that can end, login failures per address and IP, used challenges

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-28 04:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("admins") as batch_op:
        batch_op.add_column(
            sa.Column("session_version", sa.Integer(), nullable=False, server_default="1")
        )
        batch_op.add_column(
            sa.Column("is_disabled", sa.Boolean(), nullable=False, server_default=sa.false())
        )
    op.execute("UPDATE login_failures SET ip = 'unknown' WHERE ip IS NULL")
    with op.batch_alter_table("login_failures") as batch_op:
        batch_op.alter_column("ip", existing_type=sa.String(length=45), nullable=False)
        batch_op.drop_index("ix_login_failures_email_at")
        batch_op.create_index("ix_login_failures_email_ip_at", ["email", "ip", "at"])
        batch_op.create_index("ix_login_failures_ip_at", ["ip", "at"])
    op.create_table(
        "used_challenges",
        sa.Column("signature", sa.String(length=128), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("signature"),
    )
    op.create_index("ix_used_challenges_expires_at", "used_challenges", ["expires_at"])


def downgrade() -> None:
    op.drop_index("ix_used_challenges_expires_at", table_name="used_challenges")
    op.drop_table("used_challenges")
    with op.batch_alter_table("login_failures") as batch_op:
        batch_op.drop_index("ix_login_failures_ip_at")
        batch_op.drop_index("ix_login_failures_email_ip_at")
        batch_op.create_index("ix_login_failures_email_at", ["email", "at"])
        batch_op.alter_column("ip", existing_type=sa.String(length=45), nullable=True)
    with op.batch_alter_table("admins") as batch_op:
        batch_op.drop_column("is_disabled")
        batch_op.drop_column("session_version")
