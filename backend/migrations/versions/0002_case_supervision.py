"""Case supervision: claims and assignment, escalations, staff notices, the deadline's clock
stop during a supplement request, and the follow-up of low ratings.

Revision ID: 0002_case_supervision
Revises: 0001_baseline
Created: 2026-12-04
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002_case_supervision"
down_revision: str | Sequence[str] | None = "0001_baseline"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.add_column("application_promises", sa.Column("paused_on", sa.Date(), nullable=True))
    op.add_column(
        "application_promises",
        sa.Column("paused_days", sa.Integer(), nullable=False, server_default="0"),
    )
    op.create_index("ix_application_promises_promised_by", "application_promises", ["promised_by"])
    op.add_column(
        "service_ratings", sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True)
    )
    op.add_column("service_ratings", sa.Column("closed_by", sa.String(length=64), nullable=True))
    op.add_column(
        "service_ratings",
        sa.Column("closure_note", sa.Text(), nullable=False, server_default=""),
    )
    op.create_table(
        "case_claims",
        sa.Column("application_no", sa.String(length=64), nullable=False),
        sa.Column("staff_id", sa.Integer(), nullable=False),
        sa.Column("assigned_by", sa.Integer(), nullable=True),
        sa.Column("claimed_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["application_no"], ["applications.application_no"]),
        sa.ForeignKeyConstraint(["staff_id"], ["staff_accounts.id"]),
        sa.ForeignKeyConstraint(["assigned_by"], ["staff_accounts.id"]),
        sa.PrimaryKeyConstraint("application_no"),
    )
    op.create_index("ix_case_claims_staff_id", "case_claims", ["staff_id"])
    op.create_table(
        "escalations",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("application_no", sa.String(length=64), nullable=False),
        sa.Column("colour", sa.String(length=8), nullable=False),
        sa.Column("level", sa.String(length=16), nullable=False),
        sa.Column("cause", sa.String(length=16), nullable=False),
        sa.Column("raised_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["application_no"], ["applications.application_no"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_escalations_case", "escalations", ["application_no", "colour", "level"])
    op.create_index("ix_escalations_raised_at", "escalations", ["raised_at"])
    op.create_table(
        "staff_notices",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("staff_id", sa.Integer(), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("application_no", sa.String(length=64), nullable=False),
        sa.Column("colour", sa.String(length=8), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("read_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["staff_id"], ["staff_accounts.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_staff_notices_staff_read", "staff_notices", ["staff_id", "read_at"])


def downgrade() -> None:
    op.drop_index("ix_staff_notices_staff_read", table_name="staff_notices")
    op.drop_table("staff_notices")
    op.drop_index("ix_escalations_raised_at", table_name="escalations")
    op.drop_index("ix_escalations_case", table_name="escalations")
    op.drop_table("escalations")
    op.drop_index("ix_case_claims_staff_id", table_name="case_claims")
    op.drop_table("case_claims")
    with op.batch_alter_table("service_ratings") as batch:
        batch.drop_column("closure_note")
        batch.drop_column("closed_by")
        batch.drop_column("closed_at")
    op.drop_index("ix_application_promises_promised_by", table_name="application_promises")
    with op.batch_alter_table("application_promises") as batch:
        batch.drop_column("paused_days")
        batch.drop_column("paused_on")
