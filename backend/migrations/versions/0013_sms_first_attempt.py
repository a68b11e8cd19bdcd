"""notifications.first_attempt_at: an SMS's 24 hours to be accepted count from its first send,
not from its queueing. A message that waited a day behind its number's unclear send (or its
flow control) was given up at its first turn without ever being sent.

Rows already tried keep the old reckoning (from their queueing); rows not yet tried get theirs
at their first send.

Revision ID: 0013_sms_first_attempt
Revises: 0012_connection_bigint
Created: 2026-12-05
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013_sms_first_attempt"
down_revision: str | Sequence[str] | None = "0012_connection_bigint"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("notifications", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("first_attempt_at", sa.DateTime(timezone=True), nullable=True)
        )
    op.execute("UPDATE notifications SET first_attempt_at = created_at WHERE attempts > 0")


def downgrade() -> None:
    with op.batch_alter_table("notifications", schema=None) as batch_op:
        batch_op.drop_column("first_attempt_at")
