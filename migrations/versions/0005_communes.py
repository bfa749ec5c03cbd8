"""communes: one row per commune (its OA, token pair, overlay slug); citizens and audit rows carry theirs

Revision ID: 0005_communes
Revises: 0004
Create Date: 2026-12-04 20:00:00
"""
from __future__ import annotations

from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op


revision: str = "0005_communes"
down_revision: Union[str, None] = "0005_staff"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.create_table(
        "communes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("slug", sa.String(length=64), nullable=False),
        sa.Column("name", sa.String(length=128), nullable=False),
        sa.Column("province", sa.String(length=128), nullable=False),
        sa.Column("oa_id", sa.String(length=64), nullable=True),
        sa.Column("app_id", sa.String(length=64), nullable=False),
        sa.Column("app_secret", sa.Text(), nullable=False),
        sa.Column("oa_secret_key", sa.Text(), nullable=False),
        sa.Column("access_token", sa.Text(), nullable=False),
        sa.Column("refresh_token", sa.Text(), nullable=False),
        sa.Column("token_expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_communes")),
        sa.UniqueConstraint("slug", name=op.f("uq_communes_slug")),
        sa.UniqueConstraint("oa_id", name=op.f("uq_communes_oa_id")),
    )
    # Nullable: existing rows belong to the environment's commune. Batch mode: SQLite rebuilds the
    # table to add the foreign key.
    for table in ("citizens", "audit_log"):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.add_column(sa.Column("commune_id", sa.Integer(), nullable=True))
            batch_op.create_index(batch_op.f(f"ix_{table}_commune_id"), ["commune_id"], unique=False)
            batch_op.create_foreign_key(batch_op.f(f"fk_{table}_commune_id_communes"), "communes",
                                        ["commune_id"], ["id"])


def downgrade() -> None:
    for table in ("audit_log", "citizens"):
        with op.batch_alter_table(table, schema=None) as batch_op:
            batch_op.drop_constraint(batch_op.f(f"fk_{table}_commune_id_communes"), type_="foreignkey")
            batch_op.drop_index(batch_op.f(f"ix_{table}_commune_id"))
            batch_op.drop_column("commune_id")
    op.drop_table("communes")
