"""Commands record who issued them and why (an operator's configuration bundle or rollback).

Revision ID: 0005_command_issuer
Revises: 0004_retention
Created: 2026-12-04
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005_command_issuer"
down_revision: str | Sequence[str] | None = "0004_retention"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("commands") as batch_op:
        batch_op.add_column(sa.Column("issued_by", sa.String(length=64), nullable=True))
        batch_op.add_column(sa.Column("note", sa.Text(), nullable=False, server_default=""))


def downgrade() -> None:
    with op.batch_alter_table("commands") as batch_op:
        batch_op.drop_column("note")
        batch_op.drop_column("issued_by")
