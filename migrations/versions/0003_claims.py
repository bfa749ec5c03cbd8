"""messages.lease_until (answering claims), outbox.expires_at (how long a reply is worth retrying), claim indexes

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-05 01:00:00
"""
from __future__ import annotations

from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op


revision: str = "0003"
down_revision: Union[str, None] = "0002"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    # Nullable columns: existing rows need no value, and SQLite adds them without rebuilding the tables.
    op.add_column("messages", sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True))
    op.add_column("outbox", sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True))
    # Partial indexes: only the rows a claim looks at, so a claim costs the same whatever the history's size.
    unanswered = sa.text("direction = 'in' AND status IN ('received', 'answering')")
    op.create_index("ix_messages_unanswered", "messages", ["id"], postgresql_where=unanswered,
                    sqlite_where=unanswered)
    unsent = sa.text("status IN ('pending', 'sending')")
    op.create_index("ix_outbox_unfinished", "outbox", ["id"], postgresql_where=unsent, sqlite_where=unsent)


def downgrade() -> None:
    op.drop_index("ix_outbox_unfinished", table_name="outbox")
    op.drop_index("ix_messages_unanswered", table_name="messages")
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_column("expires_at")
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.drop_column("lease_until")
