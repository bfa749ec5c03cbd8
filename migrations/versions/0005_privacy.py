"""Privacy: session epochs, shared login failures, taught phrasings' citizens, pending catalog purges

Revision ID: 0005_privacy
Revises: 0004
Create Date: 2026-12-04 20:00:00
"""
from __future__ import annotations

from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op


revision: str = "0005_privacy"
down_revision: Union[str, None] = "0004"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.add_column("users", sa.Column("session_epoch", sa.Integer(), nullable=False, server_default="0"))
    op.create_table(
        "taught_phrasings",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("citizen_id", sa.Integer(), nullable=False),
        sa.Column("entry_id", sa.String(length=64), nullable=False),
        sa.Column("phrasing", sa.Text(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_taught_phrasings"),
    )
    op.create_index("ix_taught_phrasings_citizen_id", "taught_phrasings", ["citizen_id"])
    op.create_table(
        "catalog_purges",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("entry_id", sa.String(length=64), nullable=False),
        sa.Column("phrasing", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_catalog_purges"),
    )
    op.create_table(
        "login_failures",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("key", sa.String(length=160), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_login_failures"),
    )
    op.create_index("ix_login_failures_key_at", "login_failures", ["key", "at"])
    op.create_index("ix_login_failures_at", "login_failures", ["at"])
    # Rows stored before the masking step covered phones, e-mail, tax codes, passports, bank and card numbers.
    from webhooks.storage.remask import remask_stored

    remask_stored(op.get_bind())


def downgrade() -> None:
    op.drop_table("login_failures")
    op.drop_table("catalog_purges")
    op.drop_index("ix_taught_phrasings_citizen_id", table_name="taught_phrasings")
    op.drop_table("taught_phrasings")
    with op.batch_alter_table("users", schema=None) as batch_op:
        batch_op.drop_column("session_epoch")
