"""outbox rows keep their envelope sender (issue 12)

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-28 05:00:00
"""

from __future__ import annotations

from email.headerregistry import Address
from email.parser import BytesHeaderParser
from email.policy import SMTPUTF8

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

outbox = sa.table("outbox", sa.column("id", sa.Integer), sa.column("status", sa.String),
                  sa.column("message", sa.LargeBinary), sa.column("sender", sa.String))


def upgrade() -> None:
    with op.batch_alter_table("outbox") as batch_op:
        batch_op.add_column(sa.Column("sender", sa.String(length=254), nullable=True))
    # Messages still to send get their sender from their From header, read once here;
    # rows sent already keep NULL (nothing reads it).
    connection = op.get_bind()
    waiting = connection.execute(sa.select(outbox.c.id, outbox.c.message)
                                 .where(outbox.c.status == "pending")).all()
    parser = BytesHeaderParser(policy=SMTPUTF8)
    for row_id, message in waiting:
        senders = parser.parsebytes(bytes(message))["From"]
        addresses: tuple[Address, ...] = senders.addresses if senders else ()
        if addresses:
            connection.execute(sa.update(outbox).where(outbox.c.id == row_id)
                               .values(sender=addresses[0].addr_spec))


def downgrade() -> None:
    with op.batch_alter_table("outbox") as batch_op:
        batch_op.drop_column("sender")
