"""Commands have a lifecycle: queued, sent, delivered, then done, failed or expired, each with
its time (sent_at: the broker's PUBACK, delivered_at: the terminal's "received", finished_at).

A `pending` command of an earlier release becomes `queued` (it is published again and moves on
with the next PUBACK), a `rejected` one `failed`; `acked_at` becomes `finished_at`, and an
answered command counts as delivered when it was answered.

Revision ID: 0008_command_lifecycle
Revises: 0007_fleet_presence_alarms
Created: 2026-12-04
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008_command_lifecycle"
down_revision: str | Sequence[str] | None = "0007_fleet_presence_alarms"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("commands") as batch_op:
        batch_op.add_column(sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True))
    op.execute(
        "UPDATE commands SET finished_at = acked_at, delivered_at = acked_at"
        " WHERE acked_at IS NOT NULL"
    )
    op.execute("UPDATE commands SET status = 'queued' WHERE status = 'pending'")
    op.execute("UPDATE commands SET status = 'failed' WHERE status = 'rejected'")
    with op.batch_alter_table("commands") as batch_op:
        batch_op.drop_column("acked_at")


def downgrade() -> None:
    with op.batch_alter_table("commands") as batch_op:
        batch_op.add_column(sa.Column("acked_at", sa.DateTime(timezone=True), nullable=True))
    op.execute(
        "UPDATE commands SET acked_at = finished_at"
        " WHERE status IN ('done', 'failed') OR (status = 'expired' AND delivered_at IS NOT NULL)"
    )
    op.execute(
        "UPDATE commands SET status = 'pending' WHERE status IN ('queued', 'sent', 'delivered')"
    )
    op.execute("UPDATE commands SET status = 'rejected' WHERE status = 'failed'")
    with op.batch_alter_table("commands") as batch_op:
        batch_op.drop_column("finished_at")
        batch_op.drop_column("delivered_at")
        batch_op.drop_column("sent_at")
