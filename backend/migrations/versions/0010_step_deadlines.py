"""Per-step deadlines, supplement requests naming materials, escalations per step, staff notice
channels, and the indexes the review queue orders and filters by.

Cases of an earlier release get no step rows (their whole-case promise still colours them); a
case submitted after the upgrade gets its four steps at submission.

Revision ID: 0010_step_deadlines
Revises: 0009_terminal_groups_rollouts
Created: 2026-12-04
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010_step_deadlines"
down_revision: str | Sequence[str] | None = "0009_terminal_groups_rollouts"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "requested_materials",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("application_no", sa.String(length=64), nullable=False),
        sa.Column("material_code", sa.String(length=32), nullable=False),
        sa.Column("reason", sa.String(length=32), nullable=False),
        sa.Column("requested_by", sa.String(length=64), nullable=False),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("supplied_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["application_no"], ["applications.application_no"]),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("requested_materials", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_requested_materials_application_no"), ["application_no"], unique=False
        )

    op.create_table(
        "step_deadlines",
        sa.Column("application_no", sa.String(length=64), nullable=False),
        sa.Column("step", sa.String(length=16), nullable=False),
        sa.Column("days", sa.Integer(), nullable=False),
        sa.Column("due_on", sa.Date(), nullable=False),
        sa.Column("done_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["application_no"], ["applications.application_no"]),
        sa.PrimaryKeyConstraint("application_no", "step"),
    )
    with op.batch_alter_table("step_deadlines", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_step_deadlines_due_on"), ["due_on"], unique=False)

    with op.batch_alter_table("escalations", schema=None) as batch_op:
        batch_op.add_column(sa.Column("step", sa.String(length=16), nullable=True))
    with op.batch_alter_table("staff_notices", schema=None) as batch_op:
        batch_op.add_column(sa.Column("step", sa.String(length=16), nullable=True))
    with op.batch_alter_table("staff_accounts", schema=None) as batch_op:
        batch_op.add_column(sa.Column("phone", sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column("email", sa.String(length=254), nullable=True))
        batch_op.add_column(
            sa.Column("notify_by", sa.JSON(), nullable=False, server_default=sa.text("'[]'"))
        )

    op.create_table(
        "staff_emails",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("dedupe_key", sa.String(length=160), nullable=False),
        sa.Column("staff_id", sa.Integer(), nullable=False),
        sa.Column("to_address", sa.String(length=254), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("application_no", sa.String(length=64), nullable=False),
        sa.Column("colour", sa.String(length=8), nullable=False),
        sa.Column("step", sa.String(length=16), nullable=True),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_error", sa.String(length=200), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["staff_id"], ["staff_accounts.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("dedupe_key"),
    )
    with op.batch_alter_table("staff_emails", schema=None) as batch_op:
        batch_op.create_index(
            "ix_staff_emails_state_due", ["state", "next_attempt_at"], unique=False
        )

    with op.batch_alter_table("applications", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_applications_submitted_at"), ["submitted_at"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_applications_item_code"), ["item_code"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("applications", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_applications_item_code"))
        batch_op.drop_index(batch_op.f("ix_applications_submitted_at"))
    with op.batch_alter_table("staff_emails", schema=None) as batch_op:
        batch_op.drop_index("ix_staff_emails_state_due")
    op.drop_table("staff_emails")
    with op.batch_alter_table("staff_accounts", schema=None) as batch_op:
        batch_op.drop_column("notify_by")
        batch_op.drop_column("email")
        batch_op.drop_column("phone")
    with op.batch_alter_table("staff_notices", schema=None) as batch_op:
        batch_op.drop_column("step")
    with op.batch_alter_table("escalations", schema=None) as batch_op:
        batch_op.drop_column("step")
    with op.batch_alter_table("step_deadlines", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_step_deadlines_due_on"))
    op.drop_table("step_deadlines")
    with op.batch_alter_table("requested_materials", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_requested_materials_application_no"))
    op.drop_table("requested_materials")
