"""Presence history: each terminal's transitions (online, degraded, offline, why, connection),
and on the terminal the presence last recorded and when heartbeats count as late.

Terminals of an earlier release start with no recorded presence: their next status writes
their first transition.

Revision ID: 0011_presence_history
Revises: 0010_step_deadlines
Created: 2026-12-04
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011_presence_history"
down_revision: str | Sequence[str] | None = "0010_step_deadlines"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "presence_transitions",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("terminal_id", sa.String(length=64), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("reason", sa.String(length=200), nullable=False),
        sa.Column("connection", sa.BigInteger(), nullable=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("presence_transitions", schema=None) as batch_op:
        batch_op.create_index(
            "ix_presence_transitions_terminal", ["terminal_id", "id"], unique=False
        )
        batch_op.create_index(batch_op.f("ix_presence_transitions_at"), ["at"], unique=False)
    with op.batch_alter_table("terminals", schema=None) as batch_op:
        batch_op.add_column(sa.Column("late_after", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("presence_state", sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column("presence_connection", sa.BigInteger(), nullable=True))
        batch_op.create_index(batch_op.f("ix_terminals_late_after"), ["late_after"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("terminals", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_terminals_late_after"))
        batch_op.drop_column("presence_connection")
        batch_op.drop_column("presence_state")
        batch_op.drop_column("late_after")
    with op.batch_alter_table("presence_transitions", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_presence_transitions_at"))
        batch_op.drop_index("ix_presence_transitions_terminal")
    op.drop_table("presence_transitions")
