"""messages.review and messages.report: answers staff should look at, and what the citizen said was wrong

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-04 19:00:00
"""
from __future__ import annotations

from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op


revision: str = "0004"
down_revision: Union[str, None] = "0003"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    # Nullable columns: existing rows need no value, and SQLite adds them without rebuilding the table.
    op.add_column("messages", sa.Column("review", sa.String(length=16), nullable=True))
    op.add_column("messages", sa.Column("report", sa.JSON(), nullable=True))
    op.create_index("ix_messages_review", "messages", ["review"])


def downgrade() -> None:
    op.drop_index("ix_messages_review", table_name="messages")
    with op.batch_alter_table("messages", schema=None) as batch_op:
        batch_op.drop_column("report")
        batch_op.drop_column("review")
