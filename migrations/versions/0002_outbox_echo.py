"""outbox.echo_msg_id: Zalo's echo of a send whose result was never recorded

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-02 01:00:00
"""
from __future__ import annotations

from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op


revision: str = "0002"
down_revision: Union[str, None] = "0001"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    # A nullable column: existing rows need no value, and SQLite adds it without rebuilding the table.
    op.add_column("outbox", sa.Column("echo_msg_id", sa.String(length=128), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("outbox", schema=None) as batch_op:
        batch_op.drop_column("echo_msg_id")
