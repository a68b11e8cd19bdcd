"""Staff at the terminal: one-time sign-in codes, the sign-ins tried at terminals, and the
collection of deposited originals.

Revision ID: 0003_terminal_staff
Revises: 0002_case_supervision
Created: 2026-12-04
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003_terminal_staff"
down_revision: str | Sequence[str] | None = "0002_case_supervision"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "terminal_sign_in_codes",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("code_digest", sa.String(length=64), nullable=False),
        sa.Column("staff_id", sa.Integer(), nullable=False),
        sa.Column("terminal_id", sa.String(length=64), nullable=True),
        sa.Column("issued_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("used_by_terminal", sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(["staff_id"], ["staff_accounts.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("code_digest"),
    )
    op.create_index("ix_terminal_sign_in_codes_staff_id", "terminal_sign_in_codes", ["staff_id"])
    op.create_table(
        "terminal_sign_ins",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("terminal_id", sa.String(length=64), nullable=False),
        sa.Column("operation_id", sa.String(length=128), nullable=False),
        sa.Column("outcome", sa.String(length=16), nullable=False),
        sa.Column("staff_id", sa.Integer(), nullable=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["staff_id"], ["staff_accounts.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_terminal_sign_ins_terminal_at", "terminal_sign_ins", ["terminal_id", "at"])
    op.create_table(
        "deposit_collections",
        sa.Column("application_no", sa.String(length=64), nullable=False),
        sa.Column("terminal_id", sa.String(length=64), nullable=False),
        sa.Column("compartment_id", sa.String(length=16), nullable=False),
        sa.Column("collected_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("collected_by", sa.String(length=200), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["application_no"], ["applications.application_no"]),
        sa.PrimaryKeyConstraint("application_no"),
    )


def downgrade() -> None:
    op.drop_table("deposit_collections")
    op.drop_index("ix_terminal_sign_ins_terminal_at", table_name="terminal_sign_ins")
    op.drop_table("terminal_sign_ins")
    op.drop_index("ix_terminal_sign_in_codes_staff_id", table_name="terminal_sign_in_codes")
    op.drop_table("terminal_sign_in_codes")
