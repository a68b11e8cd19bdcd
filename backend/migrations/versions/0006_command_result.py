"""Commands keep what the terminal's ack reported (a diagnostics answer, the version it runs).

Revision ID: 0006_command_result
Revises: 0005_command_issuer
Created: 2026-12-04
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006_command_result"
down_revision: str | Sequence[str] | None = "0005_command_issuer"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("commands") as batch_op:
        batch_op.add_column(sa.Column("result", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("commands") as batch_op:
        batch_op.drop_column("result")
