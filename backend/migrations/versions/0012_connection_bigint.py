"""terminal_connections.connection as a 64-bit integer: the contract allows connection numbers
up to 2**53, and PostgreSQL's INTEGER stops at 2**31 - 1 (a status above it failed its insert).

Revision ID: 0012_connection_bigint
Revises: 0011_presence_history
Created: 2026-12-04
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012_connection_bigint"
down_revision: str | Sequence[str] | None = "0011_presence_history"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("terminal_connections", schema=None) as batch_op:
        batch_op.alter_column(
            "connection", existing_type=sa.Integer(), type_=sa.BigInteger(), existing_nullable=False
        )


def downgrade() -> None:
    with op.batch_alter_table("terminal_connections", schema=None) as batch_op:
        batch_op.alter_column(
            "connection", existing_type=sa.BigInteger(), type_=sa.Integer(), existing_nullable=False
        )
