"""confirmation codes and not-me blocks (issue 13)

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-28 05:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

CONFIRM_METHODS = ("code", "link", "one_click")
GMAIL_DOMAINS = ("gmail.com", "googlemail.com")


def upgrade() -> None:
    op.create_table(
        "confirmation_codes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("subscriber_id", sa.Integer(), nullable=False),
        sa.Column("code_hash", sa.String(length=64), nullable=False),
        sa.Column("targets", sa.Text(), nullable=False),
        sa.Column("failures", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["subscriber_id"], ["subscribers.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_confirmation_codes_subscriber_id", "confirmation_codes",
                    ["subscriber_id"])
    op.create_table(
        "not_me_blocks",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("mailbox_key", sa.String(length=254), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("until", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("mailbox_key"),
    )
    with op.batch_alter_table("consent_events") as batch_op:
        batch_op.add_column(sa.Column(
            "method", sa.Enum(*CONFIRM_METHODS, name="confirm_method", native_enum=False,
                              length=20), nullable=True))
    with op.batch_alter_table("outbox") as batch_op:
        batch_op.add_column(sa.Column("mailbox_key", sa.String(length=254), nullable=True))
        batch_op.add_column(sa.Column("recipient_domain", sa.String(length=253), nullable=True))
        batch_op.create_index("ix_outbox_mailbox_created", ["mailbox_key", "created_at"])
        batch_op.create_index("ix_outbox_domain_sent", ["recipient_domain", "sent_at"])
    _fill_mailbox_keys()


def _fill_mailbox_keys() -> None:
    """Key the confirmations already queued, so the throttle counts them after the upgrade."""
    outbox = sa.table("outbox", sa.column("id", sa.Integer()), sa.column("kind", sa.String()),
                      sa.column("recipient", sa.String()), sa.column("mailbox_key", sa.String()),
                      sa.column("recipient_domain", sa.String()))
    connection = op.get_bind()
    rows = connection.execute(
        sa.select(outbox.c.id, outbox.c.recipient).where(outbox.c.kind == "confirm")).all()
    for row_id, recipient in rows:
        key = _mailbox_key(recipient)  # the migration keeps its own copy: code moves on
        connection.execute(outbox.update().where(outbox.c.id == row_id).values(
            mailbox_key=key, recipient_domain=key.rpartition("@")[2]))


def _mailbox_key(address: str) -> str:
    local, _, domain = address.strip().lower().rpartition("@")
    local = local.split("+", 1)[0] or local
    if domain in GMAIL_DOMAINS:
        local, domain = local.replace(".", ""), "gmail.com"
    return f"{local}@{domain}"


def downgrade() -> None:
    with op.batch_alter_table("outbox") as batch_op:
        batch_op.drop_index("ix_outbox_domain_sent")
        batch_op.drop_index("ix_outbox_mailbox_created")
        batch_op.drop_column("recipient_domain")
        batch_op.drop_column("mailbox_key")
    with op.batch_alter_table("consent_events") as batch_op:
        batch_op.drop_column("method")
    op.drop_table("not_me_blocks")
    op.drop_index("ix_confirmation_codes_subscriber_id", table_name="confirmation_codes")
    op.drop_table("confirmation_codes")
