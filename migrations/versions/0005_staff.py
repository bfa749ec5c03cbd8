"""Staff alerts, hand-over inbox (state, assignee, notes, canned replies), citizen profiles, members' contacts

Revision ID: 0005_staff
Revises: 0004
Create Date: 2026-12-04 20:00:00
"""
from __future__ import annotations

from typing import Sequence, Union

import sqlalchemy as sa
from alembic import op


revision: str = "0005_staff"
down_revision: Union[str, None] = "0005_privacy"
branch_labels: Union[str, Sequence[str], None] = None
depends_on: Union[str, Sequence[str], None] = None

_TZ = sa.DateTime(timezone=True)


def upgrade() -> None:
    # Nullable columns: existing hand-overs need no value, and SQLite adds them without rebuilding the table.
    op.add_column("handoffs", sa.Column("state", sa.String(length=16), nullable=True))
    op.add_column("handoffs", sa.Column("assignee", sa.String(length=64), nullable=True))
    op.create_index("ix_handoffs_assignee", "handoffs", ["assignee"])
    op.create_table(
        "citizen_profiles",
        sa.Column("citizen_id", sa.Integer(), nullable=False),
        sa.Column("display_name", sa.String(length=255), nullable=True),
        sa.Column("avatar", sa.Text(), nullable=True),
        sa.Column("fetched_at", _TZ, nullable=True),
        sa.Column("shared_name", sa.String(length=255), nullable=True),
        sa.Column("phone", sa.String(length=32), nullable=True),
        sa.Column("village", sa.String(length=255), nullable=True),
        sa.Column("shared_at", _TZ, nullable=True),
        sa.Column("info_requested_at", _TZ, nullable=True),
        sa.ForeignKeyConstraint(["citizen_id"], ["citizens.id"], name="fk_citizen_profiles_citizen_id_citizens",
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("citizen_id", name="pk_citizen_profiles"),
    )
    op.create_table(
        "handoff_notes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("handoff_id", sa.Integer(), nullable=False),
        sa.Column("citizen_id", sa.Integer(), nullable=False),
        sa.Column("author", sa.String(length=64), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("at", _TZ, nullable=False),
        sa.ForeignKeyConstraint(["handoff_id"], ["handoffs.id"], name="fk_handoff_notes_handoff_id_handoffs",
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["citizen_id"], ["citizens.id"], name="fk_handoff_notes_citizen_id_citizens",
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name="pk_handoff_notes"),
    )
    op.create_index("ix_handoff_notes_handoff_id", "handoff_notes", ["handoff_id"])
    op.create_index("ix_handoff_notes_citizen_id", "handoff_notes", ["citizen_id"])
    op.create_table(
        "canned_replies",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=100), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("updated_by", sa.String(length=64), nullable=False),
        sa.Column("updated_at", _TZ, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_canned_replies"),
    )
    op.create_table(
        "staff_contacts",
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("email", sa.String(length=255), nullable=True),
        sa.Column("zalo_id", sa.String(length=64), nullable=True),
        sa.Column("link_code", sa.String(length=16), nullable=True),
        sa.Column("link_expires", _TZ, nullable=True),
        sa.Column("kinds", sa.JSON(), nullable=True),
        sa.Column("by_email", sa.Boolean(), nullable=False),
        sa.Column("by_zalo", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["users.id"], name="fk_staff_contacts_user_id_users", ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("user_id", name="pk_staff_contacts"),
        sa.UniqueConstraint("zalo_id", name="uq_staff_contacts_zalo_id"),
        sa.UniqueConstraint("link_code", name="uq_staff_contacts_link_code"),
    )
    op.create_table(
        "staff_alerts",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("citizen_id", sa.Integer(), nullable=False),
        sa.Column("message_id", sa.Integer(), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", _TZ, nullable=False),
        sa.Column("lease_until", _TZ, nullable=True),
        sa.Column("zalo_done", sa.Boolean(), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", _TZ, nullable=False),
        sa.Column("sent_at", _TZ, nullable=True),
        sa.ForeignKeyConstraint(["citizen_id"], ["citizens.id"], name="fk_staff_alerts_citizen_id_citizens",
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["message_id"], ["messages.id"], name="fk_staff_alerts_message_id_messages",
                                ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name="pk_staff_alerts"),
    )
    op.create_index("ix_staff_alerts_citizen_id", "staff_alerts", ["citizen_id"])
    op.create_index("ix_staff_alerts_due", "staff_alerts", ["status", "next_attempt_at"])


def downgrade() -> None:
    for table in ("staff_alerts", "staff_contacts", "canned_replies", "handoff_notes", "citizen_profiles"):
        op.drop_table(table)
    op.drop_index("ix_handoffs_assignee", table_name="handoffs")
    with op.batch_alter_table("handoffs", schema=None) as batch_op:
        batch_op.drop_column("assignee")
        batch_op.drop_column("state")
