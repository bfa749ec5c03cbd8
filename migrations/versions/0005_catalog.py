"""catalog_drafts and catalog_versions: catalog changes proposed in the dashboard, and their published history

Revision ID: 0005_catalog
Revises: 0004
Create Date: 2026-12-04 20:00:00
"""
from __future__ import annotations

from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op


revision: str = "0005_catalog"
down_revision: Union[str, None] = "0005_communes"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None


def upgrade() -> None:
    op.create_table(
        "catalog_drafts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("entry_id", sa.String(length=64), nullable=False),
        sa.Column("action", sa.String(length=8), nullable=False),
        sa.Column("fields", sa.JSON(), nullable=False),
        sa.Column("base", sa.JSON(), nullable=False),
        sa.Column("title", sa.String(length=255), nullable=False),
        sa.Column("status", sa.String(length=12), nullable=False),
        sa.Column("created_by", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("decided_by", sa.String(length=64), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("reason", sa.Text(), nullable=True),
        sa.Column("diff", sa.Text(), nullable=False),
        sa.Column("warnings", sa.JSON(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_catalog_drafts")),
    )
    op.create_index("ix_catalog_drafts_entry_id", "catalog_drafts", ["entry_id"])
    op.create_index("ix_catalog_drafts_status", "catalog_drafts", ["status"])
    op.create_table(
        "catalog_versions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("draft_id", sa.Integer(), nullable=True),
        sa.Column("restores_id", sa.Integer(), nullable=True),
        sa.Column("entry_id", sa.String(length=64), nullable=False),
        sa.Column("action", sa.String(length=8), nullable=False),
        sa.Column("file", sa.String(length=255), nullable=False),
        sa.Column("backup", sa.String(length=255), nullable=False),
        sa.Column("sha", sa.String(length=16), nullable=False),
        sa.Column("diff", sa.Text(), nullable=False),
        sa.Column("title", sa.String(length=255), nullable=False),
        sa.Column("by", sa.String(length=64), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["draft_id"], ["catalog_drafts.id"], ondelete="SET NULL",
                                name=op.f("fk_catalog_versions_draft_id_catalog_drafts")),
        sa.ForeignKeyConstraint(["restores_id"], ["catalog_versions.id"], ondelete="SET NULL",
                                name=op.f("fk_catalog_versions_restores_id_catalog_versions")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_catalog_versions")),
    )
    op.create_index("ix_catalog_versions_at", "catalog_versions", ["at"])


def downgrade() -> None:
    op.drop_index("ix_catalog_versions_at", table_name="catalog_versions")
    op.drop_table("catalog_versions")
    op.drop_index("ix_catalog_drafts_status", table_name="catalog_drafts")
    op.drop_index("ix_catalog_drafts_entry_id", table_name="catalog_drafts")
    op.drop_table("catalog_drafts")
