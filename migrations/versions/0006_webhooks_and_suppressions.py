"""webhook endpoints and deliveries, sync targets, suppressions (issue 15)

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-28 05:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "webhook_endpoints",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("url", sa.String(length=2048), nullable=False),
        sa.Column("secret", sa.String(length=100), nullable=True),
        sa.Column("events", sa.Text(), nullable=False),
        sa.Column("list_id", sa.Integer(), nullable=True),
        sa.Column("api_user", sa.String(length=200), nullable=True),
        sa.Column("api_token", sa.String(length=500), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("failing_since", sa.DateTime(timezone=True), nullable=True),
        sa.Column("paused_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_success_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_table(
        "suppressions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("key_hash", sa.String(length=64), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=True),
        sa.Column(
            "reason",
            sa.Enum("bounce", "complaint", "manual", name="suppression_reason",
                    native_enum=False, length=20),
            nullable=False,
        ),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("key_hash"),
    )
    with op.batch_alter_table("outbox") as batch_op:
        batch_op.add_column(sa.Column("endpoint_id", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("webhook_id", sa.String(length=64), nullable=True))
        batch_op.create_foreign_key("fk_outbox_endpoint_id_webhook_endpoints",
                                    "webhook_endpoints", ["endpoint_id"], ["id"],
                                    ondelete="CASCADE")
        batch_op.create_index("ix_outbox_endpoint_subscriber",
                              ["endpoint_id", "subscriber_id", "status"])


def downgrade() -> None:
    with op.batch_alter_table("outbox") as batch_op:
        batch_op.drop_index("ix_outbox_endpoint_subscriber")
        batch_op.drop_constraint("fk_outbox_endpoint_id_webhook_endpoints", type_="foreignkey")
        batch_op.drop_column("webhook_id")
        batch_op.drop_column("endpoint_id")
    op.drop_table("suppressions")
    op.drop_table("webhook_endpoints")
