"""memberships and users.province_admin: dashboard accounts scoped to communes

Revision ID: 0006_scoping
Revises: 0005_catalog
Create Date: 2026-12-04 21:15:00
"""
from __future__ import annotations

from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op


revision: str = "0006_scoping"
down_revision: Union[str, None] = "0005_catalog"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.create_table(
        "memberships",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("commune_id", sa.Integer(), nullable=True),
        sa.Column("role", sa.String(length=16), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name=op.f("fk_memberships_user_id_users"),
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["commune_id"], ["communes.id"], name=op.f("fk_memberships_commune_id_communes"),
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_memberships")),
        sa.UniqueConstraint("user_id", "commune_id", name=op.f("uq_memberships_user_id")),
    )
    op.create_index("ix_memberships_user_id", "memberships", ["user_id"])
    with op.batch_alter_table("users") as batch:
        batch.add_column(sa.Column("province_admin", sa.Boolean(), nullable=False, server_default=sa.false()))
    # Accounts made before scoping saw everything: they keep seeing everything.
    op.execute(sa.text("UPDATE users SET province_admin = :yes").bindparams(yes=True))


def downgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.drop_column("province_admin")
    op.drop_index("ix_memberships_user_id", table_name="memberships")
    op.drop_table("memberships")
