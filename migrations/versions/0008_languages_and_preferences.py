"""newsletter languages and readers' preference tokens (issue 14)

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-28 05:00:00
"""

from __future__ import annotations

import sqlalchemy as sa  # noqa: F401 - used once the revision has content
from alembic import op  # noqa: F401

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
