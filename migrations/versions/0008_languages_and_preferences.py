"""newsletter languages and readers' preference tokens (issue 14)

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-28 05:00:00
"""

from __future__ import annotations

import secrets

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

BATCH = 1000


def upgrade() -> None:
    with op.batch_alter_table("newsletters") as batch_op:
        batch_op.add_column(
            sa.Column("language", sa.String(length=8), nullable=False, server_default="en")
        )
    with op.batch_alter_table("subscribers") as batch_op:
        batch_op.add_column(sa.Column("manage_token", sa.String(length=64), nullable=True))
    _give_every_reader_a_token()
    with op.batch_alter_table("subscribers") as batch_op:
        batch_op.alter_column("manage_token", existing_type=sa.String(length=64),
                              nullable=False)
        batch_op.create_unique_constraint("uq_subscribers_manage_token", ["manage_token"])


def _give_every_reader_a_token() -> None:
    """Give each existing reader its own random preference-centre token, a batch at a time."""
    connection = op.get_bind()
    subscribers = sa.table("subscribers", sa.column("id", sa.Integer),
                           sa.column("manage_token", sa.String))
    while True:
        ids = connection.scalars(
            sa.select(subscribers.c.id).where(subscribers.c.manage_token.is_(None))
            .limit(BATCH)).all()
        if not ids:
            return
        for subscriber_id in ids:
            connection.execute(subscribers.update().where(subscribers.c.id == subscriber_id)
                               .values(manage_token=secrets.token_urlsafe(32)))


def downgrade() -> None:
    with op.batch_alter_table("subscribers") as batch_op:
        batch_op.drop_constraint("uq_subscribers_manage_token", type_="unique")
        batch_op.drop_column("manage_token")
    with op.batch_alter_table("newsletters") as batch_op:
        batch_op.drop_column("language")
