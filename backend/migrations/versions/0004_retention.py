"""Retention: applications record when their personal data and scans were erased.

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
