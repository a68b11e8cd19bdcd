"""Retention: applications record when their personal data and scans were erased, and each
run of the job is kept (retention_runs).

Revision ID: 0004_retention
Revises: 0003_terminal_staff
Created: 2026-12-04
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004_retention"
down_revision: str | Sequence[str] | None = "0003_terminal_staff"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "retention_runs",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("worker_id", sa.String(length=64), nullable=False),
        sa.Column("retention_days", sa.Integer(), nullable=False),
        sa.Column("closed_before", sa.DateTime(timezone=True), nullable=False),
        sa.Column("applications", sa.Integer(), nullable=False),
        sa.Column("scans_deleted", sa.Integer(), nullable=False),
        sa.Column("bytes_freed", sa.BigInteger(), nullable=False),
        sa.Column("dead_letters", sa.Integer(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_retention_runs_at", "retention_runs", ["at"])
    with op.batch_alter_table("applications") as batch_op:
        batch_op.add_column(
            sa.Column("personal_data_erased_at", sa.DateTime(timezone=True), nullable=True)
        )
        batch_op.create_index(
            "ix_applications_personal_data_erased_at", ["personal_data_erased_at"]
        )


def downgrade() -> None:
    with op.batch_alter_table("applications") as batch_op:
        batch_op.drop_index("ix_applications_personal_data_erased_at")
        batch_op.drop_column("personal_data_erased_at")
    op.drop_index("ix_retention_runs_at", table_name="retention_runs")
    op.drop_table("retention_runs")
