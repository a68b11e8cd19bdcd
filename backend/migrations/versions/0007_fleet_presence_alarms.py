"""Fleet: terminal presence (last heard, keepalive, silence, offline since), alarms with a life
(state, occurrences, acknowledgement, clearing, source, their events) and ended connections.

Alarms of an earlier release become open alarms raised once, last raised when first raised.

Revision ID: 0007_fleet_presence_alarms
Revises: 0006_command_result
Created: 2026-12-04
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007_fleet_presence_alarms"
down_revision: str | Sequence[str] | None = "0006_command_result"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "alarm_events",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("terminal_id", sa.String(length=64), nullable=False),
        sa.Column("operation_id", sa.String(length=128), nullable=False),
        sa.Column("action", sa.String(length=16), nullable=False),
        sa.Column("actor", sa.String(length=80), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    with op.batch_alter_table("alarm_events", schema=None) as batch_op:
        batch_op.create_index(
            "ix_alarm_events_alarm", ["terminal_id", "operation_id"], unique=False
        )

    with op.batch_alter_table("alarms", schema=None) as batch_op:
        batch_op.add_column(sa.Column("source", sa.String(length=40), nullable=True))
        batch_op.add_column(
            sa.Column("state", sa.String(length=16), nullable=False, server_default="open")
        )
        batch_op.add_column(
            sa.Column("occurrences", sa.Integer(), nullable=False, server_default="1")
        )
        batch_op.add_column(sa.Column("last_raised_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("acknowledged_by", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("acknowledged_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("cleared_by", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("cleared_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.create_index("ix_alarms_state", ["state"], unique=False)
    op.execute("UPDATE alarms SET last_raised_at = raised_at WHERE last_raised_at IS NULL")

    with op.batch_alter_table("terminal_connections", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("ended", sa.Boolean(), nullable=False, server_default=sa.false())
        )

    with op.batch_alter_table("terminals", schema=None) as batch_op:
        batch_op.add_column(sa.Column("last_heard_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("keepalive_s", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("silent_after", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("presence_reason", sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column("offline_since", sa.DateTime(timezone=True), nullable=True))
        batch_op.create_index(
            batch_op.f("ix_terminals_offline_since"), ["offline_since"], unique=False
        )
        batch_op.create_index(
            batch_op.f("ix_terminals_silent_after"), ["silent_after"], unique=False
        )


def downgrade() -> None:
    with op.batch_alter_table("terminals", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_terminals_silent_after"))
        batch_op.drop_index(batch_op.f("ix_terminals_offline_since"))
        batch_op.drop_column("offline_since")
        batch_op.drop_column("presence_reason")
        batch_op.drop_column("silent_after")
        batch_op.drop_column("keepalive_s")
        batch_op.drop_column("last_heard_at")

    with op.batch_alter_table("terminal_connections", schema=None) as batch_op:
        batch_op.drop_column("ended")

    with op.batch_alter_table("alarms", schema=None) as batch_op:
        batch_op.drop_index("ix_alarms_state")
        batch_op.drop_column("cleared_at")
        batch_op.drop_column("cleared_by")
        batch_op.drop_column("acknowledged_at")
        batch_op.drop_column("acknowledged_by")
        batch_op.drop_column("last_raised_at")
        batch_op.drop_column("occurrences")
        batch_op.drop_column("state")
        batch_op.drop_column("source")

    with op.batch_alter_table("alarm_events", schema=None) as batch_op:
        batch_op.drop_index("ix_alarm_events_alarm")

    op.drop_table("alarm_events")
